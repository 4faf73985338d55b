"""The server checks the whole audit chain once at start, off the request path, so the first
routine (incremental) check a reader asks for already has a checkpoint to start from; a broken
chain is logged at start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from feed.services import Services
from greenroom.settings import Settings
from greenroom.wiring import make_app, open_services
from store.events import UserUpdated
from tests.conftest import FIXTURES, TEST_MODELS


def _app_with_admin(data_dir: Path) -> tuple[FastAPI, Services, str]:
    settings = Settings(
        data_dir=data_dir,
        models_dir=TEST_MODELS,
        fixtures_dir=FIXTURES,
        workers=0,
        warm_models=False,
    )
    services = open_services(settings)
    with services.store.transaction() as tx:
        admin = services.users.create(tx, "root", "admin", birth_year=1980)
        _, token = services.users.issue_token(tx, admin.id, label="test")
        for n in range(50):
            tx.audit(UserUpdated(actor_id=admin.id, user_id=admin.id, changes={"n": n}))
    return make_app(settings, services=services), services, token


def test_the_first_routine_check_after_start_reads_only_new_rows(tmp_path: Path) -> None:
    app, services, token = _app_with_admin(tmp_path / "data")
    try:
        with TestClient(app) as client:  # runs the lifespan, which starts the check
            app.state.chain_check.join()
            rows = services.store.query("SELECT count(*) FROM audit_log")[0][0]
            r = client.get(
                "/audit/verify",
                params={"mode": "incremental"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["ok"] and body["mode"] == "incremental"
            assert body["checked_from"] == rows
    finally:
        services.close()


def test_a_broken_chain_is_logged_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app, services, _ = _app_with_admin(tmp_path / "data")
    try:
        services.store.conn.execute("UPDATE audit_log SET actor_id = 'usr_x' WHERE seq = 3")
        with caplog.at_level(logging.ERROR, logger="greenroom.feed"), TestClient(app):
            app.state.chain_check.join()
        assert any("AUDIT CHAIN BROKEN at row 3" in r.getMessage() for r in caplog.records)
    finally:
        services.close()
