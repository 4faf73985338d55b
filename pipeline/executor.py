"""Where a scan's signal sources run: this process (the default) or a Ray actor pool.

The decision path (:class:`pipeline.decide.DecisionPath`) hands every scan's
sources to an :class:`Executor` and gets back, per source, its signals and its
part of the policy view, or the class name of the error it raised. Only
computing happens here: the server process records the decision (scan,
signals, decision, clip, queue item, audit: one transaction) exactly as it
always has, so the store keeps one writer whichever executor computed.

- :class:`LocalExecutor` (``GREENROOM_EXECUTOR=local``, the default) runs every
  source in the calling thread. Every scan says ``ran_on: "local"``.
- :class:`RayExecutor` (``GREENROOM_EXECUTOR=ray``) sends the store-free work
  (:func:`store_free_work`) to a pool of Ray actors, each of which loads its
  models once: the sources that need no store (ages, nudity, prompt
  categories) and the store-free steps of the sources that do (the face
  tracks and embeddings likeness matches on: its heavy part; the keyframes'
  PDQ hashes provenance and the banks match on; the keyframes' character
  features, hashes, ORB keypoints and CLIP embeddings, that the characters
  source matches on). The sources that need nothing from the actor (lineage)
  run in the server meanwhile; likeness, provenance, banks and characters
  run in the server on the actor's results once they are back. A media scan
  whose remote part ran on Ray says ``ran_on: "ray:<node id>"``. A prompt-only check stays local: it is
  cheaper than the round trip.

Generations go the same way (:meth:`Executor.generate`): on Ray, an actor
builds the text-to-video model once and computes the frames; watermarking,
the output scan, signing and publishing stay in the server. The result says
``ran_on``.

If a Ray call fails -- the cluster is gone, an actor died, the call timed out --
the same sources run here instead and the scan says ``ran_on: "local"``. Nothing
was recorded by the actor, so nothing is recorded twice; the scan job itself
is recorded once, by the server, after its signals are back. After a failure
the pool is not tried again for ``retry_s`` seconds.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from detectors.base import MediaError, Signal
from generator.video import GeneratorError
from pipeline.sources import FeatureStep, ScanInput, SignalSource
from policies.schema import SIGNAL_ROOTS, SignalView

if TYPE_CHECKING:
    from generator.video import GeneratorInfo, TextToVideo
    from pipeline.config import PipelineConfig

log = logging.getLogger("greenroom.executor")

LOCAL = "local"


@dataclass
class RemoteWork:
    """What an actor computes: whole store-free sources and store-free feature steps."""

    sources: Sequence[SignalSource]
    features: Sequence[FeatureStep] = ()


WorkFactory = Callable[["PipelineConfig"], RemoteWork]


@dataclass
class SourceRun:
    """One source's result for one scan: its signals and view part, or the error it raised."""

    name: str
    signals: list[Signal] = field(default_factory=list)
    part: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # the exception's class name (its text can carry input values)
    ran_on: str = LOCAL


@dataclass
class Ran:
    """Every source's run for one scan, in the order the sources were given."""

    runs: list[SourceRun]
    ran_on: str = LOCAL
    # Why a remote call was not used (the exception's class name), when it failed.
    fallback: str | None = None
    # Where each feature step handed to the sources was computed (remote ones only).
    features_on: dict[str, str] = field(default_factory=dict)

    @property
    def placement(self) -> dict[str, str]:
        return {run.name: run.ran_on for run in self.runs}


@dataclass(frozen=True)
class FramesRequest:
    """One text-to-video call: everything the model is asked, nothing from the store."""

    prompt: str
    seconds: float
    fps: float
    width: int
    height: int
    seed: int

    def run(self, generator: TextToVideo) -> list[np.ndarray]:
        return generator.generate(
            self.prompt,
            seconds=self.seconds,
            fps=self.fps,
            width=self.width,
            height=self.height,
            seed=self.seed,
        )


@dataclass
class Generated:
    """A generation's frames, the model that made them, and where it ran."""

    frames: list[np.ndarray]
    info: GeneratorInfo
    ran_on: str = LOCAL
    # Why a remote call was not used (the exception's class name), when it failed.
    fallback: str | None = None


class Executor(Protocol):
    """Runs a scan's signal sources, or a generation, somewhere; the server records the results."""

    name: str

    def run(self, scan: ScanInput, sources: Sequence[SignalSource]) -> Ran: ...

    def generate(self, request: FramesRequest, local: Callable[[], TextToVideo]) -> Generated:
        """``request``'s frames; ``local()`` is the server's own model, for running here."""
        ...

    def close(self) -> None: ...


def run_source(source: SignalSource, scan: ScanInput, where: str = LOCAL) -> SourceRun:
    """One source on one scan; its failure is its result, except a bad upload (:class:`MediaError`)."""
    name = source.name
    try:
        found = list(source.signals(scan))
        part = source.view(scan, found)
        # Typed at the boundary: a source whose part does not fit the policy's
        # signal view fails here (forced review), not silently in a condition.
        SignalView.model_validate({k: v for k, v in part.items() if k in SIGNAL_ROOTS})
    except MediaError:
        raise  # the upload itself is bad: the door refuses it
    except Exception as exc:  # one source's failure must not decide the clip
        log.exception("source %s failed", name)
        return SourceRun(name, error=type(exc).__name__, ran_on=where)
    return SourceRun(name, found, part if isinstance(part, Mapping) else {}, ran_on=where)


class LocalExecutor:
    """Every source in the calling thread (today's path, the default)."""

    name = "local"

    def run(self, scan: ScanInput, sources: Sequence[SignalSource]) -> Ran:
        return Ran([run_source(source, scan) for source in sources])

    def generate(self, request: FramesRequest, local: Callable[[], TextToVideo]) -> Generated:
        generator = local()
        return Generated(request.run(generator), generator.info)

    def close(self) -> None:
        return None


def store_free_work(config: PipelineConfig) -> RemoteWork:
    """What a Ray actor builds from the configuration alone: it needs models, no store.

    One set of models for all of it, so the ages source and the face tracks share
    the scan's face detections (``FrameMemo``) on the actor as they do here.
    """
    from pipeline.characters import character_features_for
    from pipeline.likeness import FaceTracks
    from pipeline.models import Models
    from pipeline.safety import SafetySource
    from pipeline.sources import KEYFRAME_PDQ

    models = Models(config)
    return RemoteWork(
        [SafetySource(models)],
        [FaceTracks(models), KEYFRAME_PDQ, character_features_for(config)],
    )


@dataclass
class _ActorResult:
    runs: list[SourceRun]
    features: dict[str, Any]
    where: str


class _ScanActor:
    """One Ray actor: builds its sources and steps (loading their models) once, then computes."""

    def __init__(self, config: PipelineConfig, build: WorkFactory) -> None:
        import ray

        work = build(config)
        self.config = config
        self.sources = {source.name: source for source in work.sources}
        self.features = {step.name: step for step in work.features}
        self.where = f"ray:{ray.get_runtime_context().get_node_id()}"
        self._generator: TextToVideo | None = None  # built on the first generation

    def generate(self, request: FramesRequest) -> tuple[list[np.ndarray], GeneratorInfo, str]:
        # An actor runs one call at a time (Ray's default), so building once needs no lock.
        if self._generator is None:
            from pipeline.models import build_generator

            self._generator = build_generator(self.config)
        return request.run(self._generator), self._generator.info, self.where

    def run(self, scan: ScanInput, names: list[str], features: list[str]) -> _ActorResult:
        # Feature steps first: the sources after them reuse the detections they made.
        computed: dict[str, Any] = {}
        for name in features:
            try:
                computed[name] = self.features[name].compute(scan)
            except MediaError:
                raise  # the upload is bad: the door refuses it
            except Exception:
                # Left out: the server computes it again inside the source that needs it,
                # which then fails alone (forced review), as on the local executor.
                log.exception("feature step %s failed on the actor", name)
        runs = [run_source(self.sources[name], scan, self.where) for name in names]
        return _ActorResult(runs, computed, self.where)


class RayExecutor:
    """Store-free sources on a Ray actor pool; the rest, and every write, in the server.

    ``address`` is a Ray address (``auto``, ``host:6379``, ``ray://host:10001``);
    empty starts a local Ray instance. When Ray is already initialised in this
    process (a test's local instance), that one is used.
    """

    name = "ray"

    def __init__(
        self,
        config: PipelineConfig,
        *,
        address: str = "",
        pool_size: int = 1,
        timeout_s: float = 600.0,
        retry_s: float = 60.0,
        build: WorkFactory = store_free_work,
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:  # a configuration error, said at start-up
            raise RuntimeError(
                "GREENROOM_EXECUTOR=ray needs Ray: pip install -c requirements/constraints.txt "
                "'greenroom[ray]'"
            ) from exc
        # The actors' working directory is not the server's: hand them absolute paths.
        self.config = replace(
            config, data_dir=config.data_dir.resolve(), models_dir=config.models_dir.resolve()
        )
        self.address = address
        self.pool_size = max(1, int(pool_size))
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.build = build
        # The names the actors build, known without starting one (sources and steps
        # build their models on first use, so building them here loads nothing).
        work = build(self.config)
        self.remote_names = frozenset(source.name for source in work.sources)
        self.remote_features = frozenset(step.name for step in work.features)
        self._lock = threading.Lock()
        self._actors: list[Any] = []
        self._next = itertools.count()
        self._down_until = 0.0
        self.fallbacks = 0

    # -- the pool ---------------------------------------------------------------------------

    def _actor(self) -> Any:
        """An actor of the pool (round robin), starting Ray and the pool on first use."""
        import ray

        with self._lock:
            if time.monotonic() < self._down_until:
                raise ConnectionError("the Ray pool failed recently; running locally")
            if not self._actors:
                if not ray.is_initialized():
                    ray.init(
                        address=self.address or None,
                        include_dashboard=False,
                        log_to_driver=False,
                        ignore_reinit_error=True,
                    )
                actor_class = ray.remote(num_cpus=1, max_restarts=0)(_ScanActor)
                self._actors = [
                    actor_class.remote(self.config, self.build) for _ in range(self.pool_size)
                ]
            return self._actors[next(self._next) % len(self._actors)]

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self._actors = []  # a new pool (or a new connection) after retry_s
            self._down_until = time.monotonic() + self.retry_s
            self.fallbacks += 1
        log.warning(
            "Ray call failed (%s); running this scan locally, pool retried in %.0f s",
            type(exc).__name__,
            self.retry_s,
        )

    # -- running ----------------------------------------------------------------------------

    def run(self, scan: ScanInput, sources: Sequence[SignalSource]) -> Ran:
        remote = [s for s in sources if s.name in self.remote_names] if scan.frames else []
        needs = {s.name: set(getattr(s, "needs", ())) for s in sources}
        wanted = sorted(set().union(*needs.values()) & self.remote_features)
        if not scan.frames or not (remote or wanted):
            return LocalExecutor().run(scan, sources)
        names = [s.name for s in remote]
        pending: Any = None
        fallback: str | None = None
        try:
            pending = self._actor().run.remote(scan, names, wanted)
        except Exception as exc:
            self._failed(exc)
            fallback = type(exc).__name__

        def waits(source: SignalSource) -> bool:
            return pending is not None and (
                source.name in names or bool(needs[source.name] & set(wanted))
            )

        # The store's sources that need nothing from the actor run here while it computes.
        by_name = {s.name: run_source(s, scan) for s in sources if not waits(s)}
        features_on: dict[str, str] = {}
        if pending is not None:
            import ray

            try:
                result: _ActorResult = ray.get(pending, timeout=self.timeout_s)
                by_name.update({run.name: run for run in result.runs})
                scan.features.update(result.features)
                features_on = dict.fromkeys(result.features, result.where)
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, MediaError):
                    raise exc.cause from None  # the upload is bad: the door refuses it, as here
                self._failed(exc)
                fallback = type(exc).__name__
                by_name.update({s.name: run_source(s, scan) for s in remote})
            except Exception as exc:  # the cluster went away, an actor died, a timeout
                self._failed(exc)
                fallback = type(exc).__name__
                by_name.update({s.name: run_source(s, scan) for s in remote})
        # Sources that waited for features: with them now (or computing them here after
        # a failed call, through scan.feature).
        by_name.update({s.name: run_source(s, scan) for s in sources if s.name not in by_name})
        ordered = [by_name[s.name] for s in sources]
        remote_where = sorted({r.ran_on for r in ordered if r.ran_on != LOCAL})
        remote_where += sorted(set(features_on.values()) - set(remote_where))
        return Ran(ordered, remote_where[0] if remote_where else LOCAL, fallback, features_on)

    def generate(self, request: FramesRequest, local: Callable[[], TextToVideo]) -> Generated:
        """The frames from an actor of the pool, or from ``local()`` here if the call fails.

        A request the model refuses (:class:`GeneratorError`) is refused the same
        way as here; any other failure runs the generation here, once. Nothing
        was recorded by the actor, so nothing is recorded twice.
        """
        fallback: str | None = None
        try:
            import ray

            pending = self._actor().generate.remote(request)
            frames, info, where = ray.get(pending, timeout=self.timeout_s)
            return Generated(frames, info, where)
        except Exception as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, GeneratorError):
                raise cause from None  # the request is bad: the same answer as here
            self._failed(exc)
            fallback = type(exc).__name__
        generated = LocalExecutor().generate(request, local)
        generated.fallback = fallback
        return generated

    def close(self) -> None:
        import ray

        with self._lock:
            actors, self._actors = self._actors, []
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone with its cluster
                log.debug("Ray actor already gone", exc_info=True)
