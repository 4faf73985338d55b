"""A lead hands items to moderators; a holder releases: on a real server and in the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console.views.review import _CURRENT as CURRENT
from tests.conftest import LiveServer
from tests.console.apptest import console_app
from tests.review.held import held_upload


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    live = shared_live_server
    live.add_account("mod-two", role="moderator", birth_year=None)
    return live


def _held(live: LiveServer, who: str, image: Path) -> str:
    return str(held_upload(live, who, image)["queue_item_id"])


def _assign(live: LiveServer, who: str, item_id: str, handle: str) -> Any:
    with live.client(who) as c:
        return c.post(f"/queue-items/{item_id}/assign", json={"handle": handle})


def test_a_lead_assigns_and_reassigns_with_an_audit_trail(
    live: LiveServer, fixtures_dir: Path
) -> None:
    item = _held(live, "adult", fixtures_dir / "characters" / "tux" / "tux_boot.png")
    first = _assign(live, "admin", item, "moderator")
    assert first.status_code == 200, first.text
    assert first.json()["claimed_by"] == live.users["moderator"].id
    assert first.json()["previous_holder"] is None
    second = _assign(live, "admin", item, "@MOD-TWO")
    assert second.status_code == 200, second.text
    assert second.json()["claimed_by"] == live.users["mod-two"].id
    assert second.json()["previous_holder"] == live.users["moderator"].id
    # The first moderator no longer holds it.
    with live.client("moderator") as c:
        taken = c.post(f"/queue-items/{item}/decide", json={"outcome": "publish", "reason": "x"})
    assert taken.status_code == 409
    events = live.services.store.query(
        "SELECT actor_id, payload FROM audit_log WHERE event = 'queue_item.changed' "
        "AND subject_id = ? AND json_extract_string(payload, '$.transition') = 'assigned' "
        "ORDER BY seq",
        [item],
    )
    assert [e[0] for e in events] == [live.users["admin"].id] * 2
    assert live.services.store.verify_audit().ok


def test_assignment_is_refused_with_a_reason(live: LiveServer, fixtures_dir: Path) -> None:
    item = _held(live, "adult", fixtures_dir / "characters" / "tux" / "tux_speech.png")
    assert _assign(live, "moderator", item, "mod-two").status_code == 403
    assert _assign(live, "admin", item, "adult").status_code == 422
    assert _assign(live, "admin", item, "nobody-at-all").status_code == 404
    assert _assign(live, "admin", "qi_nothing", "moderator").status_code == 404
    own = _held(live, "mod-two", fixtures_dir / "characters" / "go_gopher" / "gopherbw.png")
    refused = _assign(live, "admin", own, "mod-two")
    assert refused.status_code == 409 and "own clip" in refused.json()["error"]
    with live.client("moderator") as c:
        c.post(f"/queue-items/{item}/claim")
        done = c.post(f"/queue-items/{item}/decide", json={"outcome": "publish", "reason": "ok"})
    assert done.status_code == 200
    assert _assign(live, "admin", item, "mod-two").status_code == 409


def test_the_console_assigns_for_a_lead_and_releases_for_the_holder(
    live: LiveServer, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = _held(live, "adult", fixtures_dir / "characters" / "ferris" / "rustacean-flat-happy.png")

    def app(account: str) -> Any:
        return console_app(live, account, monkeypatch, "Review queue")

    lead = app("admin")
    lead.selectbox[0].set_value("uploads").run()
    form_items = next(s for s in lead.selectbox if s.label == "Item")
    form_items.set_value(item)
    next(t for t in lead.text_input if t.label == "To moderator (handle)").set_value("mod-two")
    next(b for b in lead.button if b.label == "Assign").click().run()
    assert not lead.exception and not lead.error, [e.value for e in lead.error]
    assert live.services.pipeline.review.item(item, evidence=False)["claimed_by"] == (
        live.users["mod-two"].id
    )

    holder = app("mod-two")
    holder.selectbox[0].set_value("uploads").run()
    next(b for b in holder.button if b.label == "Claim next").click().run()
    # "Claim next" resumes an item the moderator holds: the assigned one, or another they hold.
    current = holder.session_state[CURRENT]
    held = live.services.store.query(
        "SELECT id FROM queue_items WHERE claimed_by = ? AND status = 'claimed'",
        [live.users["mod-two"].id],
    )
    assert current in {r[0] for r in held} and item in {r[0] for r in held}
    next(b for b in holder.button if b.label == "Release (back to the queue)").click().run()
    assert not holder.exception, [e.value for e in holder.exception]
    assert live.services.pipeline.review.item(current, evidence=False)["status"] == "open"
