"""The foundation commands, run as a user runs them: a real process, real data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from store.db import load_migrations
from store.users import ROLES
from tests.conftest import free_port

GREENROOM = [sys.executable, "-m", "greenroom"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A hang guard, not a speed check: the demo seed runs the real pipeline on a busy machine.
    return subprocess.run([*GREENROOM, *args], capture_output=True, text=True, timeout=900, env=env)


def test_init_user_audit_json_contract(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    init = run("init", "--data-dir", data, "--json")
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["schema_version"] >= 2

    added = run(
        "user",
        "add",
        "carol",
        "--role",
        "user",
        "--birth-year",
        "1990",
        "--data-dir",
        data,
        "--json",
    )
    assert added.returncode == 0, added.stderr
    doc = json.loads(added.stdout)
    assert {"id", "handle", "role", "token"} <= set(doc)
    assert doc["handle"] == "carol" and doc["role"] == "user" and doc["token"].startswith("gr_")

    listed = json.loads(run("user", "list", "--data-dir", data, "--json").stdout)
    assert [u["handle"] for u in listed["users"]] == ["carol"]

    verify = run("audit", "verify", "--data-dir", data, "--json")
    assert verify.returncode == 0
    # One audit row per migration, then the user and their token.
    expected_rows = len(load_migrations()) + 2
    assert json.loads(verify.stdout) == {
        "ok": True,
        "rows": expected_rows,
        "first_bad": None,
        "reason": None,
    }


def test_bad_input_exits_2_with_json_error(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    run("init", "--data-dir", data)
    for args in (
        ("user", "add", "x", "--role", "emperor"),
        ("user", "add", "BAD HANDLE!", "--role", "user"),
        ("user", "add", "kid", "--role", "user", "--birth-year", "2024"),
    ):
        result = run(*args, "--data-dir", data, "--json")
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert set(json.loads(result.stdout)) == {"error"}
    duplicate = run("user", "add", "dora", "--role", "user", "--data-dir", data, "--json")
    assert duplicate.returncode == 0
    again = run("user", "add", "dora", "--role", "user", "--data-dir", data, "--json")
    assert again.returncode != 0 and "taken" in json.loads(again.stdout)["error"]
    missing = run("user", "list", "--data-dir", str(tmp_path / "nope"), "--json")
    assert missing.returncode == 2


def test_data_dir_held_by_server_exits_3(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data)).returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [*GREENROOM, "serve", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        held = run("user", "list", "--data-dir", str(data), "--json")
        assert held.returncode == 3
        message = json.loads(held.stdout)["error"]
        assert "held" in message and "Traceback" not in held.stdout + held.stderr
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert run("user", "list", "--data-dir", str(data), "--json").returncode == 0


@pytest.mark.slow
def test_demo_seed_has_every_role_and_logins_work(tmp_path: Path) -> None:
    """A fresh clone's demo: seeded from the in-repo pack alone, with no shared fixtures."""
    data = tmp_path / "demo"
    no_fixtures = {**os.environ, "GREENROOM_FIXTURES_DIR": str(tmp_path / "no-such-fixtures")}
    seeded = run("demo", "seed", "--data-dir", str(data), "--json", env=no_fixtures)
    assert seeded.returncode == 0, seeded.stderr
    doc = json.loads(seeded.stdout)
    content = doc["content"]
    with duckdb.connect(str(data / "greenroom.duckdb"), read_only=True) as db:
        queues = dict(
            db.execute(
                "SELECT queue, count(*) FROM queue_items WHERE status = 'open' GROUP BY queue"
            ).fetchall()
        )
        (published,) = db.execute(
            "SELECT count(*) FROM clips WHERE status = 'published'"
        ).fetchone() or (0,)
    # Clips waiting in at least three review queues, a feed of at least five clips.
    assert len(queues) >= 3, queues
    assert {"rights_review", "reports", "appeals"} <= set(queues), queues
    assert published >= 5, content["feed_clips"]
    assert not [c for c in content["feed_clips"] if "skipped" in c], content["feed_clips"]
    # Characters with reference images, a protected likeness; the dispute as before.
    with_refs = [c for c in content["characters"] if c["refs"] >= 1]
    assert len(with_refs) >= 2, content["characters"]
    assert {c["name"] for c in with_refs} >= {"Go Gopher", "Ferris", "Tux"}
    likeness = content["likeness"]
    assert [p["name"] for p in likeness["protected"]] == [
        "Sintel (Blender open-movie character; demo protected likeness)"
    ]
    # alice's cameo from the pack's one real-person recording, through the real live check.
    cameo = likeness["cameo"]["alice"]
    assert cameo["status"] == "active", cameo
    assert cameo["embeddings"] >= 1 and cameo["permission"] == "mutuals", cameo
    assert not any("cameo skipped" in note for note in likeness["notes"])
    assert "queue_item_id" in content["review"]["dispute"], content["review"]
    roles = {login["role"] for login in doc["logins"]}
    assert roles == set(ROLES)
    assert json.loads((data / "demo-logins.json").read_text())["logins"] == doc["logins"]
    # Passwords on disk: readable by their owner only.
    assert (data / "demo-logins.json").stat().st_mode & 0o777 == 0o600
    again = run("demo", "seed", "--data-dir", str(data), "--json")
    assert again.returncode == 2
