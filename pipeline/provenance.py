"""Provenance in the pipeline: C2PA verification plus own-output lookup, as a gate signal source.

:class:`ProvenanceService` verifies a scan's media against the configured
trust anchors (in a child process for anything a user sent, since a hostile
manifest can crash the native parser) and looks the media up in the
own-output fingerprint index, so a copy of one of our clips with its metadata
stripped is still recognised, with the clip id. The index is loaded once from
the ``clip_fingerprints`` table (:mod:`store.fingerprints`) and kept in memory;
:meth:`record_fingerprint` hashes a clip, stores its rows in the caller's
transaction and adds the clip to the index.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from detectors.base import Signal
from detectors.fingerprint import (
    MODEL_ID as OWN_OUTPUT_MODEL_ID,
)
from detectors.fingerprint import (
    ClipFingerprint,
    Keyframe,
    OwnOutputIndex,
    fingerprint_clip,
    keyframe_hashes,
)
from detectors.hashing import sha256_file
from detectors.provenance import OwnOutputMatch, ProvenanceReport, verify, verify_isolated
from pipeline.intake import DEFAULT_EVERY_S, DEFAULT_MAX_SIDE, MAX_KEYFRAMES
from pipeline.media import (
    Frame,
    decode_video,
    isolation_context,
    load_image,
    scaled_size,
    sniff_kind,
)
from pipeline.sources import KEYFRAME_PDQ, ScanInput, keyframe_pdq
from store import fingerprints as fingerprint_rows
from store.db import Tx

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from store.db import Store

log = logging.getLogger(__name__)

# Keyframe spacing, cap and size for fingerprints and lookups: the gate's
# (pipeline.intake), so a scan's frames are the ones a fingerprint was made
# from and a re-mux decodes to the same frames at the same times.
FINGERPRINT_EVERY_S = DEFAULT_EVERY_S
FINGERPRINT_MAX_SIDE = DEFAULT_MAX_SIDE
FINGERPRINT_MAX_FRAMES = MAX_KEYFRAMES
# Stages whose media we produced ourselves in this process: no need to pay for
# a child process to protect against a hostile manifest.
_OWN_MEDIA_STAGES = frozenset({"output"})


class ProvenanceService:
    """``SignalSource`` for ``provenance.state`` and the own-output index."""

    name = "provenance"
    # The own-output lookup's keyframe hashes may come from a Ray actor (pipeline.executor).
    needs = (KEYFRAME_PDQ.name,)

    def __init__(self, store: Store, config: PipelineConfig, index_backend: str = "mih") -> None:
        self.store = store
        self.config = config
        self._index_backend = index_backend
        self._index: OwnOutputIndex | None = None
        self._lock = threading.RLock()

    # -- the own-output index ----------------------------------------------------

    @property
    def index(self) -> OwnOutputIndex:
        """The in-memory index, loaded from ``clip_fingerprints`` on first use."""
        with self._lock:
            if self._index is None:
                rows = fingerprint_rows.all_rows(self.store)
                self._index = OwnOutputIndex.from_rows(rows, backend=self._index_backend)  # type: ignore[arg-type]
            return self._index

    def reload(self) -> None:
        """Forget the in-memory index; the next lookup reloads it from the table."""
        with self._lock:
            self._index = None

    def keyframes(self, path: Path) -> list[Frame]:
        """The frames fingerprints are made from: one per 0.5 s of a video, or the image.

        Exactly the gate's keyframes (:func:`pipeline.intake.keyframes`: same
        interval, same cap, longer side at most ``FINGERPRINT_MAX_SIDE``), so
        the fingerprint recorded at signing and the frames a scan looks up
        with are the same size; never full-size frames (a 4K two-minute clip
        at full size is ~6 GB of pixels). Videos decode in the isolated,
        limited decoder.
        """
        limits = self.config.media
        kind = sniff_kind(path)
        if kind == "video":
            decoded = decode_video(
                path,
                every_s=FINGERPRINT_EVERY_S,
                max_frames=FINGERPRINT_MAX_FRAMES,
                limits=limits,
                max_side=FINGERPRINT_MAX_SIDE,
            )
            return decoded.frames
        if kind == "image":
            rgb = load_image(path, limits)
            width, height = scaled_size(rgb.shape[1], rgb.shape[0], FINGERPRINT_MAX_SIDE)
            if (width, height) != (rgb.shape[1], rgb.shape[0]):
                resized = Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR)
                rgb = np.asarray(resized)
            return [Frame(t=0.0, rgb=rgb)]
        return []

    def record_fingerprint(
        self,
        tx: Tx,
        clip_id: str,
        frames: Iterable[Any],
        path: Path,
        actor_id: str | None = None,
    ) -> ClipFingerprint:
        """Store a clip's fingerprint rows + audit in the caller's transaction and index it.

        The in-memory index is updated at once; if the caller's transaction
        then rolls back, :meth:`reload` brings the index back in line (the
        generation flow does this).
        """
        fp = fingerprint_clip(clip_id, frames, path=path)
        fingerprint_rows.insert(
            tx,
            clip_id,
            fp.rows(),
            sha256=fp.sha256,
            keyframes=len(fp.keyframes),
            model_id=OWN_OUTPUT_MODEL_ID,
            actor_id=actor_id,
        )
        with self._lock:
            self.index.add(fp)
        return fp

    def lookup(
        self,
        frames: Iterable[Any],
        path: Path | None = None,
        sha256: str | None = None,
        hashes: list[Keyframe] | None = None,
    ) -> OwnOutputMatch | None:
        """Which of our clips this media is (sha256 first, then keyframes), or None.

        ``hashes``: the frames' PDQ hashes when the caller has them (a scan's,
        shared with the banks source); else they are computed here.
        """
        digest = sha256 or (sha256_file(path) if path is not None else None)
        if digest:
            with self._lock:
                exact = self.index.lookup(digest, [])
            if exact is not None:
                return exact
        # Outside the lock: hashing is the slow part.
        if hashes is None:
            hashes = keyframe_hashes(frames)
        with self._lock:
            return self.index.lookup(None, hashes)

    # -- verification --------------------------------------------------------------

    def verify(self, path: Path, isolated: bool = True) -> ProvenanceReport:
        """C2PA verification with the configured anchors and remote-fetch setting."""
        c = self.config
        anchors = c.trust_anchors_pem
        max_bytes = c.media.max_bytes
        if isolated:
            # The media decoder's fork server (C2PA preloaded, no main-module import):
            # a spawned child cost ~2 s a scan, the verification itself milliseconds.
            return verify_isolated(
                path, anchors, c.fetch_remote_manifests, max_bytes, mp_context=isolation_context()
            )
        return verify(path, anchors, c.fetch_remote_manifests, max_bytes)

    def report(
        self,
        path: Path,
        frames: list[Frame] | None = None,
        sha256: str | None = None,
        isolated: bool = True,
        hashes: list[Keyframe] | None = None,
    ) -> ProvenanceReport:
        """Verification and own-output lookup for one file (what POST /provenance/verify returns)."""
        report = self.verify(path, isolated=isolated)
        if frames is None:
            try:
                frames = self.keyframes(path)
            except ValueError as exc:
                # DetectorError/MediaError are ValueErrors: an undecodable file
                # can still be matched by its sha256.
                log.info("own-output lookup without keyframes: %s", exc)
                frames = []
        return report.with_own_output(self.lookup(frames, path=path, sha256=sha256, hashes=hashes))

    # -- SignalSource --------------------------------------------------------------------

    def signals(self, scan: ScanInput) -> list[Signal]:
        if scan.media_path is None:
            return []
        frames = scan.frames
        if not frames:
            try:
                frames = self.keyframes(scan.media_path)
            except ValueError:
                frames = []
        report = self.report(
            scan.media_path,
            frames=frames,
            sha256=scan.media_sha256,
            isolated=scan.stage not in _OWN_MEDIA_STAGES,
            hashes=(
                [Keyframe(t=t, pdq=h) for t, h in keyframe_pdq(scan)]
                if frames is scan.frames
                else None
            ),
        )
        return [report.to_signal()]

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        for signal in signals:
            if signal.kind == "provenance.state":
                return {"provenance": provenance_view(signal.data)}
        return {}


def provenance_view(data: dict[str, Any]) -> dict[str, Any]:
    """The ``provenance`` part of the policy signal view (``policies.schema.ProvenanceSignal``)."""
    return {
        "state": data.get("state") or "absent",
        # Silence is not a "no", but the policy schema is boolean: only a
        # declared AI source counts as AI-generated.
        "ai_generated": bool(data.get("ai_generated")),
        "claim_generator": data.get("claim_generator") or "",
        "own_output": data.get("own_output") or "",
        "signer": data.get("signer") or "",
        "codes": [str(c) for c in data.get("codes") or []],
    }
