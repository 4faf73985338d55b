"""Every route, every role: the server's allow/deny table.

The table is what a reviewer signs off: the foundation's rows are below, and
each area adds its own in ``tests/<area>/access.py`` (a dict named ``ACCESS``
with the same shape), collected here. A route added without a row fails
``test_every_route_is_in_the_table``; a route whose access rule drifts from its
row fails ``test_every_role_on_every_route``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import httpx
import pytest

from feed.access import iter_api_routes, route_access
from tests.conftest import ROLE_ACCOUNTS, LiveServer

PUBLIC = "public"
ANY = "any"
ALL_ROLES = set(ROLE_ACCOUNTS)  # one account per role, plus a teen
STAFF = {"admin", "moderator"}
USERS = {"adult", "teen"}

# (method, path) -> PUBLIC, ANY (any signed-in account) or the set of test accounts allowed.
FOUNDATION: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("GET", "/me"): ANY,
    ("GET", "/me/tokens"): ANY,
    ("POST", "/me/tokens"): ANY,
    ("DELETE", "/me/tokens/{token_id}"): ANY,
    ("GET", "/users"): {"admin"},
    ("POST", "/users"): {"admin"},
    ("GET", "/users/{handle}"): ANY,
    ("POST", "/follows/{handle}"): ANY,
    ("DELETE", "/follows/{handle}"): ANY,
    ("POST", "/guardians/{teen_handle}"): {"guardian", "admin"},
    ("GET", "/audit"): {"admin"},
    ("GET", "/audit/verify"): {"admin"},
    ("GET", "/audit/export"): {"admin"},
}


def _collect() -> dict[tuple[str, str], str | set[str]]:
    import tests

    table = dict(FOUNDATION)
    for info in pkgutil.iter_modules(tests.__path__):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"tests.{info.name}.access")
        except ModuleNotFoundError:
            continue
        overlap = set(table) & set(module.ACCESS)
        assert not overlap, f"tests/{info.name}/access.py repeats rows: {sorted(overlap)}"
        table.update(module.ACCESS)
    return table


EXPECTED = _collect()


def _spending() -> set[tuple[str, str]]:
    """Routes that use up the caller's token (sign-out), from the areas' ``SPENDS_TOKEN``."""
    import tests

    found: set[tuple[str, str]] = set()
    for info in pkgutil.iter_modules(tests.__path__):
        if info.ispkg:
            try:
                module = importlib.import_module(f"tests.{info.name}.access")
            except ModuleNotFoundError:
                continue
            found |= set(getattr(module, "SPENDS_TOKEN", ()))
    return found


SPENDS_TOKEN = _spending()


def _client(live: LiveServer, account: str, method: str, path: str) -> httpx.Client:
    """The account's client; on a token-spending route, with a throwaway token of its own."""
    if (method, path) not in SPENDS_TOKEN:
        return live.client(account)
    with live.services.store.transaction() as tx:
        _, token = live.services.users.issue_token(
            tx, live.users[account].id, label="spent by the access table"
        )
    return httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0
    )


def _routes(live: LiveServer) -> list[tuple[str, str]]:
    from greenroom.wiring import make_app

    app = make_app(live.settings, services=live.services)
    found = []
    for path, route in iter_api_routes(app.routes):
        assert route_access(route) is not None, f"{path} has no access rule"
        for method in route.methods:
            found.append((method, path))
    return sorted(found)


def _fill(path: str) -> str:
    # Unknown ids: a permitted role then gets 404/422, a refused one 401/403.
    return re.sub(r"\{[^}]+\}", "does-not-exist", path)


def test_every_route_is_in_the_table(shared_live_server: LiveServer) -> None:
    routes = set(_routes(shared_live_server))
    missing = routes - set(EXPECTED)
    stale = set(EXPECTED) - routes
    assert not missing, f"routes without an expected access entry: {sorted(missing)}"
    assert not stale, f"table entries for routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("method,path", sorted(EXPECTED))
def test_every_role_on_every_route(shared_live_server: LiveServer, method: str, path: str) -> None:
    live = shared_live_server
    rule = EXPECTED[(method, path)]
    url = _fill(path)
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    with live.client() as anon:
        status = anon.request(method, url, **body).status_code
        if rule == PUBLIC:
            assert status not in (401, 403), f"anonymous {method} {path} -> {status}"
        else:
            assert status == 401, f"anonymous {method} {path} -> {status}, expected 401"
    for account in sorted(ALL_ROLES):
        allowed = rule in (PUBLIC, ANY) or account in rule  # type: ignore[operator]
        with _client(live, account, method, path) as client:
            status = client.request(method, url, **body).status_code
        if allowed:
            assert status not in (401, 403), f"{account} refused on {method} {path} ({status})"
        else:
            assert status == 403, f"{account} on {method} {path} -> {status}, expected 403"
