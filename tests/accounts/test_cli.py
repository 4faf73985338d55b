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


def test_standing_and_lift_action_keep_the_cli_contract(tmp_path: Path) -> None:
    from store import accounts
    from store.reports import add_strike

    data = str(tmp_path / "d")
    assert run("init", "--data-dir", data, "--json").returncode == 0
    added = run("user", "add", "sam", "--role", "user", "--data-dir", data, "--json")
    assert added.returncode == 0, added.stderr
    user_id = json.loads(added.stdout)["id"]
    with Store(Path(data)) as store, store.transaction() as tx:
        for n in range(3):
            add_strike(tx, user_id, f"dec_cli_{n}", None, "spam", "mod", "spam")
        action = accounts.add_action(
            tx, user_id=user_id, kind="suspend_generation", rule_id="r", reason="repeat_strikes",
            decision_id="dec_account", trigger_decision_id="dec_cli_2", days=7,
        )  # fmt: skip
    assert action is not None

    shown = run("user", "standing", "sam", "--data-dir", data, "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["strikes"] == 3 and doc["strike_categories"] == {"spam": 3}
    assert [(a["id"], a["kind"], a["active"]) for a in doc["actions"]] == [
        (action["id"], "suspend_generation", True)
    ]
    text = run("user", "standing", "sam", "--data-dir", data)
    assert "IN FORCE" in text.stdout and "appeal" in text.stdout

    for bad in (
        ("user", "standing", "nobody"),
        ("user", "lift-action", action["id"], "--reason", "  "),
        ("user", "lift-action", "act_missing", "--reason", "x"),
    ):
        r = run(*bad, "--data-dir", data, "--json")
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert set(json.loads(r.stdout)) == {"error"}

    lifted = run(
        "user", "lift-action", action["id"], "--reason", "test over", "--data-dir", data, "--json"
    )
    assert lifted.returncode == 0, lifted.stderr
    assert json.loads(lifted.stdout)["active"] is False
    again = run(
        "user", "lift-action", action["id"], "--reason", "twice", "--data-dir", data, "--json"
    )
    assert again.returncode == 2
    with Store(Path(data)) as store:
        events = [r[0] for r in store.query("SELECT event FROM audit_log ORDER BY seq")]
        assert events.count("account.action_lifted") == 1
        assert store.verify_audit().ok
