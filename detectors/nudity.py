"""Nudity detection on keyframes with NudeNet, summarised into a ``nudity.score`` signal.

NudeNet 3.4.2's 320n detector (a YOLOv8n ONNX graph inside the wheel) finds
body parts as exposed or covered classes with boxes. We keep every detection
(so a moderator sees what fired where) and summarise per frame: the highest
score among *exposed sexual* classes is the ``nudity.score`` the policy
engine reads.

Licence: the nudenet 3.4.2 wheel's package metadata says "MIT", but the
licence files it ships (LICENSE, LICENSE.md) are the GNU AGPL-3.0 text. We
record AGPL-3.0 as the operative licence until upstream clarifies; anyone
offering Greenroom as a network service must honour AGPL-3.0 for this part.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Explanation, MediaError, ModelInfo, ModelUnavailable, Signal
from detectors.concurrency import ort_session_options

# Classes whose exposure is sexual content for policy purposes.
EXPOSED_SEXUAL = frozenset(
    {
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
EXPOSED_OTHER = frozenset(
    {"MALE_BREAST_EXPOSED", "BELLY_EXPOSED", "ARMPITS_EXPOSED", "FEET_EXPOSED"}
)
COVERED_SEXUAL = frozenset(
    {
        "FEMALE_BREAST_COVERED",
        "FEMALE_GENITALIA_COVERED",
        "BUTTOCKS_COVERED",
        "ANUS_COVERED",
    }
)

NUDENET_LICENCE = (
    "AGPL-3.0 (text of LICENSE/LICENSE.md shipped in the nudenet 3.4.2 wheel; "
    "its package metadata says MIT - treat as AGPL-3.0)"
)
DEFAULT_THRESHOLD = 0.5
# NudeNet's own post-processing cut-offs: a candidate row's best class score,
# and NMS's score and overlap thresholds.
_CANDIDATE_SCORE = 0.2
_NMS_SCORE, _NMS_IOU = 0.25, 0.45


@dataclass(frozen=True)
class NudityDetection:
    label: str
    score: float
    box: tuple[int, int, int, int]  # x1, y1, x2, y2
    group: str  # exposed_sexual / exposed_other / covered_sexual / covered_other / face

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.label,
            "score": round(self.score, 4),
            "box": list(self.box),
            "group": self.group,
        }


@dataclass(frozen=True)
class NudityResult:
    """One frame's detections and summary."""

    detections: list[NudityDetection]
    sexual_score: float
    exposed_score: float
    covered_sexual_score: float
    flagged: bool
    explanation: Explanation
    t: float | None = None
    exposed_classes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "score": round(self.sexual_score, 4),
            "exposed_score": round(self.exposed_score, 4),
            "covered_sexual_score": round(self.covered_sexual_score, 4),
            "flagged": self.flagged,
            "exposed_classes": self.exposed_classes,
            "detections": [d.to_dict() for d in self.detections],
            "explanation": self.explanation.to_dict(),
        }

    def to_signal(self) -> Signal:
        return Signal(
            kind="nudity.score",
            model_id=self.explanation.model_id,
            data={
                "score": round(self.sexual_score, 4),
                "exposed_score": round(self.exposed_score, 4),
                "covered_sexual_score": round(self.covered_sexual_score, 4),
                "flagged": self.flagged,
                "exposed_classes": self.exposed_classes,
                "t": self.t,
            },
            explanation=self.explanation,
        )


def _group(label: str) -> str:
    if label in EXPOSED_SEXUAL:
        return "exposed_sexual"
    if label in EXPOSED_OTHER:
        return "exposed_other"
    if label in COVERED_SEXUAL:
        return "covered_sexual"
    if label.startswith("FACE_"):
        return "face"
    return "covered_other"


class NudityDetector(ABC):
    info: ModelInfo

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("nudity threshold must be in (0, 1]")
        self.threshold = threshold

    @abstractmethod
    def _raw(self, rgb: np.ndarray) -> list[dict[str, Any]]:
        """NudeNet-style detections: {"class", "score", "box": [x, y, w, h]}."""

    def detect(self, rgb: np.ndarray, t: float | None = None) -> NudityResult:
        if (
            not isinstance(rgb, np.ndarray)
            or rgb.ndim != 3
            or rgb.shape[2] != 3
            or rgb.dtype != np.uint8
        ):
            raise MediaError("nudity detection needs an RGB uint8 image of shape (H, W, 3)")
        if rgb.shape[0] < 8 or rgb.shape[1] < 8:
            raise MediaError(f"image too small for nudity detection: {rgb.shape[1]}x{rgb.shape[0]}")
        dets = []
        for d in self._raw(rgb):
            x, y, w, h = (int(v) for v in d["box"])
            dets.append(
                NudityDetection(
                    str(d["class"]),
                    float(d["score"]),
                    (x, y, x + w, y + h),
                    _group(str(d["class"])),
                )
            )
        dets.sort(key=lambda d: -d.score)

        def top(group: str) -> float:
            return max((d.score for d in dets if d.group == group), default=0.0)

        sexual = top("exposed_sexual")
        exposed = max(sexual, top("exposed_other"))
        covered = top("covered_sexual")
        exposed_classes = sorted(
            {d.label for d in dets if d.group == "exposed_sexual" and d.score >= self.threshold}
        )
        return NudityResult(
            detections=dets,
            sexual_score=sexual,
            exposed_score=exposed,
            covered_sexual_score=covered,
            flagged=sexual >= self.threshold,
            exposed_classes=exposed_classes,
            t=t,
            explanation=Explanation(
                model_id=self.info.model_id,
                method="max detector score over exposed sexual body-part classes",
                score=sexual,
                threshold=self.threshold,
                details={"detections": len(dets), "exposed_classes": exposed_classes},
            ),
        )


class NudeNetDetector(NudityDetector):
    """NudeNet 3.4.2 ``320n.onnx`` from the installed wheel.

    ``threads`` is the process's core budget; each run uses one intra-op
    thread, and concurrent calls run in parallel on the one shared session.
    """

    def __init__(
        self, threshold: float = DEFAULT_THRESHOLD, threads: int = 1, model_path: Path | None = None
    ) -> None:
        super().__init__(threshold)
        try:
            import nudenet
            import onnxruntime as ort
            from nudenet import NudeDetector
        except ImportError as exc:
            raise ModelUnavailable(f"nudity detection needs 'nudenet==3.4.2' ({exc})") from None
        path = (
            Path(model_path)
            if model_path
            else Path(nudenet.__file__).resolve().parent / "320n.onnx"
        )
        if not path.is_file():
            raise ModelUnavailable(f"NudeNet model not found at {path}; reinstall nudenet==3.4.2")
        # NudeDetector's constructor opens its own session with default
        # threads; we bypass it and give the instance our session instead.
        # The instance stays the reference for :meth:`_raw`'s own pre- and
        # post-processing (``reference_raw``; the tests compare the two).
        # Shared, no lock: detection only reads the instance (input name and
        # size) and calls the session's thread-safe run. One intra-op thread
        # per run (detectors.concurrency.ort_session_options says why).
        detector = NudeDetector.__new__(NudeDetector)
        detector.onnx_session = ort.InferenceSession(
            str(path), ort_session_options(), providers=["CPUExecutionProvider"]
        )
        detector.input_width = detector.input_height = 320
        detector.input_name = detector.onnx_session.get_inputs()[0].name
        self._detector = detector
        # NudeNet's class names, in its output's column order (a module-level
        # list of the pinned wheel; no public accessor).
        labels = getattr(sys.modules[NudeDetector.__module__], "__labels", None)
        if not isinstance(labels, list) or len(labels) != 18:
            raise ModelUnavailable("nudenet's class list was not found; reinstall nudenet==3.4.2")
        self._labels: list[str] = [str(label) for label in labels]
        self.info = ModelInfo(
            model_id="nudenet-3.4.2-320n",
            task="nudity_detection",
            licence=NUDENET_LICENCE,
            input_size=(320, 320),
            notes="YOLOv8n, 18 exposed/covered body-part and face classes",
        )

    def reference_raw(self, rgb: np.ndarray) -> list[dict[str, Any]]:
        """Upstream ``NudeDetector.detect``: the reference :meth:`_raw` must equal."""
        # NudeNet's documented use is a file path read by cv2.imread (BGR);
        # giving it BGR pixels makes the network see exactly what it sees then.
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        return list(self._detector.detect(bgr))

    def _raw(self, rgb: np.ndarray) -> list[dict[str, Any]]:
        """What :meth:`reference_raw` returns, without its per-frame copies and per-row loop.

        Upstream flips a file's BGR pixels to RGB, pads them square with black
        and has ``blobFromImage`` shrink and swap them back, so the network
        gets BGR planes; padding our RGB frame and swapping once in the blob
        gives the same blob (the shrink acts per channel). Its post-processing
        visits ~2,100 candidate rows in Python; here the same float32 sums run
        on arrays, so the boxes and scores are the same bits and NMS keeps the
        same ones (tests/safety/test_nudity.py compares the two).
        """
        import cv2

        h, w = rgb.shape[:2]
        side = max(h, w)
        square = cv2.copyMakeBorder(rgb, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT)
        size = self._detector.input_width
        blob = cv2.dnn.blobFromImage(square, 1 / 255.0, (size, size), (0, 0, 0), swapRB=True)
        output = self._detector.onnx_session.run(None, {self._detector.input_name: blob})
        rows = np.transpose(np.squeeze(output[0]))
        scores = rows[:, 4:]
        best = scores.max(axis=1)
        keep = best >= _CANDIDATE_SCORE
        rows, best = rows[keep], best[keep]
        classes = scores[keep].argmax(axis=1)
        cx, cy, bw, bh = (rows[:, i] for i in range(4))
        x = (cx - bw / 2) * side / size
        y = (cy - bh / 2) * side / size
        bw = bw * side / size
        bh = bh * side / size
        x = np.clip(x, 0, w)
        y = np.clip(y, 0, h)
        bw = np.minimum(bw, w - x)
        bh = np.minimum(bh, h - y)
        boxes = np.stack([x, y, bw, bh], axis=1)
        kept = cv2.dnn.NMSBoxes(boxes.tolist(), best.tolist(), _NMS_SCORE, _NMS_IOU)
        return [
            {
                "class": self._labels[int(classes[i])],
                "score": float(best[i]),
                "box": [int(v) for v in boxes[i]],
            }
            for i in np.asarray(kept, dtype=int).reshape(-1)
        ]


def build_nudity_detector(threshold: float = DEFAULT_THRESHOLD, threads: int = 1) -> NudityDetector:
    return NudeNetDetector(threshold=threshold, threads=threads)
