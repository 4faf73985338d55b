"""``greenroom user suspend / unsuspend`` and ``user add --birth-date``, run as a person runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from greenroom.settings import Settings
from store.db import Store
from store.users import Users

GREENROOM = [sys.executable, "-m", "greenroom"]
PEPPER = Settings().token_pepper.get_secret_value()  # what the CLI processes use too


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GREENROOM, *args], capture_output=True, text=True, timeout=120)


def test_suspend_and_unsuspend_keep_the_cli_contract(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    assert run("init", "--data-dir", data, "--json").returncode == 0
    added = run(
        "user", "add", "kid", "--role", "user", "--birth-date", "2012-03-04",
        "--data-dir", data, "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    doc = json.loads(added.stdout)
    assert doc["is_teen"] and doc["token_expires_at"]
    token = doc["token"]

    done = run("user", "suspend", "kid", "--reason", "spam wave", "--data-dir", data, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "id": doc["id"],
        "handle": "kid",
        "role": "user",
        "suspended": True,
        "reason": "spam wave",
    }
    for bad in (
        ("user", "suspend", "kid", "--reason", "again"),  # already suspended
        ("user", "suspend", "nobody", "--reason", "x"),
        ("user", "suspend", "kid", "--reason", "  "),
        ("user", "add", "x", "--role", "user", "--birth-date", "2012-13-04"),
        ("user", "unsuspend", "nobody", "--reason", "x"),
    ):
        r = run(*bad, "--data-dir", data, "--json")
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert set(json.loads(r.stdout)) == {"error"}

    with Store(Path(data)) as store:
        users = Users(store, pepper=PEPPER)
        assert users.by_handle("kid").disabled_reason == "spam wave"
        events = [r[0] for r in store.query("SELECT event FROM audit_log ORDER BY seq")]
        assert events.count("user.suspended") == 1

    back = run(
        "user", "unsuspend", "kid", "--reason", "appeal upheld", "--data-dir", data, "--json"
    )
    assert back.returncode == 0 and json.loads(back.stdout)["suspended"] is False
    with Store(Path(data)) as store:
        users = Users(store, pepper=PEPPER)
        assert users.authenticate(token).handle == "kid"
        assert store.verify_audit().ok
