"""Guardian links: pending until the teen confirms; either side (or an admin) can unlink; audited."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import bearer, events
from tests.conftest import LiveServer


def _request(live: LiveServer, guardian: str = "guardian") -> None:
    with live.client(guardian) as g:
        r = g.post("/guardians/teen")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"


def _guardian_sees(live: LiveServer, guardian: str = "guardian") -> bool:
    with live.client(guardian) as g:
        read = g.get("/teens/teen/settings")
        change = g.put("/teens/teen/settings", json={"feed_limit_per_day": 30})
    assert read.status_code in (200, 404) and change.status_code in (200, 404)
    assert (read.status_code == 200) == (change.status_code == 200)
    return read.status_code == 200


def test_a_request_gives_nothing_until_the_teen_confirms(live_server: LiveServer) -> None:
    live = live_server
    _request(live)
    assert not _guardian_sees(live)
    with live.client("guardian") as g:
        mine = g.get("/teens").json()
    assert mine["teens"] == []
    assert [p["handle"] for p in mine["pending"]] == ["teen"]
    assert set(mine["pending"][0]) == {"handle", "requested_at"}  # nothing about the account

    with live.client("teen") as t:
        links = t.get("/me/guardians").json()["guardians"]
        assert [(link["guardian"], link["status"]) for link in links] == [("guardian", "pending")]
        assert t.get("/me/settings").json()["guardians"] == []
        r = t.post("/me/guardians/guardian/confirm")
        assert r.status_code == 200 and r.json()["status"] == "confirmed"
        assert t.get("/me/settings").json()["guardians"] == ["guardian"]

    assert _guardian_sees(live)
    with live.client("guardian") as g:
        mine = g.get("/teens").json()
    assert [t["handle"] for t in mine["teens"]] == ["teen"] and mine["pending"] == []
    guardian_id, teen_id = live.users["guardian"].id, live.users["teen"].id
    [requested] = events(live, "guardian.requested")
    assert requested["actor_id"] == guardian_id and requested["subject_id"] == teen_id
    [confirmed] = events(live, "guardian.confirmed")
    assert confirmed["actor_id"] == teen_id


def test_a_new_guardian_cannot_take_over_a_teen(live_server: LiveServer) -> None:
    live = live_server
    with live.client("admin") as admin:
        made = admin.post("/users", json={"handle": "stranger", "role": "guardian"})
    assert made.status_code == 201, made.text
    with bearer(live, made.json()["token"]) as stranger:
        assert stranger.post("/guardians/teen").json()["status"] == "pending"
        assert stranger.get("/teens/teen/settings").status_code == 404
        r = stranger.put("/teens/teen/settings", json={"feed_limit_per_day": 0})
        assert r.status_code == 404
        assert stranger.get("/teens").json()["teens"] == []
    with live.client("teen") as t:
        assert t.get("/me/settings").json()["settings"]["feed_limit_per_day"] == 60
        # The teen declines.
        r = t.delete("/me/guardians/stranger")
        assert r.status_code == 200 and r.json()["was"] == "pending"
        assert t.get("/me/guardians").json()["guardians"] == []


def test_either_side_or_an_admin_can_unlink(live_server: LiveServer) -> None:
    live = live_server
    # The guardian ends a confirmed link.
    _request(live)
    with live.client("teen") as t:
        assert t.post("/me/guardians/guardian/confirm").status_code == 200
    with live.client("guardian") as g:
        r = g.delete("/guardians/teen")
        assert r.status_code == 200 and r.json()["was"] == "confirmed"
        assert g.delete("/guardians/teen").status_code == 404
    assert not _guardian_sees(live)

    # The teen ends one.
    _request(live)
    with live.client("teen") as t:
        assert t.post("/me/guardians/guardian/confirm").status_code == 200
        assert t.delete("/me/guardians/guardian").json()["was"] == "confirmed"
    assert not _guardian_sees(live)

    # An admin links directly (no confirmation needed) and unlinks.
    with live.client("admin") as admin:
        r = admin.post("/guardians/teen", params={"guardian_handle": "guardian"})
        assert r.status_code == 200 and r.json()["status"] == "confirmed"
        assert _guardian_sees(live)
        assert admin.delete("/guardians/teen").status_code == 422  # which guardian?
        r = admin.delete("/guardians/teen", params={"guardian_handle": "guardian"})
        assert r.status_code == 200
    assert not _guardian_sees(live)

    unlinked = events(live, "guardian.unlinked")
    assert [e["payload"]["by"] for e in unlinked] == ["guardian", "teen", "admin"]
    assert [e["actor_id"] for e in unlinked] == [
        live.users["guardian"].id,
        live.users["teen"].id,
        live.users["admin"].id,
    ]
    assert len(events(live, "guardian.linked")) == 1


@pytest.mark.parametrize("handle", ["guardian", "adult", "nobody-here"])
def test_confirming_what_was_never_asked_is_refused(live_server: LiveServer, handle: str) -> None:
    with live_server.client("teen") as t:
        r = t.post(f"/me/guardians/{handle}/confirm")
        assert r.status_code == 404
        assert r.json()["error"] == f"no guardian link with @{handle}"
        assert t.delete(f"/me/guardians/{handle}").status_code == 404
