"""Scans as durable jobs: accepted now, decided by a worker once, even across a restart."""

from __future__ import annotations

import time
from pathlib import Path

from greenroom.settings import Settings
from greenroom.wiring import build_services, make_app
from pipeline.gate import SCAN_JOB
from store import jobs
from store.db import Store
from tests.conftest import LiveServer


def test_scan_job_survives_a_restart_and_completes_once(
    settings: Settings, face_image: Path
) -> None:
    with Store(settings.data_dir) as store:
        svc = build_services(store, settings)
        with store.transaction() as tx:
            user = svc.users.create(tx, "uploader", "user", birth_year=1990)
        accepted = svc.pipeline.gate.submit(face_image.read_bytes(), user, "a portrait")
        assert accepted["status"] == "draft"
        job_id, clip_id = accepted["job_id"], accepted["clip_id"]
        assert jobs.get_job(store, job_id).status == "queued"
    # The process stopped before any worker ran: reopen the directory as a new process would.
    with Store(settings.data_dir) as store:
        svc = build_services(store, settings)
        assert store.query("SELECT status FROM clips WHERE id = ?", [clip_id])[0][0] == "draft"
        worker = svc.pipeline.worker(poll_s=0.05)
        assert SCAN_JOB in worker.handlers
        assert worker.run_once() is True
        assert worker.run_once() is False  # nothing left
        record = jobs.get_job(store, job_id)
        assert record.status == "done" and record.attempts == 1
        assert record.result is not None and record.result["clip_id"] == clip_id
        scans = store.query("SELECT id, job_id FROM scans WHERE clip_id = ?", [clip_id])
        assert len(scans) == 1 and scans[0][1] is not None
        status = store.query("SELECT status FROM clips WHERE id = ?", [clip_id])[0][0]
        assert status in ("published", "queued", "blocked")
        # Re-running the same job payload (a retry after a crash) records nothing new.
        repeat = svc.pipeline.gate.run_job(record.payload)
        assert repeat["repeated"] is True and repeat["scan_id"] == scans[0][0]
        assert store.query("SELECT count(*) FROM scans WHERE clip_id = ?", [clip_id])[0][0] == 1
        assert store.verify_audit().ok


def test_async_scan_through_the_server(live_server: LiveServer, bunny_video: Path) -> None:
    live = live_server
    with live.client("adult") as client, bunny_video.open("rb") as handle:
        response = client.post(
            "/scan", params={"wait": "false"}, files={"file": (bunny_video.name, handle)}
        )
    assert response.status_code == 202, response.text
    clip_id = response.json()["clip_id"]
    with live.client("adult") as client:
        assert client.get(f"/clips/{clip_id}").json()["status"] == "draft"
    # The test server runs without its lifespan, so start the same worker the lifespan starts.
    worker = live.services.pipeline.worker(poll_s=0.05).start()
    try:
        deadline = time.monotonic() + 120
        status = "draft"
        while status == "draft" and time.monotonic() < deadline:
            time.sleep(0.2)
            with live.client("adult") as client:
                status = client.get(f"/clips/{clip_id}").json()["status"]
    finally:
        assert worker.stop()
    assert status in ("published", "queued", "blocked")
    with live.client("adult") as client:
        decisions = client.get(f"/clips/{clip_id}/decisions").json()["decisions"]
    assert len(decisions) == 1 and decisions[0]["by"] == "policy"


def test_server_lifespan_runs_the_worker(settings: Settings, face_image: Path) -> None:
    from fastapi.testclient import TestClient

    with Store(settings.data_dir) as store:
        svc = build_services(store, settings)
        with store.transaction() as tx:
            user = svc.users.create(tx, "uploader", "user", birth_year=1990)
            _, token = svc.users.issue_token(tx, user.id)
    app = make_app(settings)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        with face_image.open("rb") as handle:
            accepted = client.post(
                "/scan",
                params={"wait": "false"},
                files={"file": (face_image.name, handle)},
                headers=headers,
            )
        assert accepted.status_code == 202, accepted.text
        clip_id = accepted.json()["clip_id"]
        deadline = time.monotonic() + 120
        status = "draft"
        while status == "draft" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = client.get(f"/clips/{clip_id}", headers=headers).json()["status"]
        assert status in ("published", "queued", "blocked")
    # Lifespan ended: the worker stopped and the data directory is free again.
    with Store(settings.data_dir) as store:
        assert store.query("SELECT status FROM jobs")[0][0] == "done"
