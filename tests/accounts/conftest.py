"""Helpers for the account tests: a live server with chosen settings, audit reading, raw clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from greenroom.settings import Settings
from tests.conftest import FIXTURES, TEST_MODELS, LiveServer, start_live_server


@contextmanager
def live_server_with(data_dir: Path, **settings: Any) -> Iterator[LiveServer]:
    """A real server on loopback whose Settings carry ``settings`` (e.g. token lifetimes)."""
    base = Settings(data_dir=data_dir, models_dir=TEST_MODELS, fixtures_dir=FIXTURES, **settings)
    server = start_live_server(data_dir, base)
    live = next(server)
    try:
        yield live
    finally:
        server.close()


def bearer(live: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0
    )


def events(live: LiveServer, name: str) -> list[dict[str, Any]]:
    """Audit events of one kind, oldest first, read as an admin through the API."""
    with live.client("admin") as admin:
        r = admin.get("/audit", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return sorted((e for e in r.json()["events"] if e["event"] == name), key=lambda e: e["seq"])
