"""Every page of the console renders for every role that sees it, against a real server, with no error.

Streamlit's AppTest runs ``console/app.py`` in-process (no browser) with a
signed-in session; the API calls go to a real server on loopback. A page
that raises, or shows an error box, fails here before a person sees it.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from console.views import PAGES
from tests.conftest import REPO, LiveServer

ROLE_OF = {
    "admin": "admin",
    "moderator": "moderator",
    "rights_holder": "rights_holder",
    "adult": "user",
    "teen": "user",
    "guardian": "guardian",
    "policy_author": "policy_author",
}


def _cases() -> list[tuple[str, str]]:
    return [
        (account, title)
        for account, role in ROLE_OF.items()
        for title, _, roles in PAGES
        if role in roles
    ]


def _app(live: LiveServer, account: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = live.tokens[account]
    at.session_state["user"] = live.users[account].to_self()
    return at


@pytest.mark.parametrize(("account", "title"), _cases())
def test_page_renders_without_error(
    shared_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, account: str, title: str
) -> None:
    at = _app(shared_live_server, account, monkeypatch).run()
    assert not at.exception, [e.value for e in at.exception]
    at.sidebar.radio[0].set_value(title).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.header[0].value == title or title == "Overview"


def test_a_page_hidden_from_a_role_is_not_offered(
    shared_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(shared_live_server, "adult", monkeypatch).run()
    offered = set(at.sidebar.radio[0].options)
    assert {"My cameo", "Feed and create"} <= offered
    assert not offered & {"Review queue", "Policies", "Safety", "Audit log", "People", "Teens"}


def test_a_server_refusal_shows_the_servers_message(
    shared_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(shared_live_server, "rights_holder", monkeypatch).run()
    at.sidebar.radio[0].set_value("Characters").run()
    name = next(t for t in at.text_input if t.label == "Name")
    name.set_value("   ")
    next(b for b in at.button if b.label == "Register").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # The server's own words (a 422 on the empty name), not a traceback.
    assert any("name" in e.value for e in at.error), [e.value for e in at.error]
    assert all("Traceback" not in e.value for e in at.error)


def test_a_guardian_tightens_a_linked_teens_settings(
    shared_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = shared_live_server
    with live.client("guardian") as guardian:
        assert guardian.post("/guardians/teen").status_code == 200
    with live.client("teen") as teen:  # the link counts once the teen confirms it
        assert teen.post("/me/guardians/guardian/confirm").status_code == 200
    at = _app(live, "guardian", monkeypatch).run()
    at.sidebar.radio[0].set_value("Teens").run()
    assert any("@teen" in m.value for m in at.markdown)
    cameo = next(s for s in at.selectbox if s.label.startswith("Who may use their cameo"))
    assert "everyone" not in cameo.options  # looser than the teen floor: not offered
    next(n for n in at.number_input if n.label == "Feed items per day").set_value(10)
    cameo.set_value("only_me")
    next(b for b in at.button if b.label == "Save (tighten)").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with live.client("guardian") as guardian:
        settings = guardian.get("/teens/teen/settings").json()["settings"]
    assert settings["feed_limit_per_day"] == 10
    assert settings["cameo_permission"] == "only_me"


def test_a_rights_holder_registers_and_edits_a_character(
    shared_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = shared_live_server
    at = _app(live, "rights_holder", monkeypatch).run()
    at.sidebar.radio[0].set_value("Characters").run()
    next(t for t in at.text_input if t.label == "Name").set_value("Captain Comet")
    next(t for t in at.text_area if t.label.startswith("Aliases")).set_value("Comet, The Captain")
    next(s for s in at.selectbox if s.label == "Policy").set_value("review")
    next(b for b in at.button if b.label == "Register").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Registered Captain Comet" in s.value for s in at.success)
    with live.client("rights_holder") as holder:
        (char,) = [
            c
            for c in holder.get("/characters").json()["characters"]
            if c["name"] == "Captain Comet"
        ]
    assert char["policy"] == "review" and char["aliases"] == ["Comet", "The Captain"]
    # Edit the policy from the character's panel: the server records the change.
    key = next(s for s in at.selectbox if s.label == "Policy" and s.value == "review")
    key.set_value("block")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with live.client("rights_holder") as holder:
        assert holder.get(f"/characters/{char['id']}").json()["policy"] == "block"


def test_an_admin_backtests_the_active_version(
    shared_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(shared_live_server, "admin", monkeypatch).run()
    at.sidebar.radio[0].set_value("Policies").run()
    next(b for b in at.button if b.label == "Backtest this version").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value == "Backtest" for s in at.subheader)
    assert any("Nothing was written" in m.value for m in at.markdown)
