"""The pipeline's services, built and wired by the composition root (``greenroom.wiring``).

A plain container: every service here got its collaborators in its own
constructor, so nothing reaches for another through this object. The server
and the CLI hold one to hand each route or command the service it calls.
The signal sources the gate asks and the job kinds the worker runs are
registries of objects assembled by the composition root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.accounts import AccountStanding
from pipeline.banks import BankService
from pipeline.characters import CharacterService
from pipeline.config import PipelineConfig
from pipeline.decide import DecisionPath
from pipeline.dossier import ClipDossier
from pipeline.feed import FeedService
from pipeline.gate import Gate
from pipeline.generate import GenerationService
from pipeline.intake import MediaIntake
from pipeline.likeness import LikenessService
from pipeline.models import Models
from pipeline.policy_store import PolicyService
from pipeline.posting import PostingService
from pipeline.provenance import ProvenanceService
from pipeline.reports import ReportService
from pipeline.review import ReviewService
from pipeline.safety import SafetySource
from pipeline.takedown import TakedownService
from pipeline.teens import TeenService
from store import jobs
from store.blobs import BlobStore
from store.db import Store
from store.users import Users

log = logging.getLogger("greenroom.warm_up")

JobHandler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class PipelineServices:
    """Every built pipeline service for one data directory."""

    config: PipelineConfig
    store: Store
    users: Users
    blobs: BlobStore
    models: Models
    intake: MediaIntake
    policies: PolicyService
    teens: TeenService
    provenance: ProvenanceService
    banks: BankService
    characters: CharacterService
    safety: SafetySource
    likeness: LikenessService
    takedown: TakedownService
    path: DecisionPath
    gate: Gate
    generation: GenerationService
    review: ReviewService
    dossier: ClipDossier
    accounts: AccountStanding
    feed: FeedService
    posting: PostingService
    reports: ReportService
    # Job kind -> handler, for the durable job worker.
    job_handlers: Mapping[str, JobHandler] = field(default_factory=dict)

    @property
    def media_limits(self) -> Any:
        return self.config.media

    def warm_up(self) -> dict[str, str]:
        """Load every model a prompt check or a scan uses now, not on the first request.

        Model name -> ``"loaded"``, or the class name of what stopped it. A model
        that cannot load is not fatal here: its source fails at scan time and
        forces review, as it would without the warm-up.
        """
        steps: dict[str, Callable[[], object]] = {
            "prompt_safety": lambda: self.models.prompt_safety,
            "characters": lambda: self.characters.detectors,
            "face_detector": lambda: self.models.face_detector,
            "video_face_detector": lambda: self.models.video_face_detector,
            "face_embedder": lambda: self.models.face_embedder,
            "age_estimator": lambda: self.models.age_estimator,
            "nudity_detector": lambda: self.models.nudity_detector,
        }
        status: dict[str, str] = {}
        for name, load in steps.items():
            try:
                load()
            except Exception as exc:  # reported, not raised: see the docstring
                log.warning("warm-up: %s did not load (%s)", name, type(exc).__name__)
                status[name] = type(exc).__name__
            else:
                status[name] = "loaded"
        return status

    def worker(
        self,
        *,
        only: Collection[str] | None = None,
        exclude: Collection[str] = (),
        **kwargs: Any,
    ) -> jobs.Worker:
        """A (not yet started) worker over the store for the registered job kinds (a lane)."""
        handlers = {
            kind: handler
            for kind, handler in self.job_handlers.items()
            if (only is None or kind in only) and kind not in exclude
        }
        return jobs.Worker(self.store, handlers, **kwargs)
