"""The pipeline's shared context: the store, the settings, and every detector, built once and lazily.

A :class:`Pipeline` is what the server (and the CLI, when it runs without a
server) holds. Models load on first use, not at start-up, and are shared by
every request and worker in the process. Each area's service (likeness,
characters, banks, policies, provenance, review, generation, the gate) lives
in its own module and is reached through a property here, so callers write
``ctx.likeness.match(...)`` and never build detectors themselves.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from greenroom.settings import Settings
from pipeline.media import MediaLimits, limits_from
from store.db import Store

if TYPE_CHECKING:
    from detectors.age import AgeEstimator
    from detectors.faces.types import FaceDetector, FaceEmbedder
    from detectors.nudity import NudityDetector
    from detectors.prompt_safety import PromptSafetyClassifier
    from pipeline.banks import BankService
    from pipeline.characters import CharacterService
    from pipeline.feed import FeedService
    from pipeline.gate import Gate
    from pipeline.generate import GenerationService
    from pipeline.likeness import LikenessService
    from pipeline.policy_store import PolicyService
    from pipeline.provenance import ProvenanceService
    from pipeline.review import ReviewService
    from pipeline.safety import SafetySource
    from pipeline.teens import TeenService


class Pipeline:
    """Store + settings + lazily built detectors and area services."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        # cached_property is not thread-safe on its own: two requests could
        # both load a model. One lock around first builds is enough.
        self._build_lock = threading.RLock()

    def _once(self, name: str, build: Any) -> Any:
        with self._build_lock:
            if name not in self.__dict__:
                self.__dict__[name] = build()
            return self.__dict__[name]

    # -- limits ----------------------------------------------------------------

    @cached_property
    def media_limits(self) -> MediaLimits:
        return limits_from(self.settings.limits)

    # -- detectors (shared, loaded on first use) ---------------------------------

    @property
    def face_detector(self) -> FaceDetector:
        """For still images (upsampling on, higher working resolution)."""
        from detectors.faces import build_detector

        s = self.settings
        return self._once(
            "_face_detector", lambda: build_detector(s.face_detector, s.models_dir, s.threads)
        )

    @property
    def video_face_detector(self) -> FaceDetector:
        """For sampled video frames (cheaper settings; faces in clips are large)."""
        from detectors.faces import build_detector

        s = self.settings
        return self._once(
            "_video_face_detector",
            lambda: build_detector(s.face_detector, s.models_dir, s.threads, for_video=True),
        )

    @property
    def face_embedder(self) -> FaceEmbedder:
        from detectors.faces import build_embedder

        s = self.settings
        return self._once(
            "_face_embedder", lambda: build_embedder(s.face_embedder, s.models_dir, s.threads)
        )

    @property
    def age_estimator(self) -> AgeEstimator:
        from detectors.age import build_age_estimator

        s = self.settings
        return self._once(
            "_age_estimator",
            lambda: build_age_estimator(s.age_estimator, s.models_dir, threads=s.threads),
        )

    @property
    def nudity_detector(self) -> NudityDetector:
        from detectors.nudity import build_nudity_detector

        return self._once(
            "_nudity_detector", lambda: build_nudity_detector(threads=self.settings.threads)
        )

    @property
    def prompt_safety(self) -> PromptSafetyClassifier:
        from detectors.prompt_safety import PromptSafetyClassifier

        return self._once("_prompt_safety", PromptSafetyClassifier)

    @property
    def trust_anchors_pem(self) -> str | None:
        path = self.settings.trust_anchors
        return path.read_text() if path is not None else None

    # -- area services ----------------------------------------------------------------

    @property
    def likeness(self) -> LikenessService:
        from pipeline.likeness import LikenessService

        return self._once("_likeness", lambda: LikenessService(self))

    @property
    def characters(self) -> CharacterService:
        from pipeline.characters import CharacterService

        return self._once("_characters", lambda: CharacterService(self))

    @property
    def banks(self) -> BankService:
        from pipeline.banks import BankService

        return self._once("_banks", lambda: BankService(self))

    @property
    def safety(self) -> SafetySource:
        from pipeline.safety import SafetySource

        return self._once("_safety", lambda: SafetySource(self))

    @property
    def teens(self) -> TeenService:
        from pipeline.teens import TeenService

        return self._once("_teens", lambda: TeenService(self))

    @property
    def policies(self) -> PolicyService:
        from pipeline.policy_store import PolicyService

        return self._once("_policies", lambda: PolicyService(self))

    @property
    def provenance(self) -> ProvenanceService:
        from pipeline.provenance import ProvenanceService

        return self._once("_provenance", lambda: ProvenanceService(self))

    @property
    def review(self) -> ReviewService:
        from pipeline.review import ReviewService

        return self._once("_review", lambda: ReviewService(self))

    @property
    def generation(self) -> GenerationService:
        from pipeline.generate import GenerationService

        return self._once("_generation", lambda: GenerationService(self))

    @property
    def gate(self) -> Gate:
        from pipeline.gate import Gate

        return self._once("_gate", lambda: Gate(self))

    @property
    def feed(self) -> FeedService:
        from pipeline.feed import FeedService

        return self._once("_feed", lambda: FeedService(self))
