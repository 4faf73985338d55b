"""ONNX face backends found in the models directory: SCRFD detector, ArcFace embedder; file checks.

YuNet lives in :mod:`detectors.faces.yunet_backend` (it also loads from a package).

Files are looked up under ``models_dir`` by their usual names and, where the
official file's size and sha256 are known, verified before loading: a file
that fails verification is refused with :class:`ModelUnavailable`, never run.
InsightFace's pretrained packs are for non-commercial research only; their
``ModelInfo.licence`` says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.base import DetectorError, ModelInfo, ModelUnavailable
from detectors.concurrency import ort_session_options
from detectors.faces.types import (
    DetectedFace,
    FaceDetector,
    FaceEmbedder,
    align_face,
    check_rgb,
    clip_box,
)

INSIGHTFACE_LICENCE = (
    "InsightFace pretrained models: non-commercial research use only "
    "(code MIT); do not use in a commercial deployment without a licence"
)


@dataclass(frozen=True)
class KnownFile:
    """An official model file: its size and sha256."""

    name: str
    size: int
    sha256: str


# From shared/models/README.md (official buffalo_s / OpenCV zoo files).
KNOWN_FILES: dict[str, KnownFile] = {
    k.name: k
    for k in (
        KnownFile(
            "det_500m.onnx",
            2_524_817,
            "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
        ),
        KnownFile(
            "face_detection_yunet_2023mar.onnx",
            232_589,
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        ),
        KnownFile(
            "w600k_mbf.onnx",
            13_616_099,
            "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        ),
    )
}

SCRFD_PATHS = (
    "insightface-scrfd/det_500m.onnx",
    "buffalo_s/det_500m.onnx",
    "buffalo_sc/det_500m.onnx",
)
ARCFACE_PATHS = (
    "insightface-arcface/w600k_mbf.onnx",
    "insightface-arcface/w600k_r50.onnx",
    "buffalo_s/w600k_mbf.onnx",
    "buffalo_sc/w600k_mbf.onnx",
    "buffalo_l/w600k_r50.onnx",
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model_file(path: Path) -> bool:
    """True when ``path`` is a known official file and matches; False when its hash is unknown.

    Raises :class:`ModelUnavailable` when a known file's size or hash differs
    (a truncated download or a different model under the official name).
    """
    known = KNOWN_FILES.get(path.name)
    if known is None:
        return False
    size = path.stat().st_size
    if size != known.size:
        raise ModelUnavailable(
            f"{path.name} is {size} bytes, not the official {known.size}; "
            "re-download it (refusing to load an unverified model)"
        )
    digest = sha256_of(path)
    if digest != known.sha256:
        raise ModelUnavailable(
            f"{path.name} fails sha256 verification (got {digest[:12]}…, "
            f"expected {known.sha256[:12]}…); refusing to load it"
        )
    return True


def find_model(models_dir: Path | None, candidates: Sequence[str], what: str) -> Path:
    """The first candidate file under ``models_dir``, or a ModelUnavailable naming where to put it."""
    if models_dir is None:
        raise ModelUnavailable(f"{what} needs a models directory (none configured)")
    for rel in candidates:
        path = Path(models_dir) / rel
        if path.is_file():
            return path
    raise ModelUnavailable(
        f"{what} weights not found under {models_dir}; expected one of: {', '.join(candidates)}"
    )


class ScrfdDetector(FaceDetector):
    """InsightFace SCRFD (``det_500m.onnx``) through ``insightface.model_zoo``.

    ``threads`` is the process's core budget; each run uses one intra-op
    thread (:func:`detectors.concurrency.ort_session_options`).
    """

    def __init__(
        self,
        models_dir: Path | None,
        threads: int = 2,
        det_size: int = 640,
        det_thresh: float = 0.5,
        path: Path | None = None,
    ) -> None:
        path = path or find_model(models_dir, SCRFD_PATHS, "SCRFD face detector")
        verified = verify_model_file(path)
        try:
            from insightface.model_zoo import get_model

            model = get_model(
                str(path),
                providers=["CPUExecutionProvider"],
                sess_options=ort_session_options(),
            )
            model.prepare(ctx_id=-1, input_size=(det_size, det_size), det_thresh=det_thresh)
        except Exception as exc:
            raise ModelUnavailable(f"cannot load SCRFD from {path.name}: {exc}") from exc
        if getattr(model, "taskname", None) != "detection":
            raise ModelUnavailable(f"{path.name} is not a face detection model")
        # Shared, no lock: insightface's SCRFD.detect keeps its settings
        # read-only after prepare(), memoises anchor centres per shape (the same
        # values whoever writes them; a dict store is atomic under the GIL),
        # guards its per-resolution session map with its own lock, and runs a
        # thread-safe InferenceSession (one intra-op thread per run).
        self._model = model
        self.info = ModelInfo(
            model_id=f"insightface-scrfd-{path.stem}",
            task="face-detection",
            licence=INSIGHTFACE_LICENCE,
            input_size=(det_size, det_size),
            notes=f"{path.name}; sha256 {'verified' if verified else 'unknown (not checked)'}",
        )

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        rgb = check_rgb(rgb)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        boxes, kpss = self._model.detect(bgr)
        if kpss is None:
            raise DetectorError("this SCRFD model gives no landmarks; use a *_kps model")
        h, w = rgb.shape[:2]
        faces = []
        for det, kps in zip(boxes, kpss, strict=True):
            box = clip_box(det[:4], w, h)
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            faces.append(
                DetectedFace(box=box, score=float(det[4]), landmarks=kps.astype(np.float32))
            )
        return faces


class ArcFaceEmbedder(FaceEmbedder):
    """InsightFace ArcFace recognition ONNX (``w600k_mbf`` / ``w600k_r50``), 112-pixel chips.

    ``threads`` is the process's core budget; each run uses one intra-op
    thread (:func:`detectors.concurrency.ort_session_options`).
    """

    def __init__(self, models_dir: Path | None, threads: int = 2, path: Path | None = None) -> None:
        path = path or find_model(models_dir, ARCFACE_PATHS, "ArcFace face embedder")
        verified = verify_model_file(path)
        try:
            import onnxruntime as ort

            # Shared, no lock: InferenceSession.run is thread-safe and the
            # embedder keeps no per-call state (one intra-op thread per run).
            self._session = ort.InferenceSession(
                str(path), sess_options=ort_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelUnavailable(f"cannot load ArcFace from {path.name}: {exc}") from exc
        inp = self._session.get_inputs()[0]
        out = self._session.get_outputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or shape[2:] != [112, 112]:
            raise ModelUnavailable(f"{path.name} does not take 112x112 faces (input {shape})")
        dim = out.shape[-1]
        if not isinstance(dim, int):
            raise ModelUnavailable(f"{path.name} has no fixed embedding size")
        self._input = inp.name
        # Some exports fix the batch at 1; then faces go through one by one.
        self._batch_one = shape[0] == 1
        self.info = ModelInfo(
            model_id=f"insightface-arcface-{path.stem}",
            task="face-embedding",
            licence=INSIGHTFACE_LICENCE,
            input_size=(112, 112),
            embedding_dim=int(dim),
            notes=f"{path.name}; sha256 {'verified' if verified else 'unknown (not checked)'}",
        )

    def embed(self, rgb: np.ndarray, faces: Sequence[DetectedFace]) -> np.ndarray:
        rgb = check_rgb(rgb)
        dim = int(self.info.embedding_dim or 0)
        if not faces:
            return np.zeros((0, dim), np.float32)
        chips = np.stack([align_face(rgb, f.landmarks, 112) for f in faces]).astype(np.float32)
        # ArcFace packs are trained on RGB scaled to [-1, 1] (insightface's
        # ArcFaceONNX: mean 127.5, std 127.5, swapRB from BGR).
        blob = ((chips - 127.5) / 127.5).transpose(0, 3, 1, 2)
        blob = np.ascontiguousarray(blob)
        if self._batch_one:
            parts = [
                self._session.run(None, {self._input: blob[i : i + 1]})[0]
                for i in range(len(faces))
            ]
            out = np.concatenate(parts, axis=0)
        else:
            out = self._session.run(None, {self._input: blob})[0]
        out = np.asarray(out, dtype=np.float32).reshape(len(faces), -1)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
