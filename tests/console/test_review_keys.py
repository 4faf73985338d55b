"""A moderator clears items with the keyboard in a real Chromium: claim, decide, next, undo, release.

Three held uploads; ``n`` claims the next item, ``b`` picks Block, ``d`` decides
(and, with "Then claim the next item" ticked, claims the next one); the last
decision is undone with its button, and the item it gave back is released.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, start_live_server
from tests.console.browser import (
    browser_page,
    console_process,
    go_to,
    need_chromium,
    settle,
    sign_in,
)
from tests.review.held import held_upload

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Any]:
    need_chromium()
    root = tmp_path_factory.mktemp("review-keys")
    server = start_live_server(root / "data")
    live = next(server)
    try:
        chars = fixtures_dir / "characters"
        items = [
            held_upload(live, "adult", chars / name)["queue_item_id"]
            for name in ("tux/tux_boot.png", "tux/tux_speech.png", "go_gopher/gopherbw.png")
        ]
        with console_process(live.url, root / "console.log") as url:
            yield live, url, items
    finally:
        server.close()


def _status(live: LiveServer, item_id: str) -> dict[str, Any]:
    return live.services.pipeline.review.item(item_id, evidence=False)  # type: ignore[no-any-return]


def test_a_moderator_clears_items_with_the_keyboard(stack: Any) -> None:
    from playwright.sync_api import expect

    live, url, items = stack
    with browser_page(1500, 1300) as page:
        sign_in(page, url, "moderator", "moderator-password")
        go_to(page, "Review queue")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text("Keys:", exact=False)).to_be_visible()
        page.keyboard.press("n")
        settle(page)
        expect(main.get_by_text("Item qi_", exact=False).first).to_be_visible()
        decided = []
        for n in range(3):
            current = next(i for i in items if _status(live, i)["status"] == "claimed")
            page.keyboard.press("b")
            reason = page.get_by_role("textbox", name="Reason (required, the creator sees it)")
            reason.fill(f"keyboard decision {n}")
            reason.press("Tab")  # the value is sent when the field loses focus
            page.evaluate("document.activeElement && document.activeElement.blur()")
            settle(page)
            page.keyboard.press("d")
            settle(page)
            assert _status(live, current)["status"] == "resolved", n
            decided.append(current)
        assert sorted(decided) == sorted(items)
        for item in items:
            resolution = _status(live, item)["resolution"]
            assert resolution["outcome"] == "block" and resolution["category"] == "other"

        last = decided[-1]
        page.get_by_role("button", name=f"Undo: block on item {last}").click()
        settle(page)
        assert _status(live, last)["status"] == "claimed"
        page.get_by_role("button", name="Release (back to the queue)").click()
        settle(page)
        assert _status(live, last)["status"] == "open"
