"""The composition root: builds every service from Settings and wires them together.

This is the one place that knows which concrete class plays which part:
the pipeline's and the server's plain config objects come from Settings here;
the signal sources the gate asks and the job kinds the worker runs are
assembled here as registries of objects. Everything below ``greenroom/``
receives its collaborators in its constructor.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from fastapi import FastAPI

from feed.app import create_app
from feed.config import ServerConfig
from feed.ratelimit import rates_from
from feed.services import Services
from greenroom import __version__
from greenroom.settings import DEFAULT_PEPPER, LOOPBACK_HOSTS, Settings
from pipeline.accounts import AccountStanding
from pipeline.banks import BankService
from pipeline.characters import CharacterService
from pipeline.config import PipelineConfig
from pipeline.decide import DecisionPath
from pipeline.dossier import ClipDossier
from pipeline.executor import Executor, LocalExecutor, RayExecutor
from pipeline.feed import FeedService
from pipeline.gate import SCAN_JOB, Gate
from pipeline.generate import GENERATE_JOB, GenerationService
from pipeline.intake import MediaIntake
from pipeline.likeness import LikenessService
from pipeline.lineage import LineageSource
from pipeline.media import limits_from
from pipeline.models import Models
from pipeline.policy_store import PolicyService
from pipeline.posting import PostingService
from pipeline.provenance import ProvenanceService
from pipeline.reports import ReportService
from pipeline.review import ReviewService
from pipeline.safety import SafetySource
from pipeline.services import JobHandler, PipelineServices
from pipeline.sources import SignalSource
from pipeline.takedown import TAKEDOWN_JOB, TakedownService
from pipeline.teens import TeenService
from store.blobs import BlobStore
from store.db import Store
from store.users import Users


def pipeline_config(settings: Settings, store: Store | None = None) -> PipelineConfig:
    """The pipeline's configuration (the data directory is the store's when one is open)."""
    anchors = settings.trust_anchors
    limits = settings.limits
    return PipelineConfig(
        data_dir=store.data_dir if store is not None else settings.data_dir,
        models_dir=settings.models_dir,
        threads=settings.threads,
        media=limits_from(limits),
        max_blob_bytes=limits.max_blob_bytes,
        max_prompt_chars=limits.max_prompt_chars,
        max_policy_file_bytes=limits.max_policy_file_bytes,
        face_detector=settings.face_detector,
        face_embedder=settings.face_embedder,
        age_estimator=settings.age_estimator,
        image_text_model=settings.image_text_model,
        text_embedder=settings.text_embedder,
        trust_anchors_pem=anchors.read_text() if anchors is not None else None,
        signing_cert=settings.signing_cert,
        signing_key=settings.signing_key,
        timestamp_url=settings.timestamp_url,
        fetch_remote_manifests=settings.fetch_remote_manifests,
        quota_generate_per_day=settings.quota_generate_per_day,
        quota_generate_per_day_teen=settings.quota_generate_per_day_teen,
        invites_per_user=settings.invites_per_user,
        undo_window_seconds=settings.undo_window_seconds,
    )


def server_config(settings: Settings) -> ServerConfig:
    return ServerConfig(
        version=__version__,
        workers=settings.workers,
        warm_models=settings.warm_models,
        max_json_body_bytes=settings.limits.max_json_body_bytes,
        max_upload_bytes=settings.limits.max_upload_bytes,
        rate_limits=rates_from(settings.rate_limits),
    )


def users_for(store: Store, settings: Settings) -> Users:
    return Users(
        store,
        pepper=settings.token_pepper.get_secret_value(),
        token_ttl_hours=settings.token_ttl_hours,
        session_ttl_hours=settings.session_ttl_hours,
    )


def executor_for(settings: Settings, config: PipelineConfig) -> Executor:
    """Where scans compute their signals: this process, or a Ray actor pool (GREENROOM_EXECUTOR)."""
    if settings.executor == "ray":
        return RayExecutor(
            config,
            address=settings.ray_address,
            pool_size=settings.ray_pool_size,
            timeout_s=settings.ray_timeout_seconds,
            retry_s=settings.ray_retry_seconds,
        )
    return LocalExecutor()


def build_pipeline(
    store: Store, settings: Settings, *, extra_sources: tuple[SignalSource, ...] = ()
) -> PipelineServices:
    """Every pipeline service over one open store, wired explicitly.

    ``extra_sources`` are appended to the gate's source registry (a deployment's
    own detectors; tests use it to plug in a source that fails).
    """
    config = pipeline_config(settings, store)
    users = users_for(store, settings)
    blobs = BlobStore.in_data_dir(store.data_dir, config.max_blob_bytes)
    models = Models(config)
    intake = MediaIntake(store, blobs, config.media)
    policies = PolicyService(store, config.max_policy_file_bytes)
    teens = TeenService(store, users)
    provenance = ProvenanceService(store, config)
    banks = BankService(store, blobs, config.media)
    characters = CharacterService(store, blobs, config)
    safety = SafetySource(models)
    likeness = LikenessService(store, users, models, intake, blobs, teens, config)
    # The decision path's signal sources, in the order their findings are listed.
    lineage = LineageSource(store, characters, likeness)
    sources: tuple[SignalSource, ...] = (provenance, likeness, characters, safety, banks, lineage)
    path = DecisionPath(store, policies, (*sources, *extra_sources), executor_for(settings, config))
    gate = Gate(store, users, intake, path, config)
    takedown = TakedownService(store, users, path, likeness)
    generation = GenerationService(
        store, users, blobs, gate, provenance, config, executor=path.executor
    )
    accounts = AccountStanding(store, users, path)
    review = ReviewService(
        store, users, path, generation, provenance, banks, accounts,
        undo_window=timedelta(seconds=config.undo_window_seconds),
    )  # fmt: skip
    feed = FeedService(store, teens)
    posting = PostingService(store, gate)
    reports = ReportService(store, users, path)
    job_handlers: Mapping[str, JobHandler] = {
        SCAN_JOB: gate.run_job,
        TAKEDOWN_JOB: takedown.run_takedown,
        GENERATE_JOB: generation.run_job,
    }
    return PipelineServices(
        config=config,
        store=store,
        users=users,
        blobs=blobs,
        models=models,
        intake=intake,
        policies=policies,
        teens=teens,
        provenance=provenance,
        banks=banks,
        characters=characters,
        safety=safety,
        likeness=likeness,
        takedown=takedown,
        path=path,
        gate=gate,
        generation=generation,
        review=review,
        dossier=ClipDossier(store, gate, review),
        accounts=accounts,
        feed=feed,
        posting=posting,
        reports=reports,
        job_handlers=job_handlers,
    )


def build_services(store: Store, settings: Settings) -> Services:
    """The server's services over an already open store (the CLI's direct mode uses this too)."""
    pipeline = build_pipeline(store, settings)
    return Services(
        config=server_config(settings), store=store, users=pipeline.users, pipeline=pipeline
    )


def open_services(settings: Settings, *, owner: str = "server") -> Services:
    """Open the data directory (this process becomes its owner) and build the services."""
    store = Store(settings.data_dir, owner=owner, address=settings.server_url)
    try:
        return build_services(store, settings)
    except BaseException:
        store.close()
        raise


def check_serving(settings: Settings) -> None:
    """Refuse to serve beyond loopback with the development pepper (tokens would be guessable offline)."""
    public = settings.server_host not in LOOPBACK_HOSTS
    if public and settings.token_pepper.get_secret_value() == DEFAULT_PEPPER:
        raise ValueError(
            f"refusing to serve on {settings.server_host} with the development token pepper: "
            "set GREENROOM_TOKEN_PEPPER to a long random secret"
        )


def make_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The FastAPI app; without ``services`` it opens the data directory at start-up."""
    return create_app(
        server_config(settings), services=services, open_services=lambda: open_services(settings)
    )
