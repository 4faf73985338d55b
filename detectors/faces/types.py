"""Face detection and embedding interfaces, the shared 5-point landmark convention, and alignment.

Every detector returns :class:`DetectedFace` with five landmarks in InsightFace
order (left eye, right eye, nose tip, left mouth corner, right mouth corner, as
seen by the viewer), and every embedder aligns faces from those five points, so
any detector can feed any embedder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors.base import DetectorError, MediaError, ModelInfo
from detectors.faces.pose import HeadPose, pose_from_insightface5

# ArcFace's 112x112 alignment template (insightface.utils.face_align.arcface_dst),
# in the landmark order above.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class DetectedFace:
    """One face: box (x1, y1, x2, y2) in pixels, detector confidence, five landmarks, head pose.

    ``pose`` is set by a backend whose InsightFace-order landmarks are not its
    own measurement (dlib HOG: a template fit); otherwise :attr:`head_pose`
    reads it from the landmarks.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # (5, 2) float32, image coordinates, InsightFace order
    pose: HeadPose | None = None

    @property
    def head_pose(self) -> HeadPose:
        """Yaw and pitch on the shared scale (see :mod:`detectors.faces.pose`)."""
        return self.pose if self.pose is not None else pose_from_insightface5(self.landmarks)

    def shifted(self, dx: float, dy: float) -> DetectedFace:
        """The same face in a crop whose top-left corner is at (dx, dy); pose is unchanged."""
        x1, y1, x2, y2 = self.box
        return DetectedFace(
            box=(x1 - dx, y1 - dy, x2 - dx, y2 - dy),
            score=self.score,
            landmarks=(self.landmarks - np.array([dx, dy], np.float32)).astype(np.float32),
            pose=self.pose,
        )

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def to_dict(self) -> dict[str, object]:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "pose": self.head_pose.to_dict(),
        }


class FaceDetector(ABC):
    """Finds faces in an RGB uint8 image."""

    info: ModelInfo

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Faces in ``rgb`` (H, W, 3) uint8, best first is not guaranteed."""

    def detect_small(self, rgb: np.ndarray) -> list[DetectedFace]:
        """A costlier second look for faces too small for :meth:`detect`; none by default.

        Video tracking (:func:`detectors.faces.tracking.track_faces`) calls it
        on sampled frames where :meth:`detect` found no face.
        """
        return []


class FaceEmbedder(ABC):
    """Turns detected faces into L2-normalised identity vectors."""

    info: ModelInfo

    @abstractmethod
    def embed(self, rgb: np.ndarray, faces: Sequence[DetectedFace]) -> np.ndarray:
        """(len(faces), dim) float32, each row unit length."""


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Reject arrays that are not 8-bit RGB images with a user-safe message."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise MediaError(f"expected an RGB image (H, W, 3); got shape {shape}")
    if rgb.dtype != np.uint8:
        raise MediaError(f"expected 8-bit pixels; got {rgb.dtype}")
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise MediaError(f"image is too small ({rgb.shape[1]}x{rgb.shape[0]})")
    return np.ascontiguousarray(rgb)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) mapping ``src`` onto ``dst``.

    Umeyama's closed form, as skimage's ``SimilarityTransform.estimate`` that
    InsightFace uses, so alignment matches what ArcFace was trained on.
    Returns a 2x3 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / n
    if var_src <= 1e-12:
        raise DetectorError("landmarks are degenerate (all at one point)")
    scale = float((s * d).sum() / var_src)
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def align_face(
    rgb: np.ndarray,
    landmarks5: np.ndarray,
    size: int = 112,
    template: np.ndarray | None = None,
) -> np.ndarray:
    """Warp a face to a ``size`` x ``size`` chip by a similarity transform to a template.

    The default template is ArcFace's 112-pixel one, scaled by ``size / 112``;
    an embedder trained on another framing passes its own template (in pixels
    of a ``size`` chip).
    """
    import cv2

    lm = np.asarray(landmarks5, dtype=np.float32)
    if lm.shape != (5, 2) or not np.all(np.isfinite(lm)):
        raise DetectorError("a face needs five finite (x, y) landmarks")
    dst = ARCFACE_TEMPLATE_112 * (size / 112.0) if template is None else template
    matrix = similarity_transform(lm, dst)
    return cv2.warpAffine(
        rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def largest_face(faces: Sequence[DetectedFace]) -> DetectedFace | None:
    return max(faces, key=lambda f: f.area, default=None)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``max_side``; returns the image and the factor used."""
    import cv2

    longest = max(rgb.shape[:2])
    if max_side <= 0 or longest <= max_side:
        return rgb, 1.0
    scale = max_side / longest
    small = cv2.resize(
        rgb,
        (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
        interpolation=cv2.INTER_AREA,
    )
    return small, scale


def rescale_face(face: DetectedFace, scale: float) -> DetectedFace:
    """Map a face found on a downscaled image back to the original's pixels."""
    if scale == 1.0:
        return face
    inv = 1.0 / scale
    x1, y1, x2, y2 = face.box
    return DetectedFace(
        box=(x1 * inv, y1 * inv, x2 * inv, y2 * inv),
        score=face.score,
        landmarks=(face.landmarks * inv).astype(np.float32),
        pose=face.pose,  # angles do not change with scale
    )


def clip_box(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    return (
        float(min(max(box[0], 0.0), width)),
        float(min(max(box[1], 0.0), height)),
        float(min(max(box[2], 0.0), width)),
        float(min(max(box[3], 0.0), height)),
    )
