"""Scans on a Ray actor pool (GREENROOM_EXECUTOR=ray): same signals, the server records, local fallback.

A real local Ray instance (one CPU, no dashboard) for the module. The actor
computes the store-free sources (ages, nudity) and the store-free steps of the
others (likeness's face tracks and embeddings, the keyframes' PDQ hashes that
provenance and the banks match on, and their character features); the server matches those against the
store, runs the other sources and records every result itself, so when Ray
goes away mid-way the next job runs here, says ``ran_on: "local"`` and is
recorded exactly once. Generations run on the same pool.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.base import Signal
from detectors.hashing import pdq_hash
from generator.video import GeneratorError
from greenroom.settings import Settings
from greenroom.wiring import build_services, pipeline_config
from pipeline.characters import RefUpload
from pipeline.config import PipelineConfig
from pipeline.executor import FramesRequest, LocalExecutor, RayExecutor, RemoteWork
from pipeline.media import Frame, load_image
from pipeline.models import build_generator
from pipeline.sources import ScanInput
from store import jobs
from store.db import Store

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

pytestmark = pytest.mark.slow  # starting Ray and loading the actor's models: about a minute


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # This module's own feature step and source travel to the actor by value
    # (the actor's worker cannot import the tests package).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        if ray.is_initialized():
            ray.shutdown()


def on_ray(settings: Settings) -> Settings:
    # A failed pool is not retried within the test: the next job must run locally.
    return settings.model_copy(update={"executor": "ray", "ray_retry_seconds": 3600.0})


def _comparable(signals: list[dict[str, Any]]) -> list[Any]:
    # Each run has its own store: bank entries' and characters' ids are the values that differ.
    same = [json.loads(re.sub(r"(hbe|chr)_[0-9a-f]+", r"\1_*", json.dumps(s))) for s in signals]
    return sorted(same, key=lambda s: (s["source"], s["kind"], repr(s)))


def scan_once(settings: Settings, data_dir: Path, image: Path) -> dict[str, Any]:
    with Store(data_dir) as store:
        svc = build_services(store, settings)
        with store.transaction() as tx:
            user = svc.users.create(tx, "uploader", "user", birth_year=1990)
        # The image is in a hash bank: its match needs the keyframe hashes.
        svc.pipeline.banks.create_bank("known", "a banked portrait", "", None)
        banked = {"hash": pdq_hash(load_image(image)).hex, "kind": "pdq", "label": "known"}
        svc.pipeline.banks.add_entries("known", [banked | {"severity": "high"}], None)
        # And a registered character drawn from it: its match needs the keyframes' features.
        with store.transaction() as tx:
            owner = svc.users.create(tx, "studio", "rights_holder")
        svc.pipeline.characters.register(
            None, owner, name="Portrait", policy="review", refs=[RefUpload(image.read_bytes())]
        )
        result = svc.pipeline.gate.scan(image.read_bytes(), user, "a portrait")
        svc.pipeline.path.executor.close()
        return {
            "signals": result.signals,
            "explanation": result.decision["explanation"],
            "outcome": result.decision["outcome"],
        }


def test_the_default_executor_is_local(settings: Settings, face_image: Path) -> None:
    assert settings.executor == "local"
    with Store(settings.data_dir) as store:
        svc = build_services(store, settings)
        assert isinstance(svc.pipeline.path.executor, LocalExecutor)


def test_a_scan_on_ray_gives_the_local_signals(
    local_ray: None, settings: Settings, face_image: Path, tmp_path: Path
) -> None:
    local = scan_once(settings, tmp_path / "local", face_image)
    remote = scan_once(on_ray(settings), tmp_path / "ray", face_image)
    assert local["explanation"]["ran_on"] == "local"
    assert remote["explanation"]["ran_on"].startswith("ray:")
    assert remote["explanation"]["ran_on_sources"]["safety"].startswith("ray:")
    # Likeness matches against the store here, on face tracks the actor computed.
    assert remote["explanation"]["ran_on_sources"]["likeness"] == "local"
    assert remote["explanation"]["ran_on_features"]["face_tracks"].startswith("ray:")
    # Provenance's own-output lookup and the banks match here on the actor's PDQ hashes.
    assert remote["explanation"]["ran_on_features"]["keyframe_pdq"].startswith("ray:")
    assert remote["explanation"]["ran_on_sources"]["provenance"] == "local"
    assert remote["explanation"]["ran_on_sources"]["banks"] == "local"
    # The characters source matches the registry here, on the actor's keyframe features.
    assert remote["explanation"]["ran_on_features"]["keyframe_characters"].startswith("ray:")
    assert remote["explanation"]["ran_on_sources"]["characters"] == "local"
    assert any(s["kind"] == "character.match" for s in remote["signals"])
    assert remote["explanation"]["executor_fallback"] is None
    faces = [s for s in remote["signals"] if s["source"] == "likeness"]
    assert faces, "the portrait's face reaches the likeness source from the actor's tracks"
    assert any(s["kind"] == "hash.match" for s in remote["signals"])
    kinds = {s["kind"] for s in remote["signals"] if s["source"] == "safety"}
    assert "minor.age_estimate" in kinds and "nudity.score" in kinds
    assert _comparable(remote["signals"]) == _comparable(local["signals"])
    assert remote["outcome"] == local["outcome"]


# The test's process: the actor runs in another (this value travels to it with the class).
_SERVER_PID = os.getpid()


class FrameCount:
    """A feature step (the count of frames) that fails on the actor, or everywhere."""

    name = "frame_count"

    def __init__(self, fails_everywhere: bool) -> None:
        self.fails_everywhere = fails_everywhere

    def compute(self, scan: ScanInput) -> int:
        if self.fails_everywhere or os.getpid() != _SERVER_PID:
            raise RuntimeError("the step failed")
        return len(scan.frames)


class FrameCountSource:
    """A source that reads the step's result, as likeness reads the face tracks."""

    name = "frame_counter"
    needs = ("frame_count",)

    def __init__(self, step: FrameCount) -> None:
        self.step = step

    def signals(self, scan: ScanInput) -> list[Signal]:
        scan.feature(self.step)
        return []

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        return {}


def _work_failing_everywhere(config: PipelineConfig) -> RemoteWork:
    return RemoteWork([], [FrameCount(fails_everywhere=True)])


def _work_failing_on_the_actor(config: PipelineConfig) -> RemoteWork:
    return RemoteWork([], [FrameCount(fails_everywhere=False)])


def _scan() -> ScanInput:
    frames = [Frame(t=t, rgb=np.zeros((32, 32, 3), np.uint8)) for t in (0.0, 0.5, 1.0)]
    return ScanInput(stage="upload", creator=None, audience="adult", frames=frames)


@pytest.mark.parametrize("everywhere", [False, True], ids=["on-the-actor", "everywhere"])
def test_a_feature_step_failing_on_the_actor_is_computed_here_and_the_pool_kept(
    local_ray: None, settings: Settings, everywhere: bool
) -> None:
    build = _work_failing_everywhere if everywhere else _work_failing_on_the_actor
    executor = RayExecutor(pipeline_config(settings), build=build, retry_s=3600.0)
    try:
        scan = _scan()
        ran = executor.run(scan, [FrameCountSource(FrameCount(fails_everywhere=everywhere))])
        # The actor answered (no fallback, the pool not marked failed) without the step.
        assert ran.fallback is None and executor.fallbacks == 0
        assert ran.features_on == {}
        (run,) = ran.runs
        assert run.ran_on == "local"
        if everywhere:
            # The source meets the step's error alone, as on the local executor.
            assert run.error == "RuntimeError"
            assert (
                LocalExecutor().run(_scan(), [FrameCountSource(FrameCount(True))]).runs[0].error
                == "RuntimeError"
            )
        else:
            assert run.error is None
            assert scan.features["frame_count"] == 3  # computed here, after the actor
    finally:
        executor.close()


def test_a_generation_on_ray_gives_the_local_frames(local_ray: None, settings: Settings) -> None:
    config = pipeline_config(settings)
    request = FramesRequest("a red balloon", seconds=0.5, fps=8.0, width=64, height=64, seed=3)
    model = build_generator(config)
    here = LocalExecutor().generate(request, lambda: model)
    executor = RayExecutor(config, retry_s=3600.0)
    try:
        remote = executor.generate(request, lambda: model)
    finally:
        executor.close()
    assert here.ran_on == "local"
    assert remote.ran_on.startswith("ray:") and remote.fallback is None
    assert remote.info == here.info  # the actor built the same model from the configuration
    assert len(remote.frames) == len(here.frames) == 4
    assert all(np.array_equal(a, b) for a, b in zip(remote.frames, here.frames, strict=True))


def test_a_request_the_model_refuses_is_refused_the_same_on_ray(
    local_ray: None, settings: Settings
) -> None:
    config = pipeline_config(settings)
    bad = FramesRequest("a red balloon", seconds=0.5, fps=8.0, width=60, height=64, seed=3)
    executor = RayExecutor(config, retry_s=3600.0)
    try:
        with pytest.raises(GeneratorError, match="multiple of 8"):
            executor.generate(bad, lambda: build_generator(config))
        assert executor.fallbacks == 0  # the pool is fine: the request was not
    finally:
        executor.close()


# Last: it shuts the module's Ray instance down.
def test_ray_gone_mid_way_runs_the_next_job_locally_once(
    local_ray: None, settings: Settings, face_image: Path
) -> None:
    with Store(settings.data_dir) as store:
        svc = build_services(store, on_ray(settings))
        assert isinstance(svc.pipeline.path.executor, RayExecutor)
        with store.transaction() as tx:
            user = svc.users.create(tx, "uploader", "user", birth_year=1990)
        gate = svc.pipeline.gate
        worker = svc.pipeline.worker(poll_s=0.05)

        generation = svc.pipeline.generation
        generation.width = generation.height = 64  # small frames: a generation in a second
        made = generation.generate(user, "a red balloon over a lake", seconds=0.5, seed=1)
        assert made.ran_on is not None and made.ran_on.startswith("ray:")
        assert made.executor_fallback is None and made.status == "published"

        first = gate.submit(face_image.read_bytes(), user, "a portrait")
        assert worker.run_once() is True
        done = jobs.get_job(store, first["job_id"])
        assert done.status == "done" and done.result is not None
        assert done.result["ran_on"].startswith("ray:")

        ray.shutdown()  # the cluster disappears between two jobs

        second = gate.submit(face_image.read_bytes(), user, "a portrait")
        assert worker.run_once() is True
        assert worker.run_once() is False  # nothing left, nothing retried
        again = jobs.get_job(store, second["job_id"])
        assert again.status == "done" and again.attempts == 1
        assert again.result is not None and again.result["ran_on"] == "local"
        clip_id = second["clip_id"]
        rows = store.query_dicts("SELECT id, details FROM decisions WHERE clip_id = ?", [clip_id])
        assert len(rows) == 1
        assert store.query("SELECT count(*) FROM scans WHERE clip_id = ?", [clip_id])[0][0] == 1
        decided = gate.decisions(clip_id, full=True)[0]
        assert decided["details"]["explanation"]["ran_on"] == "local"
        assert decided["details"]["explanation"]["executor_fallback"] is not None
        assert decided["details"]["explanation"]["ran_on_features"] == {}  # computed here
        # The local fallback computed what the actor computed for the same image.
        before = gate.decisions(first["clip_id"], full=True)[0]
        assert _comparable(decided["signals"]) == _comparable(before["signals"])
        # A generation now runs here, once: counted once, published once.
        again_made = generation.generate(user, "a blue kite over a field", seconds=0.5, seed=2)
        assert again_made.ran_on == "local" and again_made.executor_fallback is not None
        assert again_made.status == "published"
        assert generation.quota(user)["used_today"] == 2
        assert store.verify_audit().ok
