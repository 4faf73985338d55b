"""The account list pages on the server: ``offset``/``next_offset``, a role filter and a literal
handle search, against a real server; the paged reads add up to the one-page read."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer


def _page(live: LiveServer, **params: Any) -> dict[str, Any]:
    with live.client("admin") as admin:
        r = admin.get("/users", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_users_page_filter_and_search(shared_live_server: LiveServer) -> None:
    live = shared_live_server
    for i in range(7):
        live.add_account(f"pager{i}", "user")
    live.add_account("pager_mod", "moderator")
    live.add_account("pagerxmod", "moderator")

    whole = [u["handle"] for u in _page(live, limit=500)["users"]]
    paged: list[str] = []
    offset: int | None = 0
    while offset is not None:
        doc = _page(live, limit=3, offset=offset)
        assert doc["offset"] == offset and len(doc["users"]) <= 3
        paged += [u["handle"] for u in doc["users"]]
        offset = doc["next_offset"]
    assert paged == whole and len(set(paged)) == len(paged)

    found = [u["handle"] for u in _page(live, q="PAGER")["users"]]
    assert found == [f"pager{i}" for i in range(7)] + ["pager_mod", "pagerxmod"]
    # The search text is literal: "_" is not LIKE's one-character wildcard.
    assert [u["handle"] for u in _page(live, q="pager_")["users"]] == ["pager_mod"]
    assert _page(live, q="%")["users"] == []
    mods = _page(live, role="moderator", q="pager")
    assert [u["handle"] for u in mods["users"]] == ["pager_mod", "pagerxmod"]
    assert mods["next_offset"] is None

    with live.client("admin") as admin:
        assert admin.get("/users", params={"limit": 0}).status_code == 422
        assert admin.get("/users", params={"limit": 501}).status_code == 422
        assert admin.get("/users", params={"offset": -1}).status_code == 422
        assert admin.get("/users", params={"q": "x" * 65}).status_code == 422
        assert admin.get("/users", params={"role": "emperor"}).status_code == 422
