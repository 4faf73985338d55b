"""Admins suspend and reinstate accounts with a reason; a suspended account's tokens stop at once."""

from __future__ import annotations

from tests.accounts.conftest import bearer, events
from tests.conftest import LiveServer


def _login(live: LiveServer, handle: str, password: str) -> int:
    with live.client() as anon:
        return anon.post("/auth/login", json={"handle": handle, "password": password}).status_code


def test_suspension_stops_tokens_at_once_and_reinstatement_restores_them(
    live_server: LiveServer,
) -> None:
    live = live_server
    with live.client("adult") as adult:
        assert adult.get("/me").status_code == 200  # the token is now in the server's cache
    with live.client("admin") as admin:
        r = admin.post("/users/adult/suspend", json={"reason": "spam wave"})
        assert r.status_code == 200, r.text
        assert r.json()["suspended"] and r.json()["suspension_reason"] == "spam wave"
    with live.client("adult") as adult:
        refused = adult.get("/me")
    assert refused.status_code == 401 and "suspended" in refused.json()["error"]
    assert _login(live, "adult", "adult-password") == 401
    assert _login(live, "adult", "wrong-password") == 401
    with live.client("admin") as admin:
        shown = admin.get("/users/adult").json()
        assert shown["suspended"] and shown["suspension_reason"] == "spam wave"
        # Reinstating needs a reason too, and a suspended account cannot be suspended again.
        assert admin.post("/users/adult/unsuspend", json={}).status_code == 422
        assert admin.post("/users/adult/suspend", json={"reason": "again"}).status_code == 409
        r = admin.post("/users/adult/unsuspend", json={"reason": "appeal upheld"})
        assert r.status_code == 200 and not r.json()["suspended"]
        assert admin.post("/users/adult/unsuspend", json={"reason": "x"}).status_code == 409
    with live.client("adult") as adult:
        assert adult.get("/me").status_code == 200
    assert _login(live, "adult", "adult-password") == 200

    admin_id, adult_id = live.users["admin"].id, live.users["adult"].id
    [suspended] = events(live, "user.suspended")
    assert suspended["actor_id"] == admin_id and suspended["subject_id"] == adult_id
    assert suspended["payload"]["reason"] == "spam wave"
    [reinstated] = events(live, "user.reinstated")
    assert reinstated["actor_id"] == admin_id and reinstated["payload"]["reason"] == "appeal upheld"


def test_suspension_can_revoke_every_token(live_server: LiveServer) -> None:
    live = live_server
    with live.client("admin") as admin:
        r = admin.post(
            "/users/adult/suspend", json={"reason": "account takeover", "revoke_tokens": True}
        )
        assert r.status_code == 200, r.text
        assert (
            admin.post("/users/adult/unsuspend", json={"reason": "owner back"}).status_code == 200
        )
    with live.client("adult") as adult:
        r = adult.get("/me")
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    # The owner signs in again with their password.
    with live.client() as anon:
        session = anon.post("/auth/login", json={"handle": "adult", "password": "adult-password"})
    assert session.status_code == 200
    with bearer(live, session.json()["token"]) as c:
        assert c.get("/me").status_code == 200
    assert events(live, "user.suspended")[0]["payload"]["tokens_revoked"] >= 1


def test_the_last_admin_cannot_be_suspended(live_server: LiveServer) -> None:
    live = live_server
    with live.client("admin") as admin:
        alone = admin.post("/users/admin/suspend", json={"reason": "oops"})
        assert alone.status_code == 409 and "last active admin" in alone.json()["error"]
        second = admin.post("/users", json={"handle": "admin2", "role": "admin"})
        assert second.status_code == 201, second.text
        token = second.json()["token"]
        assert admin.get("/me").status_code == 200
    with bearer(live, token) as admin2:
        assert admin2.post("/users/admin/suspend", json={"reason": "left"}).status_code == 200
        # admin2 is now the last active admin: it cannot suspend itself either.
        r = admin2.post("/users/admin2/suspend", json={"reason": "me"})
        assert r.status_code == 409
        assert admin2.get("/me").status_code == 200


def test_bad_suspensions_are_refused_clearly(live_server: LiveServer) -> None:
    live = live_server
    with live.client("admin") as admin:
        assert admin.post("/users/nobody-here/suspend", json={"reason": "x"}).status_code == 404
        assert admin.post("/users/adult/suspend", json={"reason": ""}).status_code == 422
        assert admin.post("/users/adult/suspend", json={"reason": "x" * 501}).status_code == 422
    with live.client("moderator") as mod:
        assert mod.post("/users/adult/suspend", json={"reason": "x"}).status_code == 403
    with live.client("adult") as adult:
        assert adult.get("/me").status_code == 200
