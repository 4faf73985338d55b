"""Face detection, embedding, comparison and tracking: the registry of backends by name.

``build_detector`` / ``build_embedder`` turn a settings name into a backend;
``available_backends`` lists what can run here, with licences, for the places
a backend is chosen. ``compare`` is the one-call same-person check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.base import DetectorError, Explanation, ModelInfo, ModelUnavailable
from detectors.faces.thresholds import (
    THRESHOLDS,
    TRACK_THRESHOLDS,
    Threshold,
    threshold_for,
    track_threshold_for,
)
from detectors.faces.types import (
    ARCFACE_TEMPLATE_112,
    DetectedFace,
    FaceDetector,
    FaceEmbedder,
    align_face,
    largest_face,
)

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "THRESHOLDS",
    "TRACK_THRESHOLDS",
    "VIDEO_MAX_SIDE",
    "Comparison",
    "DetectedFace",
    "FaceDetector",
    "FaceEmbedder",
    "NoFaceFound",
    "Threshold",
    "align_face",
    "available_backends",
    "build_detector",
    "build_embedder",
    "compare",
    "embed_largest",
    "threshold_for",
    "track_threshold_for",
]

DETECTORS = ("dlib-hog", "scrfd", "yunet")
# Working resolution for video frames: faces in clips are mostly large, and
# dlib HOG on a 640-pixel frame costs about a quarter of a 1280-pixel one.
# Faces under about 80 px at this scale (about 160 px in a 720p frame) are missed.
VIDEO_MAX_SIDE = 640
EMBEDDERS = ("dlib-resnet", "arcface")


class NoFaceFound(DetectorError):
    """An image that needed a face has none the detector could find."""


def build_detector(
    name: str,
    models_dir: Path | None,
    threads: int = 2,
    max_side: int | None = None,
    for_video: bool = False,
) -> FaceDetector:
    """A face detector by settings name: ``dlib-hog`` (default, offline), ``scrfd``, ``yunet``.

    ``max_side`` overrides the backend's working resolution (big frames are
    shrunk before detection and boxes mapped back). ``for_video`` picks the
    cheaper settings for sampled video frames: :data:`VIDEO_MAX_SIDE` and no
    HOG upsampling.

    Every backend is safe to call from many threads at once (see each one's
    comments and :mod:`detectors.concurrency`); ``threads`` is the process's
    core budget: at most that many calls run in parallel in a pooled backend.
    """
    if for_video and max_side is None:
        max_side = VIDEO_MAX_SIDE
    if name == "dlib-hog":
        from detectors.faces.dlib_backend import DlibHogDetector

        return DlibHogDetector(
            max_side=max_side if max_side is not None else 1024,
            upsample=0 if for_video else None,
            threads=threads,
        )
    if name == "scrfd":
        from detectors.faces.onnx_backends import ScrfdDetector

        return ScrfdDetector(models_dir, threads=threads)
    if name == "yunet":
        from detectors.faces.onnx_backends import YunetDetector

        if max_side is None:
            return YunetDetector(models_dir, threads=threads)
        return YunetDetector(models_dir, threads=threads, max_side=max_side)
    raise DetectorError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}")


def build_embedder(name: str, models_dir: Path | None, threads: int = 2) -> FaceEmbedder:
    """A face embedder by settings name: ``dlib-resnet`` (default, offline) or ``arcface``."""
    if name == "dlib-resnet":
        from detectors.faces.dlib_backend import DlibResnetEmbedder

        return DlibResnetEmbedder()
    if name == "arcface":
        from detectors.faces.onnx_backends import ArcFaceEmbedder

        return ArcFaceEmbedder(models_dir, threads=threads)
    raise DetectorError(f"unknown face embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")


def available_backends(models_dir: Path | None, threads: int = 1) -> list[ModelInfo]:
    """Every detector and embedder that loads here, each with its licence text.

    A backend that cannot load is listed with ``notes`` saying why, and
    ``task`` suffixed ``:unavailable``, so a chooser can show both.
    """
    result: list[ModelInfo] = []
    builders: list[tuple[str, str, Callable[[], FaceDetector | FaceEmbedder]]] = [
        *(
            (n, "face-detection", lambda n=n: build_detector(n, models_dir, threads))
            for n in DETECTORS
        ),
        *(
            (n, "face-embedding", lambda n=n: build_embedder(n, models_dir, threads))
            for n in EMBEDDERS
        ),
    ]
    for name, task, build in builders:
        try:
            result.append(build().info)
        except ModelUnavailable as exc:
            licence = (
                "InsightFace pretrained models: non-commercial research use only"
                if name in ("scrfd", "arcface")
                else "see backend"
            )
            result.append(
                ModelInfo(
                    model_id=name, task=f"{task}:unavailable", licence=licence, notes=str(exc)
                )
            )
    return result


def embed_largest(
    rgb: np.ndarray, detector: FaceDetector, embedder: FaceEmbedder, what: str = "image"
) -> tuple[DetectedFace, np.ndarray]:
    """The largest face in ``rgb`` and its embedding; :class:`NoFaceFound` when there is none."""
    face = largest_face(detector.detect(rgb))
    if face is None:
        raise NoFaceFound(f"no face found in {what} (detector {detector.info.model_id})")
    return face, embedder.embed(rgb, [face])[0]


@dataclass(frozen=True)
class Comparison:
    same_person: bool
    similarity: float
    threshold: float
    model: str
    face_a: DetectedFace
    face_b: DetectedFace
    explanation: Explanation

    def to_dict(self) -> dict[str, object]:
        return {
            "same_person": self.same_person,
            "similarity": round(self.similarity, 4),
            "threshold": self.threshold,
            "model": self.model,
            "face_a": self.face_a.to_dict(),
            "face_b": self.face_b.to_dict(),
            "explanation": self.explanation.to_dict(),
        }


def compare(
    img_a: np.ndarray,
    img_b: np.ndarray,
    detector: FaceDetector,
    embedder: FaceEmbedder,
    threshold: float | None = None,
) -> Comparison:
    """Same person? Cosine similarity of the largest face of each image against the model's threshold."""
    face_a, vec_a = embed_largest(img_a, detector, embedder, "the first image")
    face_b, vec_b = embed_largest(img_b, detector, embedder, "the second image")
    chosen = threshold_for(embedder.info.model_id, threshold)
    similarity = float(np.clip(np.dot(vec_a, vec_b), -1.0, 1.0))
    return Comparison(
        same_person=similarity >= chosen.value,
        similarity=similarity,
        threshold=chosen.value,
        model=embedder.info.model_id,
        face_a=face_a,
        face_b=face_b,
        explanation=Explanation(
            model_id=embedder.info.model_id,
            method="cosine similarity of the largest face of each image",
            score=similarity,
            threshold=chosen.value,
            details={"detector": detector.info.model_id, "threshold_source": chosen.source},
        ),
    )
