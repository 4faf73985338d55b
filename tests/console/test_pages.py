"""The console's pages in a real Chromium against a real server: review, policies, who sees what.

GREENROOM_UPDATE_SCREENSHOTS=1 writes ``docs/console.png`` (the review queue
with a claimed item's evidence) for the README.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.conftest import REPO
from tests.console.browser import browser_page, go_to, settle, sign_in
from tests.console.conftest import ConsoleStack
from tests.gate.conftest import BROKEN_RULE

UPDATE_SCREENSHOTS = os.environ.get("GREENROOM_UPDATE_SCREENSHOTS") == "1"


def _sidebar_titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.get_by_test_id("stSidebar").get_by_test_id("stRadio").inner_text().split("\n")


def test_moderator_claims_reads_evidence_and_decides(
    console_stack: ConsoleStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    stack = console_stack
    with browser_page(1500, 1300) as page:
        sign_in(page, stack.url, "moderator", "moderator-password")
        expect(page.get_by_text("@moderator · moderator")).to_be_visible()
        go_to(page, "Review queue")
        main = page.get_by_test_id("stMain")
        page.get_by_role("button", name="Claim next").click()
        settle(page)
        # The evidence: the item, the rule that fired with its value, the policy version, signals.
        expect(main.get_by_text(f"Item {stack.item_id}")).to_be_visible()
        expect(main.get_by_text("uploads_reviewed").first).to_be_visible()
        expect(main.get_by_text("context.stage").first).to_be_visible()
        expect(main.get_by_text(stack.policy_version).first).to_be_visible()
        expect(main.get_by_text("Provenance (C2PA)")).to_be_visible()
        expect(main.get_by_text("no C2PA manifest").first).to_be_attached()
        expect(main.locator("img").first).to_be_visible()  # the clip itself, via the media route
        settle(page)
        shots = REPO / "docs" if UPDATE_SCREENSHOTS else tmp_path
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "console.png"), full_page=True)

        with stack.live.client("moderator") as mod:
            claimed = mod.get(f"/queue-items/{stack.item_id}").json()
        assert claimed["status"] == "claimed"

        # A decision without a reason is refused in the page; nothing changes.
        main.get_by_text("Take down", exact=True).click()
        page.get_by_role("button", name="Decide").click()
        expect(main.get_by_text("A decision needs a reason.")).to_be_visible()
        page.get_by_role("textbox", name="Reason (required, the creator sees it)").fill(
            "identifiable person without consent"
        )
        page.get_by_role("button", name="Decide").click()
        expect(main.get_by_text(f"Decided take down on item {stack.item_id}")).to_be_visible()
        settle(page)
        expect(main.get_by_text("Every queue is empty.")).to_be_visible()

    with stack.live.client("moderator") as mod:
        item = mod.get(f"/queue-items/{stack.item_id}").json()
        queues = mod.get("/queues").json()["queues"]
        clip = mod.get(f"/clips/{stack.clip_id}").json()
    assert item["status"] == "resolved"
    assert item["resolution"]["action"] == "takedown"
    assert item["resolution"]["reason"] == "identifiable person without consent"
    assert "uploads" not in queues
    assert clip["status"] == "taken_down"


def test_admin_validates_a_broken_policy_and_sees_where(console_stack: ConsoleStack) -> None:
    from playwright.sync_api import expect

    stack = console_stack
    with stack.live.client("admin") as admin:
        before = admin.get("/policies").json()
    with browser_page() as page:
        sign_in(page, stack.url, "admin", "admin-password")
        expect(page.get_by_text("@admin · admin")).to_be_visible()
        go_to(page, "Policies")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text("This version is active.")).to_be_visible()
        main.get_by_role("tab", name="Edit and validate").click()
        editor = main.get_by_role("textbox", name="content.yaml")
        # The textbox is drawn before its text arrives; appending to an empty box would replace the file.
        expect(editor).to_have_value(re.compile(r"rules:"))
        editor.fill(editor.input_value() + BROKEN_RULE)
        main.get_by_role("button", name="Validate").click()
        settle(page)
        issue = main.get_by_test_id("stAlert").filter(has_text="broken_rule")
        expect(issue).to_be_visible()
        expect(issue).to_contain_text("content.yaml")
        expect(issue).to_contain_text("condition")
        expect(main.get_by_text("Nothing was saved").first).to_be_visible()
        # Saving the same broken text is refused too, with the same location.
        main.get_by_role("textbox", name="What changed (message for the new version)").fill("oops")
        main.get_by_role("button", name="Save as new version").click()
        settle(page)
        expect(main.get_by_test_id("stAlert").filter(has_text="broken_rule")).to_be_visible()
    with stack.live.client("admin") as admin:
        after = admin.get("/policies").json()
    assert after == before  # nothing saved, the active version unchanged


def test_each_role_sees_only_its_pages(console_stack: ConsoleStack) -> None:
    from playwright.sync_api import expect

    stack = console_stack
    expected = {
        "adult": ({"Overview"}, {"Review queue", "Policies", "Audit log", "People", "Characters"}),
        "rights-holder": ({"Overview", "Characters"}, {"Review queue", "Policies", "People"}),
        "guardian": ({"Overview", "Teens"}, {"Review queue", "My cameo", "Characters"}),
    }
    for handle, (present, absent) in expected.items():
        with browser_page() as page:
            sign_in(page, stack.url, handle, f"{handle.replace('-', '_')}-password")
            expect(page.get_by_text(f"@{handle} ·")).to_be_visible()
            titles = set(_sidebar_titles(page))
            assert present <= titles, (handle, titles)
            assert not (absent & titles), (handle, titles)


def test_a_user_enrols_a_cameo_and_sees_why_it_was_refused(
    console_stack: ConsoleStack, fixtures_dir: Path
) -> None:
    from playwright.sync_api import expect

    stack = console_stack
    with browser_page() as page:
        sign_in(page, stack.url, "adult", "adult-password")
        expect(page.get_by_text("@adult · user")).to_be_visible()
        go_to(page, "My cameo")
        main = page.get_by_test_id("stMain")
        main.get_by_role("button", name="Get a challenge").click()
        settle(page)
        expect(main.get_by_text("Challenge:")).to_be_visible()
        # A cartoon rabbit is not a live human face: the server refuses and says why.
        video = fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"
        main.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(video))
        expect(main.get_by_role("button", name=f"Remove {video.name}")).to_be_visible()
        main.get_by_role("button", name="Enrol").click()
        refusal = main.get_by_test_id("stAlert").filter(has_text="Refused:")
        # The liveness check runs real models on the recording: slow on two loaded cores.
        expect(refusal).to_be_visible(timeout=180_000)
        shown = refusal.inner_text()
    with stack.live.client("adult") as adult:
        doc = adult.get("/cameos/me").json()
    last = doc.get("last_attempt") or doc.get("cameo")
    assert doc.get("cameo") is None or doc["cameo"]["status"] == "refused"
    assert last["status"] == "refused" and last["reason"]
    assert last["reason"] in shown
