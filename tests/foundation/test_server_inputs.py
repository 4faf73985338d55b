"""Bad input over HTTP: clear 4xx errors, nothing half written, the audit log still verifies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import LiveServer


def test_wrong_and_malformed_tokens_are_401(live_server: LiveServer) -> None:
    for header in ("Bearer nope", "Bearer gr_000000000000_" + "x" * 40, "Basic abc", "Bearer"):
        with live_server.client() as client:
            response = client.get("/me", headers={"Authorization": header})
        assert response.status_code == 401
        assert "error" in response.json() and "Traceback" not in response.text


def test_revoked_token_stops_working_at_once(live_server: LiveServer) -> None:
    with live_server.client("adult") as client:
        made = client.post("/me/tokens", json={"label": "temp"}).json()
    temp = {"Authorization": f"Bearer {made['token']}"}
    with live_server.client() as client:
        assert client.get("/me", headers=temp).status_code == 200
    with live_server.client("adult") as client:
        assert client.delete(f"/me/tokens/{made['id']}").status_code == 200
    with live_server.client() as client:
        assert client.get("/me", headers=temp).status_code == 401


def test_login_gives_a_working_session_and_hides_which_part_was_wrong(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        ok = client.post("/auth/login", json={"handle": "adult", "password": "adult-password"})
        assert ok.status_code == 200
        token = ok.json()["token"]
        assert (
            client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()["handle"]
            == "adult"
        )
        wrong_pw = client.post("/auth/login", json={"handle": "adult", "password": "nope-nope"})
        no_user = client.post("/auth/login", json={"handle": "ghost", "password": "nope-nope"})
    assert wrong_pw.status_code == no_user.status_code == 401
    assert wrong_pw.json() == no_user.json()


def test_malformed_oversized_and_unknown(live_server: LiveServer) -> None:
    with live_server.client("admin") as client:
        bad_json = client.post(
            "/users", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
        wrong_type = client.post("/users", json={"handle": "zed", "role": "emperor"})
        assert wrong_type.status_code == 422 and "role" in wrong_type.json()["error"]
        huge = client.post(
            "/users",
            content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413
        unknown = client.get("/users/nobody-here")
        assert unknown.status_code == 404
        # A secret sent in a bad request is never echoed back.
        leaked = client.post(
            "/users", json={"handle": "ok-handle", "role": "user", "password": "short"}
        )
        assert leaked.status_code == 422 and "short" not in leaked.text
        assert client.get("/audit/verify").json()["ok"] is True
        handles = [u["handle"] for u in client.get("/users").json()["users"]]
    assert "zed" not in handles and "ok-handle" not in handles


def test_concurrent_writes_from_many_threads(live_server: LiveServer) -> None:
    def create(i: int) -> int:
        with live_server.client("admin") as client:
            return client.post(
                "/users", json={"handle": f"user{i % 12}", "role": "user", "birth_year": 1990}
            ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(24)))
    # 12 distinct handles: each created exactly once, every duplicate a clean 409.
    assert statuses.count(201) == 12 and statuses.count(409) == 12
    with live_server.client("admin") as client:
        users = client.get("/users").json()["users"]
        verify = client.get("/audit/verify").json()
    assert len([u for u in users if u["handle"].startswith("user")]) == 12
    assert verify["ok"] is True
