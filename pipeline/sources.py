"""The contract between the gate and the areas that produce signals.

The gate (``pipeline/gate.py``) decodes media once into a :class:`ScanInput`
and asks every :class:`SignalSource` for its signals, then for its part of
the policy engine's signal view (the top-level keys of
``policies.schema.SignalView``: ``likeness``, ``character``, ``minor``,
``nudity``, ``provenance``, ``prompt``, ``hash``; and ``context`` keys such as
``consent``). The gate merges the parts, asks the policy engine, and records
signals and decision in one transaction. Sources never write decisions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from detectors.base import Signal
from detectors.faces.types import DetectedFace, FaceDetector
from detectors.hashing import PdqHash, pdq_hash
from pipeline.media import Frame
from store.users import User

T = TypeVar("T")

Stage = Literal["prompt", "output", "upload", "remix", "report", "account"]


class FrameMemo:
    """Per-scan results of pure per-frame computations, shared by the sources that need them.

    Several sources look at the same decoded frames with the same pure
    function: likeness and ages both run the video face detector, provenance
    (own-output lookup) and banks both PDQ-hash every keyframe. Each result is
    computed once per scan and frame. Keys are the frame array's identity,
    held alongside the result so it cannot be reused by another array while
    the scan lives. Not pickled: a Ray actor gets an empty memo and fills its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, int], tuple[np.ndarray, Any]] = {}

    def get(self, name: str, rgb: np.ndarray, compute: Callable[[np.ndarray], T]) -> T:
        """``compute(rgb)``, computed once per ``(name, rgb)`` for this scan."""
        key = (name, id(rgb))
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and hit[0] is rgb:
            return hit[1]  # type: ignore[no-any-return]
        value = compute(rgb)
        with self._lock:
            self._values[key] = (rgb, value)
        return value

    def pdq(self, rgb: np.ndarray) -> PdqHash:
        return self.get("pdq", rgb, pdq_hash)

    def detector(self, detector: FaceDetector) -> FaceDetector:
        """``detector`` with its per-frame results shared across this scan's sources."""
        return _MemoDetector(detector, self)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]


class _MemoDetector(FaceDetector):
    """A face detector whose answers for a frame are remembered for one scan (see FrameMemo)."""

    def __init__(self, inner: FaceDetector, memo: FrameMemo) -> None:
        self.inner = inner
        self.info = inner.info
        self.memo = memo
        # Two detectors of the same model may differ in settings (stills vs video).
        self._name = f"{inner.info.model_id}@{id(inner)}"

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        return list(self.memo.get(f"detect:{self._name}", rgb, self.inner.detect))

    def detect_small(self, rgb: np.ndarray) -> list[DetectedFace]:
        return list(self.memo.get(f"detect_small:{self._name}", rgb, self.inner.detect_small))

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


@dataclass
class ScanInput:
    """Everything a source may look at for one scan; media is decoded once, here."""

    stage: Stage
    creator: User | None
    audience: Literal["teen", "adult"]
    prompt: str | None = None
    media_path: Path | None = None
    media_kind: Literal["image", "video"] | None = None
    media_sha256: str | None = None
    # Keyframes, decoded once: one frame (t=0.0) for an image, about one per
    # half second for a video, downscaled to the gate's working size.
    frames: list[Frame] = field(default_factory=list)
    # Cameo owners' handles the creator asked to appear (generation requests).
    requested_cameos: list[str] = field(default_factory=list)
    clip_id: str | None = None
    parent_clip_id: str | None = None
    # Per-frame work shared between sources (face detections, PDQ hashes).
    memo: FrameMemo = field(default_factory=FrameMemo, repr=False, compare=False)
    # Results of store-free feature steps, by step name: computed elsewhere (a Ray
    # actor) and handed in, or computed here on first use (:meth:`feature`).
    features: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def feature(self, step: FeatureStep) -> Any:
        """``step``'s result for this scan: the one handed in, or computed here once."""
        if step.name not in self.features:
            self.features[step.name] = step.compute(self)
        return self.features[step.name]


class FeatureStep(Protocol):
    """Store-free work a source needs for a scan, which may be computed in another process.

    ``compute`` reads the scan's media and the models only, never the store, so
    its result is the same wherever it runs. A source that reads the store
    splits its work into such a step (the heavy part: face tracks and their
    embeddings) and a match against the store (the light part), and gets the
    step's result with ``scan.feature(step)``: a Ray actor may have computed
    it already (``pipeline/executor.py``).
    """

    name: str

    def compute(self, scan: ScanInput) -> Any: ...


class KeyframeHashes:
    """The store-free step of provenance's own-output lookup and of the hash banks.

    Every keyframe's PDQ hash, in the order of ``scan.frames``: both sources
    match on them, so they are computed once a scan (through the memo), and a
    Ray actor may compute them (:class:`FeatureStep`).
    """

    name = "keyframe_pdq"

    def compute(self, scan: ScanInput) -> list[PdqHash]:
        return [scan.memo.pdq(f.rgb) for f in scan.frames]


KEYFRAME_PDQ = KeyframeHashes()


def keyframe_pdq(scan: ScanInput) -> list[tuple[float, PdqHash]]:
    """``(t, PDQ hash)`` of each of the scan's keyframes, wherever they were hashed."""
    hashes: list[PdqHash] = scan.feature(KEYFRAME_PDQ)
    return [(f.t, h) for f, h in zip(scan.frames, hashes, strict=True)]


class SignalSource(Protocol):
    """One area's detectors, as the gate sees them.

    A source may also have ``needs``: the names of the :class:`FeatureStep`
    results it reads through ``scan.feature``, so an executor that computes
    them elsewhere knows to wait for them before running the source.
    """

    name: str

    def signals(self, scan: ScanInput) -> list[Signal]:
        """Findings for this scan (each with its model and explanation); [] when nothing applies."""
        ...

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        """This source's part of the policy signal view, from its own signals.

        Return only the keys this source owns, e.g. ``{"likeness": [...],
        "context": {"consent": {...}}}``; the gate merges ``context`` dicts.
        """
        ...
