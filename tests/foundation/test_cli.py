"""The foundation commands, run as a user runs them: a real process, real data directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

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


def test_demo_seed_has_every_role_and_logins_work(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    seeded = run("demo", "seed", "--data-dir", str(data), "--json")
    assert seeded.returncode == 0, seeded.stderr
    doc = json.loads(seeded.stdout)
    roles = {login["role"] for login in doc["logins"]}
    assert roles == set(ROLES)
    assert json.loads((data / "demo-logins.json").read_text())["logins"] == doc["logins"]
    # Passwords on disk: readable by their owner only.
    assert (data / "demo-logins.json").stat().st_mode & 0o777 == 0o600
    again = run("demo", "seed", "--data-dir", str(data), "--json")
    assert again.returncode == 2
