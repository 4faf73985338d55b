"""``greenroom invites list / tree / stop / resume``, run as a person runs them (CLI.md's contract)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from store.db import Store
from store.invites import Invites
from store.users import Users

GREENROOM = [sys.executable, "-m", "greenroom"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GREENROOM, *args], capture_output=True, text=True, timeout=120)


def _one_document(result: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])  # type: ignore[no-any-return]


def _seed(data: Path) -> None:
    """root invites ann, ann invites bob; bob holds an unused code (through the store, as sign-up does)."""
    with Store(data) as store:
        users, invites = Users(store, pepper="test"), Invites(store)
        with store.transaction() as tx:
            inviter = users.by_handle("root")
            for handle in ("ann", "bob"):
                made = invites.create(tx, inviter.id)
                claimed = invites.claim(tx, made.code)
                inviter = users.create(tx, handle, "user", birth_year=1990)
                invites.redeem(tx, claimed, inviter.id)
            invites.create(tx, inviter.id)


def test_invites_commands_keep_the_cli_contract(tmp_path: Path) -> None:
    data = tmp_path / "d"
    d = str(data)
    assert run("init", "--data-dir", d, "--json").returncode == 0
    added = run("user", "add", "root", "--role", "user", "--birth-year", "1980", "--data-dir", d)
    assert added.returncode == 0, added.stderr
    _seed(data)

    listed = run("invites", "list", "ann", "--data-dir", d, "--json")
    assert listed.returncode == 0, listed.stderr
    doc = _one_document(listed)
    assert doc["handle"] == "ann" and doc["invited_by"] == "root" and doc["stop"] is None
    assert [(c["state"], c["used_by"]) for c in doc["invites"]] == [("used", "bob")]
    assert doc["per_user"] == 5 and doc["remaining"] == 4

    tree = _one_document(run("invites", "tree", "root", "--data-dir", d, "--json"))
    assert tree["tree"]["handle"] == "root" and tree["members"] == 3
    assert tree["tree"]["children"][0]["handle"] == "ann"
    assert tree["tree"]["children"][0]["children"][0]["handle"] == "bob"
    human = run("invites", "tree", "root", "--data-dir", d)
    assert human.returncode == 0 and "@bob" in human.stdout

    stopped = run("invites", "stop", "ann", "--reason", "spam ring", "--data-dir", d, "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert _one_document(stopped) == {
        "handle": "ann",
        "stopped": True,
        "members": 2,
        "codes_voided": 1,
        "reason": "spam ring",
    }
    bob = _one_document(run("invites", "list", "bob", "--data-dir", d, "--json"))
    assert bob["can_invite"] is False and bob["stop"]["at"] == "ann"
    assert [c["state"] for c in bob["invites"]] == ["void"]

    for bad in (
        ("invites", "stop", "ann", "--reason", "again"),  # already stopped
        ("invites", "stop", "nobody", "--reason", "x"),
        ("invites", "stop", "root", "--reason", "  "),
        ("invites", "resume", "bob", "--reason", "x"),  # stopped higher up, at ann
        ("invites", "list", "nobody"),
        ("invites", "tree", "nobody"),
    ):
        r = run(*bad, "--data-dir", d, "--json")
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert set(_one_document(r)) == {"error"}

    resumed = run("invites", "resume", "ann", "--reason", "reviewed", "--data-dir", d, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _one_document(resumed)["resumed"] is True
    missing = run("invites", "list", "root", "--data-dir", str(tmp_path / "none"), "--json")
    assert missing.returncode == 2
    with Store(data):  # this process holds the directory, as a running server would
        held = run("invites", "stop", "root", "--reason", "x", "--data-dir", d, "--json")
    assert held.returncode == 3 and "held" in _one_document(held)["error"]

    with Store(data) as store:
        names = [r[0] for r in store.query("SELECT event FROM audit_log ORDER BY seq")]
        assert names.count("invite.branch_stopped") == 1
        assert names.count("invite.branch_resumed") == 1
        assert store.verify_audit().ok
