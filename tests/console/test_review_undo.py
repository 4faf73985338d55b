"""The review page decides with a reason category and undoes the last decision (AppTest over HTTP)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from console.views.review import CATEGORIES
from policies.schema import STRIKE_CATEGORIES
from tests.conftest import REPO, LiveServer
from tests.review.held import held_upload


def test_the_console_offers_the_servers_categories() -> None:
    assert set(CATEGORIES) == set(STRIKE_CATEGORIES)


def test_a_moderator_decides_with_a_category_then_undoes_it(
    shared_live_server: LiveServer, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    live = shared_live_server
    posted = held_upload(live, "adult", fixtures_dir / "characters" / "tux" / "tux_boot_old.png")
    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at: Any = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = live.tokens["moderator"]
    at.session_state["user"] = live.users["moderator"].to_self()
    at.run()
    at.sidebar.radio[0].set_value("Review queue").run()
    at.selectbox[0].set_value("uploads").run()
    next(b for b in at.button if b.label == "Claim next").click().run()
    assert at.session_state["review_item"] == posted["queue_item_id"]

    next(r for r in at.radio if r.label == "Decision").set_value("block")
    next(t for t in at.text_input if t.label.startswith("Reason")).set_value("spam wave")
    next(s for s in at.selectbox if s.label == "Category").set_value("spam")
    next(c for c in at.checkbox if c.label.startswith("Then claim")).uncheck()
    next(b for b in at.button if b.label == "Decide").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    decisions = live.services.store.query_dicts(
        "SELECT id, outcome, json_extract_string(details, '$.category') AS category "
        "FROM decisions WHERE clip_id = ? ORDER BY created_at DESC LIMIT 1",
        [posted["clip_id"]],
    )
    assert decisions[0]["outcome"] == "block" and decisions[0]["category"] == "spam"

    next(b for b in at.button if b.label.startswith("Undo:")).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    item = live.services.pipeline.review.item(posted["queue_item_id"], evidence=False)
    assert item["status"] == "claimed" and item["claimed_by"] == live.users["moderator"].id
    status = live.services.store.query("SELECT status FROM clips WHERE id = ?", [posted["clip_id"]])
    assert status[0][0] == "queued"
    assert at.session_state["review_item"] == posted["queue_item_id"]
