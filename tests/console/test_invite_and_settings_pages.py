"""The console's invite, settings and staff invite/quota pages, driven like a person, against a real
server (Streamlit's AppTest runs ``console/app.py``; every call goes over HTTP)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.console.apptest import console_app as _app


def _ok(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_a_user_makes_an_invite_code_in_the_console_and_it_signs_someone_up(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_server
    at = _app(live, "adult", monkeypatch, "Invites")
    next(b for b in at.button if b.label == "Make an invite code").click().run()
    _ok(at)
    (shown,) = [c.value for c in at.code]
    assert re.fullmatch(r"([A-Z2-7]{4}-){5}[A-Z2-7]{4}", shown), shown
    at.run()  # shown once: gone on the next render
    assert not [c.value for c in at.code]
    with live.client() as anon:
        r = anon.post(
            "/auth/signup",
            json={
                "invite_code": shown,
                "handle": "from-console",
                "password": "a-long-password",
                "birth_date": "1991-02-03",
            },
        )
    assert r.status_code == 201, r.text
    at.run()
    assert any("used by @from\\-console" in m.value for m in at.markdown), [
        m.value for m in at.markdown
    ]

    # Staff look the account up, see its branch and stop it with a reason.
    staff = _app(live, "moderator", monkeypatch, "Invites and quotas")
    next(t for t in staff.text_input if t.label == "Account (handle)").set_value("adult")
    next(b for b in staff.button if b.label == "Show").click().run()
    _ok(staff)
    assert any("@from\\-console" in m.value for m in staff.markdown)
    next(t for t in staff.text_input if t.label.startswith("Reason (required")).set_value("spam")
    next(b for b in staff.button if b.label == "Stop invites for this branch").click().run()
    _ok(staff)
    with live.client("adult") as adult:
        assert adult.get("/me/invites").json()["can_invite"] is False
    # ... and set the account's generation quota.
    next(n for n in staff.number_input if n.label.startswith("Generations per day")).set_value(4)
    next(t for t in staff.text_input if t.label.startswith("Reason for the quota")).set_value(
        "pilot"
    )
    next(b for b in staff.button if b.label == "Set quota").click().run()
    _ok(staff)
    with live.client("adult") as adult:
        quota = adult.get("/me/quota").json()
    assert (quota["per_day"], quota["source"]) == (4, "account")


def test_an_adult_turns_personalisation_off_in_my_settings(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_server
    at = _app(live, "adult", monkeypatch, "My settings")
    _ok(at)
    assert at.header[0].value == "My settings"
    assert any("Generations today" in m.value for m in at.markdown)
    at.toggle[0].set_value(False)
    next(b for b in at.button if b.label == "Save").click().run()
    _ok(at)
    with live.client("adult") as adult:
        settings = adult.get("/me/settings").json()["settings"]
    assert settings["personalized_feed"] is False and settings["feed_limit_per_day"] is None
    assert any("people I follow, newest first" in m.value for m in at.markdown)
