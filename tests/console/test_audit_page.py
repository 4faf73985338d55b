"""The console's audit log page against a real server (AppTest runs ``console/app.py``; every call
goes over HTTP): filters by actor and event family, pages older and newer with the rows the API
gives, shows the total, offers the CSV of the filter and shows the hash chain's state."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from store.events import UserUpdated
from tests.conftest import REPO, LiveServer

NOTES = 130  # more than one page of 100


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    live = shared_live_server
    actor = live.users["moderator"].id
    subject = live.users["adult"].id
    with live.services.store.transaction() as tx:
        for n in range(NOTES):
            tx.audit(UserUpdated(actor_id=actor, user_id=subject, changes={"note": f"memo {n}"}))
    return live


def _app(live: LiveServer, monkeypatch: pytest.MonkeyPatch, *, intact: bool = True) -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = live.tokens["admin"]
    at.session_state["user"] = live.users["admin"].to_self()
    at.run()
    at.sidebar.radio[0].set_value("Audit log").run()
    assert not at.exception, [e.value for e in at.exception]
    if intact:
        _ok(at)
    return at


def _ok(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _button(at: Any, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def _api(live: LiveServer, **params: Any) -> dict[str, Any]:
    with live.client("admin") as c:
        r = c.get("/audit", params={"limit": 100, **params})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def _seqs(at: Any) -> list[int]:
    return [int(s) for s in at.dataframe[0].value["seq"]]


def _caption(at: Any) -> str:
    return " ".join(c.value for c in at.caption)


def test_filters_page_both_ways_with_the_api_rows(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(live, monkeypatch)
    assert any("Hash chain intact" in s.value for s in at.success)
    everything = _api(live)
    assert _seqs(at) == [e["seq"] for e in everything["events"]]
    assert f"{everything['total']} matching events" in _caption(at)

    at.text_input(key="audit_actor").set_value("moderator").run()
    at.text_input(key="audit_event").set_value("user.").run()
    _ok(at)
    first = _api(live, actor="moderator", event="user.")
    assert first["total"] == NOTES
    assert _seqs(at) == [e["seq"] for e in first["events"]]
    assert f"{NOTES} matching events; showing 1–100" in _caption(at)
    assert _button(at, "Newer").disabled and _button(at, "Newest").disabled

    _button(at, "Older").click().run()
    _ok(at)
    second = _api(live, actor="moderator", event="user.", before_seq=first["next_before_seq"])
    assert second["next_before_seq"] is None and len(second["events"]) == NOTES - 100
    assert _seqs(at) == [e["seq"] for e in second["events"]]
    assert "showing 101–130" in _caption(at)
    assert _button(at, "Older").disabled
    assert not set(_seqs(at)) & {e["seq"] for e in first["events"]}

    _button(at, "Newer").click().run()
    _ok(at)
    assert _seqs(at) == [e["seq"] for e in first["events"]]
    _button(at, "Older").click().run()
    _button(at, "Newest").click().run()
    assert _seqs(at) == [e["seq"] for e in first["events"]]

    at.text_input(key="audit_q").set_value("memo 7").run()
    _ok(at)
    words = _api(live, actor="moderator", event="user.", q="memo 7")
    assert _seqs(at) == [e["seq"] for e in words["events"]]
    assert f"{words['total']} matching events" in _caption(at)
    assert words["total"] >= 1


def test_the_csv_of_the_current_filter_is_offered(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(live, monkeypatch)
    at.text_input(key="audit_actor").set_value("moderator").run()
    _button(at, "Prepare CSV").click().run()
    _ok(at)
    downloads = at.get("download_button")
    assert len(downloads) == 1
    assert downloads[0].proto.label == "Download CSV"
    with live.client("admin") as c:
        csv = c.get("/audit/export", params={"format": "csv", "actor": "moderator"}).text
    total = _api(live, actor="moderator")["total"]
    assert total >= NOTES
    assert len(csv.strip().splitlines()) == total + 1  # a header and one line per event


def test_an_unknown_actor_reads_as_the_server_error(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(live, monkeypatch)
    at.text_input(key="audit_actor").set_value("nobody").run()
    assert not at.exception
    assert any("no account @nobody" in e.value for e in at.error), [e.value for e in at.error]


def test_a_broken_chain_is_shown_in_red_with_its_first_bad_row(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Last in this module: it spoils the shared server's chain on purpose.
    at = _app(live, monkeypatch)
    assert any("Hash chain intact" in s.value for s in at.success)
    # A row well before the last intact check's tip (the oldest memo on the first page).
    seq = _api(live, actor="moderator", limit=100)["events"][-1]["seq"]
    with live.services.store.transaction() as tx:
        tx.execute("UPDATE audit_log SET payload = '{}' WHERE seq = ?", [seq])
    # The routine check on each visit recomputes only rows newer than the last intact check,
    # and says so; an old row edited under its stale hash takes the full check to find.
    at.text_input(key="audit_q").set_value("memo").run()
    intact = [s.value for s in at.success if "Hash chain intact" in s.value]
    assert intact and "older rows at the last full check" in intact[0], intact
    _button(at, "Check every row").click().run()
    assert not at.exception and not at.success
    assert any(f"broken at row {seq}" in e.value for e in at.error), [e.value for e in at.error]
    assert any("every row recomputed" in e.value for e in at.error)
    # A broken chain is checked in full from then on, in every session.
    fresh = _app(live, monkeypatch, intact=False)
    assert any(f"broken at row {seq}" in e.value for e in fresh.error)
