"""The process's detector models, each built on first use and then shared.

A :class:`Models` holds detectors only (no services, no store): the area
services that need a face detector or the age network receive this object
and ask it for the one model they use. Each backend is itself safe to call
from several threads (see ``detectors/``); this class only makes sure two
first calls do not load the same weights twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from detectors.age import AgeEstimator
    from detectors.faces.types import FaceDetector, FaceEmbedder
    from detectors.nudity import NudityDetector
    from detectors.prompt_safety import PromptSafetyClassifier
    from generator.video import TextToVideo
    from pipeline.config import PipelineConfig

T = TypeVar("T")

log = logging.getLogger("greenroom.models")


class Models:
    """Lazily built, process-wide detector instances for one configuration."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]  # type: ignore[no-any-return]

    @property
    def face_detector(self) -> FaceDetector:
        """For still images (upsampling on, higher working resolution)."""
        from detectors.faces import build_detector

        c = self.config
        return self._once(
            "face_detector", lambda: build_detector(c.face_detector, c.models_dir, c.threads)
        )

    @property
    def video_face_detector(self) -> FaceDetector:
        """For sampled video frames (cheaper settings; faces in clips are large)."""
        from detectors.faces import build_detector

        c = self.config
        return self._once(
            "video_face_detector",
            lambda: build_detector(c.face_detector, c.models_dir, c.threads, for_video=True),
        )

    @property
    def liveness_face_detector(self) -> FaceDetector:
        """The live check's detector: :data:`~pipeline.liveness.LIVENESS_DETECTOR` (dlib HOG).

        Its raw landmarks carry the head pose the live check's thresholds were
        calibrated on; YuNet's do not reproduce the fixture head turns (see
        :mod:`pipeline.liveness`). Falls back to the video detector (with a
        warning) when dlib cannot load.
        """
        from detectors.base import ModelUnavailable
        from detectors.faces import build_detector
        from pipeline.liveness import LIVENESS_DETECTOR

        c = self.config

        def build() -> FaceDetector:
            try:
                return build_detector(
                    LIVENESS_DETECTOR, c.models_dir, c.threads, for_video=True, fallback=False
                )
            except ModelUnavailable as exc:
                log.warning("live check: %s unavailable (%s)", LIVENESS_DETECTOR, exc)
                return self.video_face_detector

        return self._once("liveness_face_detector", build)

    @property
    def face_embedder(self) -> FaceEmbedder:
        from detectors.faces import build_embedder

        c = self.config
        return self._once(
            "face_embedder", lambda: build_embedder(c.face_embedder, c.models_dir, c.threads)
        )

    @property
    def age_estimator(self) -> AgeEstimator:
        from detectors.age import build_age_estimator

        c = self.config
        return self._once(
            "age_estimator",
            lambda: build_age_estimator(c.age_estimator, c.models_dir, threads=c.threads),
        )

    @property
    def nudity_detector(self) -> NudityDetector:
        from detectors.nudity import build_nudity_detector

        return self._once(
            "nudity_detector", lambda: build_nudity_detector(threads=self.config.threads)
        )

    @property
    def prompt_safety(self) -> PromptSafetyClassifier:
        from detectors.prompt_safety import PromptSafetyClassifier

        return self._once("prompt_safety", PromptSafetyClassifier)


def build_generator(config: PipelineConfig) -> TextToVideo:
    """The configured text-to-video model, loaded: the server's, or one per Ray actor."""
    import detectors  # noqa: F401  - the torchvision hook before diffusers is imported
    from generator.video import build_text_to_video

    return build_text_to_video(config.models_dir, "auto", threads=config.threads)
