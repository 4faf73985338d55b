"""Errors never echo input values; internal errors carry an id the log carries too.

The server's own error handlers, installed on a small app whose routes fail the
way a library or a bug would.
"""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from feed.errors import install_error_handlers
from store.users import validate_handle


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/library")
    def library(value: str) -> int:
        return int(value)  # a library's ValueError quotes the input

    @app.get("/ours")
    def ours() -> None:
        validate_handle("!!")  # our messages are written for people

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("secret-internal-state")

    return app


def test_library_value_errors_do_not_echo_input(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    with caplog.at_level(logging.WARNING, logger="greenroom.feed"):
        answer = client.get("/library", params={"value": "tok_secret_value"})
    assert answer.status_code == 422
    assert "tok_secret_value" not in answer.text
    error_id = answer.json()["error_id"]
    assert any(error_id in r.getMessage() for r in caplog.records)
    assert client.get("/ours").json()["error"].startswith("handle must be 2-32 characters")


def test_internal_errors_carry_an_id_the_log_has(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="greenroom.feed"):
        answer = client.get("/bug")
    assert answer.status_code == 500
    doc = answer.json()
    assert "secret-internal-state" not in answer.text and "Traceback" not in answer.text
    assert doc["error_id"].startswith("err_") and doc["error_id"] in doc["error"]
    assert any(doc["error_id"] in r.getMessage() for r in caplog.records)
