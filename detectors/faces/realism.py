"""Does a detected face look like a photograph of a real person? A deliberately conservative check.

Used by the likeness gate to hold uploads that show a real face nobody
consented to (``pipeline.likeness``). A face is *photorealistic* (held for a
human) unless it is made of flat colour fills; the detector's confidence is
reported beside the verdict but never clears a face:

1. **Detector confidence** against :data:`MIN_SCORE` for the detector that
   found it, reported as ``confident``. The cut-offs were read off
   ``shared/fixtures`` (faces/, videos/ real people against characters/ and
   the animated videos): dlib HOG finds no face in any character image or in
   Big Buck Bunny (cut 0: anything it reports). YuNet, the default detector,
   finds "faces" in two Big Buck Bunny stills (0.74, 0.82) and the
   Pepper&Carrot icon (0.81), SCRFD in one still and the icon (0.59, 0.65);
   their cuts are 0.85 and 0.7. Under the cut a face is **held**, not cleared
   (issue 15): YuNet also scores 12 of the 122 real faces it finds in the
   fixture stills under 0.85 (0.61-0.83: small, blurred or half-turned people
   in group photos), and a second detector on the crop did not tell them from
   the cartoons (``python -m bench.realism --second dlib-mmod``). Holding them
   all costs a review for the three cartoon stills above.
2. **Not a flat-colour drawing**: the share of the face box (resampled to at
   most :data:`MAX_SIDE` px, nearest neighbour so fills stay exact) whose
   ``WINDOW`` x ``WINDOW`` neighbourhood varies by at most :data:`TOLERANCE`
   levels in every channel. Photographs and camera video have sensor noise
   and texture everywhere: at most 0.16 (dlib HOG boxes), 0.21 (YuNet), 0.19
   (SCRFD) over the fixtures' 92-123 real faces in stills, at most 0.05 for
   the three talking-head videos' tracks. Cel-shaded or posterised faces are
   made of exact fills: 0.35-0.67 for five fixture photos posterised to six
   colours (still found by dlib HOG at 0.6-2.4, YuNet at 0.91-0.93). The cut,
   :data:`FLAT_LIMIT` = 0.27, is the midpoint of that gap. This test alone
   clears a face.

A video face track is judged on its best detector score and the median flat
share of its sampled frames.

What it gets wrong (measured on the fixtures; ``tests/likeness/test_unknown_faces.py``,
``python -m bench.realism``):

- painterly digital art and 3D renders are *not* flat: the anime clip
  (``musetalk_yongen_anime.mp4``: flat 0.09, YuNet 0.94) and Sintel (CG: flat
  0.06) read as photorealistic and are held for a human -- wrong, but on the
  safe side; so are YuNet's low-confidence cartoon "faces" (the Big Buck
  Bunny stills: flat 0.10-0.11; the Pepper&Carrot icon's 18-px face, too
  small to judge);
- faces under :data:`MIN_CROP_PX` pixels are too small to judge and count as
  photorealistic (held);
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
    confident: bool = True  # the detector's score reached its cut

    def to_dict(self) -> dict[str, Any]:
        return {
            "photorealistic": self.photorealistic,
            "score": round(self.score, 4),
            "min_score": self.min_score,
            "flat_fraction": None if self.flat_fraction is None else round(self.flat_fraction, 4),
            "flat_limit": self.flat_limit,
            "why": self.why,
            "confident": self.confident,
        }


def judge(score: float, flat: list[float | None], detector_model: str | None) -> Realism:
    """Photorealistic unless the face is mostly flat colour fills; an unsure detector does not clear it.

    A face the detector scores under its cut is *held* like a confident one
    (``confident`` false in the verdict), not cleared: small and blurred real
    faces score that low, and a real face published unheld is the error this
    check exists to prevent. Only the flat-colour test clears a face.
    """
    cut = min_score(detector_model)
    measured = [f for f in flat if f is not None]
    median = float(np.median(measured)) if measured else None
    confident = score >= cut
    if median is not None and median >= FLAT_LIMIT:
        return Realism(
            False, score, cut, median, FLAT_LIMIT, "flat colour fills: a drawing", confident
        )
    if not confident:
        why = (
            "the detector is not confident it is a face, and it is not a flat drawing: held as "
            "a possible real face (small and blurred real faces score this low)"
        )
    elif median is None:
        why = "too small to judge: counted as real"
    else:
        why = "a photographic face"
    return Realism(True, score, cut, median, FLAT_LIMIT, why, confident)


def face_realism(rgb: np.ndarray, face: DetectedFace, detector_model: str | None) -> Realism:
    """The verdict for one detected face in one image."""
    return judge(float(face.score), [flat_fraction(rgb, face)], detector_model)
