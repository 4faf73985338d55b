"""Tokens expire, sign-out revokes, and the reasons a token stops working are said plainly.

Against a real server on loopback. Expiry is tested without waiting on the
clock: a token lifetime of 0 set through Settings, or a token's stored expiry
moved into the past through the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from store.db import now
from tests.accounts.conftest import bearer, events, live_server_with
from tests.conftest import LiveServer


def _login(live: LiveServer, account: str) -> dict:
    with live.client() as anon:
        r = anon.post("/auth/login", json={"handle": account, "password": f"{account}-password"})
    assert r.status_code == 200, r.text
    return r.json()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_sign_out_revokes_the_token_it_is_called_with(live_server: LiveServer) -> None:
    live = live_server
    session = _login(live, "adult")
    with bearer(live, session["token"]) as c:
        assert c.get("/me").status_code == 200  # now cached by the server
        out = c.post("/auth/logout")
        assert out.status_code == 200, out.text
        after = c.get("/me")
        assert after.status_code == 401 and "revoked" in after.json()["error"]
        # Signing out twice: the token is already dead.
        assert c.post("/auth/logout").status_code == 401
    # Only that token: the account's other token still works.
    with live.client("adult") as other:
        assert other.get("/me").status_code == 200
    logged_out = events(live, "auth.logged_out")
    assert [e["payload"]["token_id"] for e in logged_out] == [out.json()["token_id"]]
    assert logged_out[0]["actor_id"] == live.users["adult"].id


def test_an_expired_token_is_refused_with_a_clear_message(live_server: LiveServer) -> None:
    live = live_server
    with live.client("adult") as c:
        made = c.post("/me/tokens", json={"label": "short"})
    assert made.status_code == 201, made.text
    token_id, token = made.json()["id"], made.json()["token"]
    with bearer(live, token) as c:
        assert c.get("/me").status_code == 200  # verified once: the server caches it
    store = live.services.store
    with store.transaction() as tx:
        tx.execute(
            "UPDATE api_tokens SET expires_at = ? WHERE id = ?",
            [now() - timedelta(seconds=1), token_id],
        )
    with bearer(live, token) as c:
        r = c.get("/me")
    assert r.status_code == 401
    assert "expired" in r.json()["error"]


def test_a_token_stored_without_expiry_expires_by_age(live_server: LiveServer) -> None:
    """Tokens from before expiries existed count from their creation with the API lifetime."""
    live = live_server
    with live.client("adult") as c:
        made = c.post("/me/tokens", json={"label": "old"}).json()
    with live.services.store.transaction() as tx:
        tx.execute(
            "UPDATE api_tokens SET expires_at = NULL, created_at = ? WHERE id = ?",
            [now() - timedelta(days=365), made["id"]],
        )
    with bearer(live, made["token"]) as c:
        r = c.get("/me")
    assert r.status_code == 401 and "expired" in r.json()["error"]
    with live.client("adult") as c:
        listed = {t["id"]: t for t in c.get("/me/tokens").json()["tokens"]}
    assert listed[made["id"]]["expires_at"] is not None


def test_every_token_expires_and_none_outlives_the_maximum(live_server: LiveServer) -> None:
    live = live_server
    users = live.services.users
    before = datetime.now(UTC)
    with live.client("adult") as c:
        default = c.post("/me/tokens", json={}).json()
        longest = c.post("/me/tokens", json={"ttl_hours": 24 * 365}).json()
        short = c.post("/me/tokens", json={"ttl_hours": 2}).json()
        listed = c.get("/me/tokens").json()["tokens"]
    assert all(t["expires_at"] is not None for t in listed)
    cap = before + users.token_ttl
    assert _at(default["expires_at"]) <= cap + timedelta(minutes=5)
    assert _at(longest["expires_at"]) <= cap + timedelta(minutes=5)  # asked for a year: capped
    assert _at(short["expires_at"]) <= before + timedelta(hours=2, minutes=5)
    with live.client("admin") as admin:
        created = admin.post("/users", json={"handle": "newbie", "role": "user"})
    assert created.status_code == 201 and created.json()["token_expires_at"]
    session = _login(live, "moderator")
    assert 0 < session["expires_in_s"] <= int(users.session_ttl.total_seconds())
    assert _at(session["expires_at"]) <= before + users.session_ttl + timedelta(minutes=5)


def test_token_lifetimes_come_from_settings(tmp_path: Path) -> None:
    """session_ttl_hours=0: a console session is dead on arrival; token_ttl_hours caps API tokens."""
    with live_server_with(tmp_path / "data", session_ttl_hours=0, token_ttl_hours=0.5) as live:
        users = live.services.users
        assert (users.session_ttl, users.token_ttl) == (timedelta(0), timedelta(hours=0.5)), (
            "the composition root must pass Settings.token_ttl_hours / session_ttl_hours to Users"
        )
        session = _login(live, "adult")
        assert session["expires_in_s"] == 0
        with bearer(live, session["token"]) as c:
            r = c.get("/me")
        assert r.status_code == 401 and "expired" in r.json()["error"]
        with live.client("adult") as c:
            made = c.post("/me/tokens", json={"ttl_hours": 100}).json()
        lifetime = _at(made["expires_at"]) - datetime.now(UTC)
        assert timedelta(minutes=25) < lifetime <= timedelta(minutes=30)
