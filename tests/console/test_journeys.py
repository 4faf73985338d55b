"""Whole journeys in a real Chromium against a real server and console (issue #14).

One server and one console for the module. A rights holder registers a
character with a reference image in the page and sees an adult's upload of
it matched; a cameo owner revokes in "My cameo" and watches the takedown
finish while the clip leaves the feed; a lead reads the Overview charts.

Each test saves a full-page screenshot of the page it ends on under its
tmp dir; GREENROOM_UPDATE_SCREENSHOTS=1 also writes docs/screenshots/<name>.png.
The server runs no worker of its own here (lifespan off), so the test drives
the takedown job with the pipeline's worker, as tests/likeness do.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import REPO, LiveServer, start_live_server
from tests.console.browser import (
    browser_page,
    console_process,
    full_screenshot,
    go_to,
    need_chromium,
    settle,
    sign_in,
)
from tests.likeness.clips import splice
from tests.likeness.conftest import D3, D3_CHALLENGE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UPDATE_SCREENSHOTS = os.environ.get("GREENROOM_UPDATE_SCREENSHOTS") == "1"
GOPHER = Path("characters") / "go_gopher" / "gophercolor.png"


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    settle(page)
    full_screenshot(page, tmp_path / f"{name}.png")
    if UPDATE_SCREENSHOTS:
        shots = REPO / "docs" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        full_screenshot(page, shots / f"{name}.png")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Any]:
    need_chromium()
    root = tmp_path_factory.mktemp("journeys")
    server = start_live_server(root / "data")
    live = next(server)
    try:
        with console_process(live.url, root / "console.log") as url:
            yield live, url, root
    finally:
        server.close()


def _feed_ids(live: LiveServer, who: str) -> set[str]:
    with live.client(who) as client:
        r = client.get("/feed", params={"limit": 100})
    assert r.status_code == 200, r.text
    return {item["clip_id"] for item in r.json()["items"]}


def test_a_rights_holder_registers_a_character_and_sees_a_match(
    stack: Any, fixtures_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live, url, _ = stack
    gopher = fixtures_dir / GOPHER
    with browser_page(1500, 1300) as page:
        sign_in(page, url, "rights-holder", "rights_holder-password")
        expect(page.get_by_text("@rights-holder · rights_holder")).to_be_visible()
        go_to(page, "Characters")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text("No characters registered yet.")).to_be_visible()
        form = main.get_by_test_id("stForm").filter(has_text="Register a character")
        form.get_by_role("textbox", name="Name", exact=True).fill("Journey Gopher")
        form.get_by_role("textbox", name="Aliases (comma or one per line)").fill("Gordon")
        form.get_by_test_id("stSelectbox").click()
        page.get_by_role("option", name="A human reviews each use").click()
        form.locator('input[type="file"]').set_input_files(str(gopher))
        expect(form.get_by_text(gopher.name)).to_be_visible()
        form.get_by_role("button", name="Register", exact=True).click()
        settle(page)
        expect(main.get_by_text("Registered Journey Gopher (", exact=False)).to_be_visible()
        expect(
            main.get_by_text("with policy review and 1 reference image(s)", exact=False)
        ).to_be_visible()
        with live.client("rights_holder") as rh:
            mine = rh.get("/characters").json()["characters"]
        assert [(c["name"], c["policy"], len(c["refs"])) for c in mine] == [
            ("Journey Gopher", "review", 1)
        ]

        # An adult posts a re-encoded, smaller copy of the gopher, as an upload would be.
        img = Image.open(gopher).convert("RGB")
        img = img.resize((img.width * 2 // 3, img.height * 2 // 3))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=70)
        with live.client("adult") as adult:
            posted = adult.post(
                "/clips",
                files={"file": ("my_gopher.jpg", buf.getvalue(), "image/jpeg")},
                data={"prompt": "a little blue friend"},
            )
        assert posted.status_code == 200, posted.text
        clip_id = posted.json()["clip_id"]
        assert posted.json()["status"] != "published", posted.json()  # policy review holds it

        # The rights holder opens the page afresh and reads the match with its evidence.
        go_to(page, "Overview")
        go_to(page, "Characters")
        expect(main.get_by_text("No clip or prompt has matched yet.")).to_have_count(0)
        expect(main.get_by_text("via image.copy", exact=False)).to_be_visible()
        chosen = main.get_by_role("combobox", name="Evidence of a match")
        expect(chosen).to_be_visible()
        shown = chosen.evaluate("el => el.value || el.innerText || ''")
        assert shown.startswith(f"Journey Gopher · {clip_id} · score"), shown
        assert shown.endswith("· review"), shown
        main.get_by_role("heading", name="Matches").scroll_into_view_if_needed()
        _shot(page, tmp_path, "journey_character_match")
    with live.client("rights_holder") as rh:
        matches = rh.get("/characters/matches").json()["matches"]
    seen = [m for m in matches if m.get("clip_id") == clip_id]
    assert seen and seen[0]["name"] == "Journey Gopher"
    assert seen[0]["backend"].startswith("image.copy")


def test_a_cameo_owner_revokes_and_the_clip_leaves_the_feed(
    stack: Any, fixtures_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    live, url, root = stack
    svc = live.services
    videos = fixtures_dir / "videos"
    recording = splice(root / "recording.mp4", [(videos / D3, 0.0, 7.7)])
    showing = splice(root / "rest_a.mp4", [(videos / D3, 7.7, 9.8)])
    live.add_account("alice")
    alice = svc.users.by_handle("alice")
    enrolled = svc.pipeline.likeness.enroll(alice, recording, D3_CHALLENGE)
    assert enrolled.status == "active", enrolled.reason
    svc.pipeline.likeness.set_permission(alice, "everyone")
    with live.client("adult") as adult:
        posted = adult.post(
            "/clips",
            files={"file": ("hi.mp4", showing.read_bytes(), "video/mp4")},
            data={"prompt": "alice says hi"},
        )
    assert posted.status_code == 200, posted.text
    clip_id = posted.json()["clip_id"]
    assert posted.json()["status"] == "published", posted.json()
    assert clip_id in _feed_ids(live, "guardian")

    with browser_page(1500, 1300) as page:
        sign_in(page, url, "alice", "alice-pw")
        expect(page.get_by_text("@alice · user")).to_be_visible()
        go_to(page, "My cameo")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text("Revoke or delete")).to_be_visible()
        main.get_by_text(
            "Revoke my cameo: block every new use now and take down live clips that use it"
        ).click()
        settle(page)
        main.get_by_role("button", name="Revoke", exact=True).click()
        settle(page)
        # Revoked: the clip is out of every feed at once, its takedown still to run.
        expect(main.get_by_text("Takedown: 0 of 1 live clips down")).to_be_visible()
        assert clip_id not in _feed_ids(live, "guardian")

        worker = svc.pipeline.worker()
        while worker.run_once():
            pass
        main.get_by_role("button", name="Refresh progress").click()
        settle(page)
        expect(main.get_by_text("Takedown: 1 of 1 live clips down")).to_be_visible()
        _shot(page, tmp_path, "journey_cameo_revoked")

    assert clip_id not in _feed_ids(live, "guardian")
    assert clip_id not in _feed_ids(live, "teen")
    with live.client("moderator") as mod:
        clip = mod.get(f"/clips/{clip_id}").json()
    assert clip["status"] == "taken_down"


def test_a_lead_reads_the_overview_charts(stack: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _, url, _ = stack
    with browser_page(1500, 1300) as page:
        sign_in(page, url, "admin", "admin-password")
        expect(page.get_by_text("@admin · admin")).to_be_visible()
        go_to(page, "Overview")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text("What waits for me")).to_be_visible()
        expect(main.get_by_text("How the system is doing")).to_be_visible()
        charts = main.locator(
            '[data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"]'
        )
        expect(charts.first).to_be_visible()
        settle(page)
        assert charts.count() >= 4, charts.count()
        for n in range(charts.count()):
            expect(charts.nth(n)).to_be_attached()
        expect(main.locator("canvas, svg").first).to_be_attached()
        _shot(page, tmp_path, "journey_overview")
