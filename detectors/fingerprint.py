"""Recognise Greenroom's own output after its metadata was stripped: keyframe PDQ hashes + file sha256.

Every clip the generator publishes is fingerprinted (sha256 of the file and
PDQ hashes of keyframes). An upload is looked up by its sha256 first (an
untouched copy) and then by its keyframes: a re-mux, re-encode or light edit
keeps most keyframes within the PDQ distance threshold, and when enough of
the upload's keyframes land on one clip, that clip id is the answer, with the
distances as evidence.

The index lives in memory and round-trips through plain rows
(``clip_id, kind, value, t, quality``) so the store can persist it. PDQ search
has two interchangeable implementations from :mod:`detectors.hashing`: a
brute-force reference and a multi-index-hashing index; tests compare them.
Frames come from the caller (``pipeline.media.iter_frames``) as ``(t, rgb)``.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectors.base import DetectorError
from detectors.hashing import (
    DEFAULT_MIN_QUALITY,
    DEFAULT_PDQ_THRESHOLD,
    PDQ_MODEL,
    BruteForcePdqIndex,
    MultiIndexPdqIndex,
    PdqHash,
    PdqIndex,
    pdq_hash,
    sha256_file,
)
from detectors.provenance import OwnOutputMatch

ROW_KEYS = ("clip_id", "kind", "value", "t", "quality")
MODEL_ID = f"own-output/{PDQ_MODEL.model_id}+sha256"
# Half the usable keyframes must land on one clip: a single shared frame (a
# title card, a common stock shot) is not enough to call a clip ours.
DEFAULT_MIN_MATCHED_FRACTION = 0.5


@dataclass(frozen=True)
class Keyframe:
    t: float
    pdq: PdqHash


@dataclass(frozen=True)
class ClipFingerprint:
    """What the index stores for one of our clips."""

    clip_id: str
    sha256: str | None
    keyframes: tuple[Keyframe, ...]

    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if self.sha256:
            rows.append(
                {
                    "clip_id": self.clip_id,
                    "kind": "sha256",
                    "value": self.sha256,
                    "t": None,
                    "quality": None,
                }
            )
        for k in self.keyframes:
            rows.append(
                {
                    "clip_id": self.clip_id,
                    "kind": "pdq",
                    "value": k.pdq.hex,
                    "t": k.t,
                    "quality": k.pdq.quality,
                }
            )
        return rows


def _unpack(frame: Any) -> tuple[float, np.ndarray]:
    if hasattr(frame, "rgb"):
        return float(frame.t), frame.rgb
    t, rgb = frame
    return float(t), rgb


def keyframe_hashes(frames: Iterable[Any]) -> list[Keyframe]:
    """PDQ hashes of frames given as ``(t, rgb)`` pairs or objects with ``.t`` and ``.rgb``."""
    return [Keyframe(t=t, pdq=pdq_hash(rgb)) for t, rgb in map(_unpack, frames)]


def fingerprint_clip(
    clip_id: str, frames: Iterable[Any], path: Path | None = None, sha256: str | None = None
) -> ClipFingerprint:
    """A clip's fingerprint from its decoded keyframes and its file (or a known sha256)."""
    if not clip_id:
        raise DetectorError("a fingerprint needs a clip id")
    digest = sha256 or (sha256_file(Path(path)) if path is not None else None)
    return ClipFingerprint(clip_id=clip_id, sha256=digest, keyframes=tuple(keyframe_hashes(frames)))


class OwnOutputIndex:
    """In-memory index of our clips' fingerprints with ``lookup`` for uploads."""

    def __init__(
        self,
        backend: Literal["mih", "brute"] = "mih",
        threshold: int = DEFAULT_PDQ_THRESHOLD,
        min_quality: int = DEFAULT_MIN_QUALITY,
        min_matched_fraction: float = DEFAULT_MIN_MATCHED_FRACTION,
    ) -> None:
        if backend not in ("mih", "brute"):
            raise ValueError(f"unknown index backend {backend!r}; use 'mih' or 'brute'")
        self.backend = backend
        self.threshold = threshold
        self.min_quality = min_quality
        self.min_matched_fraction = min_matched_fraction
        self._pdq: PdqIndex = MultiIndexPdqIndex() if backend == "mih" else BruteForcePdqIndex()
        self._frames: list[tuple[str, float]] = []  # payload -> (clip_id, t)
        self._sha: dict[str, str] = {}
        self._rows: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len({r["clip_id"] for r in self._rows})

    def add(self, fp: ClipFingerprint) -> None:
        for row in fp.rows():
            self.add_row(row)

    def add_row(self, row: dict[str, Any]) -> None:
        """Add one persisted row; rows that cannot be ours are refused with the reason."""
        try:
            clip_id, kind, value = str(row["clip_id"]), str(row["kind"]), str(row["value"]).lower()
        except KeyError as exc:
            raise DetectorError(f"fingerprint row lacks {exc.args[0]!r}") from None
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise DetectorError(f"fingerprint row for {clip_id}: value is not 64 hex characters")
        if kind == "sha256":
            self._sha.setdefault(value, clip_id)
        elif kind == "pdq":
            quality = row.get("quality")
            # Flat frames hash alike whatever the clip; they are kept in the
            # rows (so nothing is lost on a round trip) but never searched.
            if quality is None or int(quality) >= self.min_quality:
                self._pdq.add(value, len(self._frames))
                self._frames.append((clip_id, float(row.get("t") or 0.0)))
        else:
            raise DetectorError(f"fingerprint row for {clip_id}: unknown kind {kind!r}")
        self._rows.append({k: row.get(k) for k in ROW_KEYS} | {"value": value})

    def rows(self) -> list[dict[str, Any]]:
        """Plain rows (``ROW_KEYS``) for persistence; ``from_rows`` restores an equal index."""
        return [dict(r) for r in self._rows]

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]], **kwargs: Any) -> OwnOutputIndex:
        index = cls(**kwargs)
        for row in rows:
            index.add_row(row)
        return index

    def save_jsonl(self, path: Path) -> None:
        Path(path).write_text("".join(json.dumps(r) + "\n" for r in self._rows), encoding="utf-8")

    @classmethod
    def load_jsonl(cls, path: Path, **kwargs: Any) -> OwnOutputIndex:
        def rows() -> Iterator[dict[str, Any]]:
            for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise DetectorError(f"{Path(path).name} line {n}: not JSON") from None
                if not isinstance(row, dict):
                    raise DetectorError(f"{Path(path).name} line {n}: not an object")
                yield row

        try:
            return cls.from_rows(rows(), **kwargs)
        except OSError as exc:
            raise DetectorError(f"cannot read fingerprint index {path}: {exc.strerror}") from None

    def lookup(self, sha256: str | None, keyframes: Iterable[Keyframe]) -> OwnOutputMatch | None:
        """The clip an upload came from, or None; evidence in ``details``."""
        if sha256 and sha256.lower() in self._sha:
            return OwnOutputMatch(
                clip_id=self._sha[sha256.lower()],
                method="sha256",
                score=1.0,
                details={"sha256": sha256.lower(), "model": MODEL_ID},
            )
        usable = [k for k in keyframes if k.pdq.quality >= self.min_quality]
        if not usable:
            return None
        # Per clip: the best stored frame for each query keyframe.
        per_clip: dict[str, list[tuple[float, float, int]]] = {}
        for k in usable:
            best: dict[str, tuple[float, float, int]] = {}
            for payload, dist in self._pdq.search(k.pdq.hex, self.threshold):
                clip_id, t_stored = self._frames[payload]
                if clip_id not in best or dist < best[clip_id][2]:
                    best[clip_id] = (k.t, t_stored, dist)
            for clip_id, pair in best.items():
                per_clip.setdefault(clip_id, []).append(pair)
        if not per_clip:
            return None
        need = max(1, math.ceil(self.min_matched_fraction * len(usable)))
        ranked = sorted(
            per_clip.items(),
            key=lambda kv: (-len(kv[1]), statistics.median(p[2] for p in kv[1]), kv[0]),
        )
        clip_id, pairs = ranked[0]
        if len(pairs) < need:
            return None
        distances = [p[2] for p in pairs]
        return OwnOutputMatch(
            clip_id=clip_id,
            method="pdq-keyframes",
            score=len(pairs) / len(usable),
            details={
                "model": MODEL_ID,
                "matched_keyframes": len(pairs),
                "usable_keyframes": len(usable),
                "required_keyframes": need,
                "median_distance": statistics.median(distances),
                "max_distance": max(distances),
                "threshold": self.threshold,
                "pairs": [{"t": a, "t_ours": b, "distance": d} for a, b, d in pairs[:20]],
                "runner_up": ranked[1][0] if len(ranked) > 1 else None,
            },
        )

    def lookup_media(
        self, frames: Iterable[Any], path: Path | None = None
    ) -> OwnOutputMatch | None:
        """``lookup`` from decoded frames and (optionally) the file for its sha256."""
        digest = sha256_file(Path(path)) if path is not None else None
        if digest and digest in self._sha:
            return self.lookup(digest, [])
        return self.lookup(digest, keyframe_hashes(frames))
