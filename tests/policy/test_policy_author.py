"""The policy author role on a real server: writes, tests and shadows policy; never activates it.

One server for the module. A policy author reads versions, validates, saves,
backtests and runs a version in shadow -- each save and pointer move audited
with their id, as an admin's are. Activating (and so rolling back) stays with
admins: the author gets a 403 that says so, and an admin then activates the
author's version. The role carries no moderator powers. The console's
Policies page (Streamlit's AppTest, no browser) offers the author a note
instead of the activate button, and ``greenroom user add --role
policy_author`` creates the account.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from greenroom.cli.main import app as cli_app
from tests.conftest import REPO, LiveServer
from tests.gate.conftest import BROKEN_RULE, counts, with_rule

ACTIVATE_REFUSAL = "activating a policy version needs an admin"


def _rule(rule_id: str) -> str:
    """A valid extra rule, distinct per test so each test saves its own version."""
    return f"""
  - id: {rule_id}
    description: Every upload goes to a human (policy author test {rule_id}).
    condition: context.stage == "upload"
    outcome: review
    severity: low
    reason: upload_review
    queue: uploads
    priority: 75
"""


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    return shared_live_server


def _audit(live: LiveServer, event: str, subject_id: str) -> list[dict[str, Any]]:
    return live.services.store.query_dicts(
        "SELECT actor_id, payload FROM audit_log WHERE event = ? AND subject_id = ? ORDER BY seq",
        [event, subject_id],
    )


def _save(live: LiveServer, who: str, rule_id: str, **extra: Any) -> Any:
    with live.client(who) as client:
        return client.post(
            "/policies",
            json={"files": with_rule(_rule(rule_id)), "message": f"adds {rule_id}", **extra},
        )


def test_author_validates_saves_backtests_and_shadows(live: LiveServer) -> None:
    author_id = live.users["policy_author"].id
    with live.client("policy_author") as author:
        listing = author.get("/policies")
        assert listing.status_code == 200, listing.text
        active = listing.json()["active"]
        assert author.get("/policies/active").json()["id"] == active
        assert author.get(f"/policies/{active}").json()["bundle"]["files"]

        bad = author.post("/policies/validate", json={"files": with_rule(BROKEN_RULE)}).json()
        assert bad["ok"] is False and bad["errors"][0]["rule"] == "broken_rule"
        good = author.post("/policies/validate", json={"files": with_rule(_rule("pa_one"))})
        assert good.status_code == 200 and good.json()["ok"] is True

        saved = author.post(
            "/policies", json={"files": with_rule(_rule("pa_one")), "message": "adds pa_one"}
        )
        assert saved.status_code == 201, saved.text
        version = saved.json()["id"]
        assert saved.json()["active"] is False and saved.json()["created"] is True
        shown = author.get(f"/policies/{version}").json()
        assert shown["author_id"] == author_id
        assert "pa_one" in {r["id"] for r in shown["rules"]}

        report = author.post("/policies/backtest", json={"version_id": version, "last": 50})
        assert report.status_code == 200, report.text
        assert report.json()["candidate_version"] == version

        on = author.post("/policies/shadow", json={"version_id": version})
        assert on.status_code == 200 and on.json()["shadow"] == version
        assert author.get("/policies").json()["shadow"] == version
        off = author.post("/policies/shadow", json={"version_id": None})
        assert off.status_code == 200 and off.json()["shadow"] is None
        # Nothing the author did moved the active version.
        assert author.get("/policies").json()["active"] == active

    # Audited like an admin's: the save and both shadow moves carry the author's id.
    (saved_event,) = _audit(live, "policy.version_saved", version)
    assert saved_event["actor_id"] == author_id
    moves = _audit(live, "policy.state_changed", version)
    assert [m["actor_id"] for m in moves] == [author_id]  # shadow on names the version
    assert live.services.store.verify_audit().ok


def test_author_cannot_activate_and_an_admin_activates_their_version(live: LiveServer) -> None:
    saved = _save(live, "policy_author", "pa_two")
    assert saved.status_code == 201, saved.text
    version = saved.json()["id"]
    store = live.services.store
    with live.client("policy_author") as author:
        before = author.get("/policies").json()["active"]
        refused = author.post(f"/policies/{version}/activate")
        assert refused.status_code == 403
        assert refused.json()["error"] == ACTIVATE_REFUSAL
        # Rolling back is activating too.
        assert author.post("/policies/1/activate").status_code == 403
        # Saving with activate: true is refused whole: nothing stored, nothing moved.
        rows = counts(store)
        also = author.post(
            "/policies",
            json={"files": with_rule(_rule("pa_three")), "message": "x", "activate": True},
        )
        assert also.status_code == 403
        assert also.json()["error"].startswith(ACTIVATE_REFUSAL)
        assert counts(store) == rows
        assert author.get("/policies").json()["active"] == before

    with live.client("admin") as admin:
        activated = admin.post(f"/policies/{version}/activate")
        assert activated.status_code == 200, activated.text
        assert activated.json() == {"active": version, "previous": before}
        with live.client("policy_author") as author:
            assert author.get("/policies/active").json()["id"] == version
        # Back to what was active, so the module's other tests see the same policy.
        assert admin.post(f"/policies/{before}/activate").json()["active"] == before
    moves = _audit(live, "policy.state_changed", version)
    assert [m["actor_id"] for m in moves] == [live.users["admin"].id]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/queues"),
        ("GET", "/queues/uploads"),
        ("POST", "/queue-items/some-item/claim"),
        ("POST", "/queue-items/some-item/decide"),
        ("GET", "/users"),
        ("POST", "/users"),
        ("POST", "/users/adult/suspend"),
        ("GET", "/banks"),
        ("GET", "/audit"),
    ],
)
def test_author_has_no_moderator_or_admin_powers(live: LiveServer, method: str, path: str) -> None:
    with live.client("policy_author") as author:
        response = author.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 403, (path, response.text)


def test_a_plain_user_cannot_touch_policies(live: LiveServer) -> None:
    with live.client("adult") as adult:
        saved = adult.post(
            "/policies", json={"files": with_rule(_rule("pa_user")), "message": "sneaky"}
        )
        assert saved.status_code == 403
        assert adult.get("/policies").status_code == 403
        assert adult.post("/policies/shadow", json={"version_id": None}).status_code == 403


def test_console_policies_page_offers_the_author_a_note_instead_of_activate(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    saved = _save(live, "policy_author", "pa_console")
    assert saved.status_code == 201, saved.text
    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = live.tokens["policy_author"]
    at.session_state["user"] = live.users["policy_author"].to_self()
    at.run()
    assert "Policies" in at.sidebar.radio[0].options
    assert not {"Review queue", "People", "Audit log", "Safety"} & set(at.sidebar.radio[0].options)
    at.sidebar.radio[0].set_value("Policies").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # A version that is not active: the author reads the note where an admin has the button.
    index = next(
        i
        for i, v in enumerate(at.selectbox[0].options)
        if saved.json()["id"] in v and "ACTIVE" not in v
    )
    at.selectbox[0].select_index(index).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    labels = {b.label for b in at.button}
    assert "Activate" not in labels and "Roll back to this version" not in labels
    assert "Run in shadow" in labels and "Backtest this version" in labels
    assert any(i.value == "An admin activates versions." for i in at.info)
    assert not any(c.label == "Activate on save" for c in at.checkbox)


def test_cli_creates_a_policy_author(tmp_path: Path) -> None:
    runner = CliRunner()
    data = str(tmp_path / "data")
    init = runner.invoke(cli_app, ["init", "--data-dir", data, "--json"])
    assert init.exit_code == 0, init.stdout
    added = runner.invoke(
        cli_app,
        ["user", "add", "penny", "--role", "policy_author", "--data-dir", data, "--json"],
    )
    assert added.exit_code == 0, added.stdout
    doc = json.loads(added.stdout)
    assert doc["role"] == "policy_author" and doc["handle"] == "penny" and doc["token"]
    listed = runner.invoke(
        cli_app, ["user", "list", "--role", "policy_author", "--data-dir", data, "--json"]
    )
    assert listed.exit_code == 0, listed.stdout
    assert "penny" in listed.stdout
