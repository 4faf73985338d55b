"""Does a detected face look like a photograph of a real person? A deliberately conservative check.

Used by the likeness gate to hold uploads that show a real face nobody
consented to (``pipeline.likeness``). Two tests, both cheap and explainable;
a face passes as *photorealistic* unless one of them says otherwise:

1. **Detector confidence** at least :data:`MIN_SCORE` for the detector that
   found it. The cut-offs were read off ``shared/fixtures`` (faces/, videos/
   real people against characters/ and the animated videos): dlib HOG, the
   default, finds no face in any character image or in Big Buck Bunny, so its
   cut is its own default (0: anything it reports). YuNet finds "faces" in two
   Big Buck Bunny stills (0.73, 0.82) and the Pepper&Carrot icon (0.81), SCRFD
   in one still and the icon (0.59, 0.65); their cuts (0.85, 0.7) let those
   pass at the price of a few small real faces (see below).
2. **Not a flat-colour drawing**: the share of the face box (resampled to at
   most :data:`MAX_SIDE` px, nearest neighbour so fills stay exact) whose
   ``WINDOW`` x ``WINDOW`` neighbourhood varies by at most :data:`TOLERANCE`
   levels in every channel. Photographs and camera video have sensor noise
   and texture everywhere: at most 0.16 (dlib HOG boxes), 0.15 (YuNet), 0.19
   (SCRFD) over the fixtures' 92-123 real faces in stills, at most 0.05 for
   the three talking-head videos' tracks. Cel-shaded or posterised faces are
   made of exact fills: 0.35-0.67 for five fixture photos posterised to six
   colours (still found by dlib HOG at 0.6-2.4, YuNet at 0.91-0.93). The cut,
   :data:`FLAT_LIMIT` = 0.27, is the midpoint of that gap.

A video face track is judged on its best detector score and the median flat
share of its sampled frames.

What it misses (measured on the fixtures; ``tests/likeness/test_unknown_faces.py``):

- painterly digital art and 3D renders are *not* flat: the anime clip
  (``musetalk_yongen_anime.mp4``: flat 0.09, dlib 1.1, YuNet 0.94) and Sintel
  (CG: flat 0.06, dlib 0.76) read as photorealistic and are held for a
  human -- wrong, but on the safe side;
- with YuNet or SCRFD (not the default), small or blurred real faces in group
  photos score under the cut and are not held: 10 of YuNet's 123 real
  faces (0.61-0.83), 6 of SCRFD's 92 (0.54-0.64); dlib HOG, the default,
  holds all 111 it finds;
- faces under :data:`MIN_CROP_PX` pixels are too small to judge and count as
  photorealistic;
- a photo of a printed cartoon reads as photographic, and a real face under a
  heavy posterising filter reads as a drawing (every other check still runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors.faces.types import DetectedFace, check_rgb

MAX_SIDE = 160
WINDOW = 5
TOLERANCE = 4
FLAT_LIMIT = 0.27
MIN_CROP_PX = 24
# Detector model id -> minimum confidence for a confident (real) face; unknown detectors: 0.0.
MIN_SCORE: dict[str, float] = {
    "dlib-hog-5pt": 0.0,
    "yunet-2023mar": 0.85,
    "insightface-scrfd-det_500m": 0.7,
}
METHOD = (
    "detector confidence against a per-detector cut, and the share of the face box in flat "
    "colour fills (5x5 neighbourhoods within 4 levels)"
)


def min_score(detector_model: str | None) -> float:
    return MIN_SCORE.get(detector_model or "", 0.0)


def flat_fraction(rgb: np.ndarray, face: DetectedFace) -> float | None:
    """Share of the face box in flat colour fills; None when the box is too small to judge."""
    import cv2

    rgb = check_rgb(rgb)
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (int(np.rint(v)) for v in face.box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if min(x2 - x1, y2 - y1) < MIN_CROP_PX:
        return None
    crop = rgb[y1:y2, x1:x2]
    side = max(crop.shape[:2])
    if side > MAX_SIDE:
        size = (max(1, crop.shape[1] * MAX_SIDE // side), max(1, crop.shape[0] * MAX_SIDE // side))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST)
    kernel = np.ones((WINDOW, WINDOW), np.uint8)
    spread = np.zeros(crop.shape[:2], np.int16)
    for c in range(3):
        channel = np.ascontiguousarray(crop[..., c])
        both = cv2.dilate(channel, kernel).astype(np.int16) - cv2.erode(channel, kernel)
        spread = np.maximum(spread, both)
    return float((spread <= TOLERANCE).mean())


@dataclass(frozen=True)
class Realism:
    """The verdict for one face (or one track: best score, median flat fraction)."""

    photorealistic: bool
    score: float
    min_score: float
    flat_fraction: float | None
    flat_limit: float
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "photorealistic": self.photorealistic,
            "score": round(self.score, 4),
            "min_score": self.min_score,
            "flat_fraction": None if self.flat_fraction is None else round(self.flat_fraction, 4),
            "flat_limit": self.flat_limit,
            "why": self.why,
        }


def judge(score: float, flat: list[float | None], detector_model: str | None) -> Realism:
    """Photorealistic unless the detector is unsure or the face is mostly flat fills."""
    cut = min_score(detector_model)
    measured = [f for f in flat if f is not None]
    median = float(np.median(measured)) if measured else None
    if score < cut:
        return Realism(
            False, score, cut, median, FLAT_LIMIT, "the detector is not confident it is a face"
        )
    if median is not None and median >= FLAT_LIMIT:
        return Realism(False, score, cut, median, FLAT_LIMIT, "flat colour fills: a drawing")
    why = "too small to judge: counted as real" if median is None else "a photographic face"
    return Realism(True, score, cut, median, FLAT_LIMIT, why)


def face_realism(rgb: np.ndarray, face: DetectedFace, detector_model: str | None) -> Realism:
    """The verdict for one detected face in one image."""
    return judge(float(face.score), [flat_fraction(rgb, face)], detector_model)
