"""``greenroom feed`` as a user runs it: a real process on a real data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from greenroom.settings import Settings
from greenroom.wiring import build_services
from store.db import Store

GREENROOM = [sys.executable, "-m", "greenroom"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GREENROOM, *args], capture_output=True, text=True, timeout=180)


def test_feed_command_json_contract(settings: Settings, fixtures_dir: Path) -> None:
    data = settings.data_dir
    with Store(data) as store:
        svc = build_services(store, settings)
        with store.transaction() as tx:
            poster = svc.users.create(tx, "poster", "user", birth_year=1990)
            svc.users.create(tx, "reader", "user", birth_year=1992)
        posted = svc.pipeline.posting.upload(
            poster, fixtures_dir / "c2pa" / "assets" / "earth_apollo17.jpg", "earth from space"
        )
    assert posted["status"] == "published"
    result = run("feed", "--user", "reader", "--data-dir", str(data), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [it["clip_id"] for it in doc["items"]] == [posted["clip_id"]]
    item = doc["items"][0]
    assert item["creator"] == "poster" and item["reason"] == "recent from @poster"
    # Bad input: exit 2 with one JSON error document.
    for args in (("--user", "nobody"), ("--user", "reader", "--limit", "0")):
        bad = run("feed", *args, "--data-dir", str(data), "--json")
        assert bad.returncode == 2, bad.stderr
        assert json.loads(bad.stdout)["error"]
