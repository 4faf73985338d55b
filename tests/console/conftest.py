"""The console test stack: a real server on loopback with a queued item, and a real console process.

Module-scoped: one server, one seeded review item and one console per test
module. The queue is seeded through the API the way a client would: an
admin activates a policy that sends every upload to a human, and the adult
account uploads a real fixture photo through ``POST /scan``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, start_live_server
from tests.console.browser import console_process, need_chromium
from tests.gate.conftest import REVIEW_UPLOADS_RULE, with_rule


@dataclass
class ConsoleStack:
    live: LiveServer
    url: str
    item_id: str
    clip_id: str
    policy_version: str


def seed_review_item(live: LiveServer, image: Path) -> dict[str, Any]:
    with live.client("admin") as admin:
        saved = admin.post(
            "/policies",
            json={
                "files": with_rule(REVIEW_UPLOADS_RULE),
                "message": "review every upload",
                "activate": True,
            },
        )
        assert saved.status_code == 201, saved.text
    with live.client("adult") as adult:
        scanned = adult.post(
            "/scan",
            files={"file": (image.name, image.read_bytes(), "image/jpeg")},
            data={"prompt": "a portrait in soft light"},
        )
    assert scanned.status_code == 200, scanned.text
    result = scanned.json()
    assert result["queue_item_id"], result
    return {**result, "policy_version": saved.json()["id"]}


@pytest.fixture(scope="module")
def console_stack(
    tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path
) -> Iterator[ConsoleStack]:
    need_chromium()
    root = tmp_path_factory.mktemp("console-stack")
    server = start_live_server(root / "data")
    live = next(server)
    try:
        seeded = seed_review_item(live, fixtures_dir / "faces" / "deepface" / "img5.jpg")
        with console_process(live.url, root / "console.log") as url:
            yield ConsoleStack(
                live=live,
                url=url,
                item_id=seeded["queue_item_id"],
                clip_id=seeded["clip_id"],
                policy_version=seeded["policy_version"],
            )
    finally:
        server.close()
