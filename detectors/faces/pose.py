"""Head pose (yaw, pitch) from a detector's own five landmarks, on one scale for every backend.

*Yaw* is the nose's sideways offset from the middle of the eyes, *pitch* its
drop below the eye line, both in units of the eye distance, measured on the
points each backend really finds:

- dlib HOG: dlib's raw 5 points (eye corners, nose base), read by
  :class:`~detectors.faces.dlib_backend.DlibHogDetector` before it converts
  them to InsightFace order (the converted points are a similarity fit of a
  fixed template and carry no pose);
- SCRFD / YuNet: their InsightFace-order points (eye centres, nose tip).

The two point sets put the nose at different depths, so the InsightFace
values are rescaled onto the dlib scale (:data:`INSIGHTFACE5_TO_DLIB5`) and
one set of thresholds (the live check's, the tracker's frontalness) serves all
backends. Signs are the person's own in an unmirrored recording: a positive
yaw is a turn to the person's *left* (the nose moves to the image's right), a
positive pitch a nod *down*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DLIB5 = "dlib-5pt-raw"
INSIGHTFACE5 = "insightface-5pt"

# Linear factors (yaw, pitch) taking InsightFace-5pt pose onto the dlib-5pt
# scale: least-squares slope through the origin of per-sample deviations from
# each video's median pose, YuNet landmarks vs dlib raw points on the same
# frames (10 samples a second of the three liveportrait talking heads in
# shared/fixtures/videos, 640-pixel frames; ``python -m bench.likeness
# --pose-scale-only``): 330 paired samples, slopes 0.509 / 0.654, correlation
# 0.83 yaw / 0.59 pitch. SCRFD det_500m fits 0.437 / 0.577 but finds the big
# close-up faces of d3 in few frames (234 samples, correlation 0.65 / 0.31).
# Approximate: the live check's thresholds were calibrated on dlib's points
# and hold for the ONNX detectors only as well as this fit.
INSIGHTFACE5_TO_DLIB5 = (0.51, 0.65)


@dataclass(frozen=True)
class HeadPose:
    """Yaw and pitch in eye-distance units (dlib-5pt scale) and the points they came from."""

    yaw: float
    pitch: float
    method: str  # DLIB5 or INSIGHTFACE5

    def to_dict(self) -> dict[str, object]:
        return {"yaw": round(self.yaw, 4), "pitch": round(self.pitch, 4), "method": self.method}


def _offsets(left_eye: np.ndarray, right_eye: np.ndarray, nose: np.ndarray) -> tuple[float, float]:
    axis = right_eye - left_eye
    dist = float(np.linalg.norm(axis))
    if dist < 1e-6:
        return 0.0, 0.0
    axis = axis / dist
    down = np.array([-axis[1], axis[0]])  # image-down when the eyes are level
    offset = nose - (left_eye + right_eye) / 2.0
    return float(offset @ axis / dist), float(offset @ down / dist)


def pose_from_dlib5(points: np.ndarray) -> HeadPose:
    """Pose from dlib's raw five points, in dlib order.

    dlib order: right-of-viewer eye outer and inner corner, left-of-viewer eye
    outer and inner corner, nose base.
    """
    p = np.asarray(points, dtype=np.float64).reshape(5, 2)
    viewer_right, viewer_left = (p[0] + p[1]) / 2.0, (p[2] + p[3]) / 2.0
    yaw, pitch = _offsets(viewer_left, viewer_right, p[4])
    return HeadPose(yaw, pitch, DLIB5)


def pose_from_insightface5(landmarks: np.ndarray) -> HeadPose:
    """Pose from InsightFace-order points (viewer-left eye, viewer-right eye, nose tip, mouth)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    yaw, pitch = _offsets(lm[0], lm[1], lm[2])
    yaw_scale, pitch_scale = INSIGHTFACE5_TO_DLIB5
    return HeadPose(yaw * yaw_scale, pitch * pitch_scale, INSIGHTFACE5)


def frontalness(pose: HeadPose) -> float:
    """1.0 for a face looking at the camera, towards 0 as it turns away (0 at |yaw| 0.3).

    On the dlib scale a clear deliberate turn is about 0.13 (the fixture head
    turns) and talking heads stay within 0.03 of their median, so a turn costs
    about 40 % of a frame's quality and ordinary jitter almost nothing.
    """
    return float(max(0.0, 1.0 - abs(pose.yaw) / 0.3))
