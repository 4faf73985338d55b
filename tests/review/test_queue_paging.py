"""A queue's item list pages on the server: the pages, walked with ``next_offset``, hold every
unresolved item once, in the order a plain SQL read of ``queue_items`` gives; status and reason
words narrow the list."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from store.queue import QueueRequest, open_or_escalate
from tests.conftest import REPO, LiveServer

QUEUE = "paging-check"
ITEMS = 60  # more than one console page of 50


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    live = shared_live_server
    with live.services.store.transaction() as tx:
        for n in range(ITEMS):
            # Three priorities, so ties are broken by the deadline, creation time and id.
            request = QueueRequest(
                queue=QUEUE,
                priority=[10, 50, 50][n % 3],
                reason=f"{'copyright' if n % 2 else 'spam'} report {n}",
                dedupe_key=f"paging-{n}",
                one_per_clip=False,
            )
            open_or_escalate(tx, None, None, request, None)
    return live


def _walk(live: LiveServer, limit: int, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    offset: int | None = 0
    with live.client("moderator") as c:
        while offset is not None:
            r = c.get(f"/queues/{QUEUE}", params={**params, "limit": limit, "offset": offset})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["queue"] == QUEUE and len(body["items"]) <= limit
            assert all("evidence" in i for i in body["items"])
            seen += body["items"]
            offset = body["next_offset"]
    return seen


def _sql_ids(live: LiveServer, extra: str = "", params: tuple[Any, ...] = ()) -> list[str]:
    rows = live.services.store.query_dicts(
        "SELECT id FROM queue_items WHERE queue = ? AND status IN ('open', 'claimed')"
        f"{extra} ORDER BY priority DESC, due_at, created_at, id",
        [QUEUE, *params],
    )
    return [r["id"] for r in rows]


def test_pages_cover_every_item_once_in_urgency_order(live: LiveServer) -> None:
    expected = _sql_ids(live)
    assert len(expected) == ITEMS
    for limit in (1, 7, 50, ITEMS, 500):
        ids = [i["id"] for i in _walk(live, limit)]
        assert ids == expected, limit
        assert len(set(ids)) == len(ids)


def test_status_and_reason_words_filter_on_the_server(live: LiveServer) -> None:
    first = _sql_ids(live)[0]
    with live.client("moderator") as c:
        assert c.post(f"/queue-items/{first}/claim").status_code == 200
    claimed = _walk(live, 4, status="claimed")
    assert [i["id"] for i in claimed] == _sql_ids(live, " AND status = 'claimed'")
    assert [i["id"] for i in claimed] == [first]
    opened = [i["id"] for i in _walk(live, 4, status="open")]
    assert opened == _sql_ids(live, " AND status = 'open'")
    assert first not in opened and len(opened) == ITEMS - 1
    copyright_ids = [i["id"] for i in _walk(live, 4, q="COPYRIGHT report")]
    assert copyright_ids == _sql_ids(live, " AND reason ILIKE ?", ("%copyright%",))
    assert len(copyright_ids) == ITEMS // 2
    assert _walk(live, 4, q="100%") == []


def test_the_answer_keeps_its_keys_and_refuses_bad_paging(live: LiveServer) -> None:
    with live.client("moderator") as c:
        body = c.get(f"/queues/{QUEUE}", params={"limit": 50}).json()
        assert {"queue", "items", "next_offset"} <= set(body)
        assert body["next_offset"] == 50 and len(body["items"]) == 50
        assert c.get(f"/queues/{QUEUE}", params={"offset": -1}).status_code == 422
        assert c.get(f"/queues/{QUEUE}", params={"status": "resolved"}).status_code == 422
        assert c.get(f"/queues/{QUEUE}", params={"offset": 10**9}).status_code == 422


def test_the_console_lists_a_queue_page_by_page(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = live.tokens["moderator"]
    at.session_state["user"] = live.users["moderator"].to_self()
    at.run()
    at.sidebar.radio[0].set_value("Review queue").run()
    next(s for s in at.selectbox if s.label == "Queue").set_value(QUEUE).run()
    assert not at.exception, [e.value for e in at.exception]
    expected = _sql_ids(live)

    def listed() -> list[str]:
        frame = next((d.value for d in at.dataframe if "reason" in d.value.columns), None)
        return [] if frame is None else [str(i) for i in frame["id"]]

    def button(label: str) -> Any:
        return next(b for b in at.button if b.label == label)

    assert listed() == expected[:50]
    assert button("Previous items").disabled
    button("Next items").click().run()
    assert listed() == expected[50:]
    assert button("Next items").disabled
    button("Previous items").click().run()
    assert listed() == expected[:50]
    next(t for t in at.text_input if t.label == "Words in the reason").set_value("spam").run()
    assert listed() == _sql_ids(live, " AND reason ILIKE ?", ("%spam%",))
    next(s for s in at.selectbox if s.label == "Status").set_value("claimed").run()
    claimed_spam = " AND status = 'claimed' AND reason ILIKE ?"
    assert listed() == _sql_ids(live, claimed_spam, ("%spam%",))
    assert not at.exception, [e.value for e in at.exception]
