"""The server loads its models at start and says when it is ready (``feed/readiness.py``).

With ``warm_models`` on, ``/readyz`` answers 503 while the models load in a
thread and 200 once they have, listing any that did not load; ``/healthz``
answers 200 throughout. A model that fails does not keep the server unready.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from feed.readiness import Readiness
from greenroom.settings import Settings
from greenroom.wiring import make_app, open_services
from tests.conftest import FIXTURES, TEST_MODELS

WARMED = {
    "prompt_safety",
    "characters",
    "face_detector",
    "video_face_detector",
    "face_embedder",
    "age_estimator",
    "nudity_detector",
}


@pytest.mark.slow
def test_readyz_waits_for_the_models(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", models_dir=TEST_MODELS, fixtures_dir=FIXTURES, workers=0
    )
    assert settings.warm_models  # the default: a started server warms up
    services = open_services(settings)
    app = make_app(settings, services=services)
    models = services.pipeline.models
    try:
        readiness: Readiness = app.state.readiness
        # Holding the models' build lock keeps the warm-up at its first model, so the
        # not-ready answer is seen without racing it. It is released inside the
        # client's block: the lifespan's exit waits for the warm-up.
        held = [models._lock.acquire()]

        def release() -> None:
            if held:
                models._lock.release()
                held.clear()

        try:
            with TestClient(app) as client:
                try:
                    warming = client.get("/readyz")
                    assert warming.status_code == 503
                    assert "warming up" in warming.text
                    assert client.get("/healthz").status_code == 200
                    assert not readiness.ready
                finally:
                    release()
                assert readiness.wait(timeout=300)
        finally:
            release()
        assert readiness.ready
        assert readiness.models == dict.fromkeys(WARMED, "loaded")
        assert readiness.warm_s is not None
        with TestClient(app) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["degraded"] == []
            assert ready.json()["schema_version"] == services.store.schema_version()
    finally:
        services.close()


def test_a_server_without_warm_up_is_ready_at_once(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        models_dir=TEST_MODELS,
        fixtures_dir=FIXTURES,
        workers=0,
        warm_models=False,
    )
    services = open_services(settings)
    try:
        with TestClient(make_app(settings, services=services)) as client:
            body = client.get("/readyz").json()
        assert body["status"] == "ready" and body["degraded"] == []
    finally:
        services.close()


def test_models_that_fail_are_reported_and_do_not_keep_it_unready() -> None:
    readiness = Readiness()
    readiness.warm(lambda: {"face_embedder": "loaded", "age_estimator": "ModelUnavailable"})
    assert readiness.wait(timeout=60)
    assert readiness.degraded == ["age_estimator"]

    def broken() -> dict[str, str]:
        raise RuntimeError("the warm-up itself broke")

    crashed = Readiness()
    crashed.warm(broken)
    assert crashed.wait(timeout=60) and crashed.ready
    assert crashed.degraded == ["warm_up"]
