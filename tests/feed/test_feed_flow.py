"""The app-client flows on a real server: post, feed, teen rules, instruction re-ranking, reports, appeals, remix.

One server per module (clips are scanned by the real gate, so uploads are
the slow part); each test uses its own clips from the module's ``world``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.feed import parse_instruction
from policies.loader import DEFAULT_DIR
from store.db import now
from tests.conftest import LiveServer

# Every upload goes to a human while this rule is active.
REVIEW_UPLOADS = """
  - id: feed_test_uploads_reviewed
    description: Every upload goes to a human (feed test policy).
    condition: context.stage == "upload"
    outcome: review
    severity: low
    reason: upload_review
    queue: uploads
    priority: 30
"""


def _review_policy() -> dict[str, str]:
    texts = {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}
    texts["content.yaml"] = texts["content.yaml"].rstrip("\n") + "\n" + REVIEW_UPLOADS
    return texts


@dataclass
class World:
    live: LiveServer
    clips: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)


def _post(live: LiveServer, who: str, image: Path, prompt: str, url: str = "/clips") -> Any:
    with live.client(who) as c:
        return c.post(
            url, files={"file": (image.name, image.read_bytes())}, data={"prompt": prompt}
        )


def _add_user(live: LiveServer, handle: str, birth_year: int) -> None:
    svc = live.services
    with svc.store.transaction() as tx:
        user = svc.users.create(tx, handle, "user", birth_year=birth_year)
        _, token = svc.users.issue_token(tx, user.id, label="test")
    live.tokens[handle] = token
    live.users[handle] = user


def _decide(live: LiveServer, clip_id: str, outcome: str) -> str:
    svc = live.services
    item = svc.store.query(
        "SELECT id FROM queue_items WHERE clip_id = ? AND status = 'open'", [clip_id]
    )[0][0]
    with live.client("moderator") as c:
        r = c.post(f"/queue-items/{item}/decide", json={"outcome": outcome, "reason": "test"})
    assert r.status_code == 200, r.text
    return str(r.json()["decision_id"])


@pytest.fixture(scope="module")
def world(shared_live_server: LiveServer, fixtures_dir: Path) -> World:
    live = shared_live_server
    w = World(live)
    chars = fixtures_dir / "characters"
    _add_user(live, "carol", 1985)
    _add_user(live, "dana", 1988)
    published = {
        "puppy": ("carol", chars / "big_buck_bunny" / "bbb_bunny_03.jpg", "a golden retriever puppy playing in the park"),
        "elephant": ("carol", chars / "big_buck_bunny" / "bbb_bunny_04.jpg", "an elephant family walking across the savanna"),
        "chef": ("dana", chars / "go_gopher" / "gophercolor.png", "a chef cooking pasta in a kitchen"),
        "city": ("dana", chars / "tux" / sorted(p.name for p in (chars / "tux").iterdir())[0], "a city skyline at night with neon lights"),
        "soccer": ("dana", chars / "ferris" / "rustacean-flat-happy.png", "soccer players scoring a goal in a stadium"),
    }  # fmt: skip
    for name, (who, image, prompt) in published.items():
        r = _post(live, who, image, prompt)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["status"] == "published", doc
        assert "shadow" not in doc["decision"]
        w.clips[name] = doc["clip_id"]
    policies = live.services.pipeline.policies
    default = policies.state()["active"]
    assert default is not None
    policies.save(_review_policy(), None, "feed tests: review every upload", activate=True)
    try:
        held = {
            "queued": chars / "big_buck_bunny" / "bbb_bunny_03.jpg",
            "blocked": chars / "big_buck_bunny" / "bbb_bunny_04.jpg",
            "adults": chars / "big_buck_bunny" / "bbb_frank_squirrel_01.jpg",
        }
        for name, image in held.items():
            r = _post(live, "carol", image, f"a clip that waits for review ({name})")
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "queued"
            w.clips[name] = r.json()["clip_id"]
    finally:
        policies.activate(default, None)
    w.decisions["blocked"] = _decide(live, w.clips["blocked"], "block")
    w.decisions["adults"] = _decide(live, w.clips["adults"], "age_restrict")
    return w


def _feed(live: LiveServer, who: str, **params: Any) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.get("/feed", params={"limit": 50, **params})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _ids(doc: dict[str, Any]) -> list[str]:
    return [it["clip_id"] for it in doc["items"]]


def test_feed_shows_published_only_and_publishing_brings_a_clip_in(world: World) -> None:
    live = world.live
    doc = _feed(live, "guardian")
    ids = _ids(doc)
    for name in ("puppy", "elephant", "chef", "city", "soccer", "adults"):
        assert world.clips[name] in ids, name
    assert world.clips["queued"] not in ids
    assert world.clips["blocked"] not in ids
    for item in doc["items"]:
        assert set(item) >= {"clip_id", "creator", "reason"} and item["reason"]
    # A creator's own clips are not in their own feed, whatever their status.
    assert not set(_ids(_feed(live, "carol"))) & {world.clips[n] for n in ("puppy", "elephant")}


def test_queued_clip_enters_the_feed_only_once_a_moderator_publishes_it(
    world: World, fixtures_dir: Path
) -> None:
    live = world.live
    policies = live.services.pipeline.policies
    default = policies.state()["active"]
    assert default is not None
    policies.save(_review_policy(), None, "feed tests: review every upload", activate=True)
    try:
        image = fixtures_dir / "characters" / "go_gopher" / "gopherbw.png"
        r = _post(live, "dana", image, "a gopher waiting for review")
    finally:
        policies.activate(default, None)
    clip_id = r.json()["clip_id"]
    assert r.json()["status"] == "queued"
    assert clip_id not in _ids(_feed(live, "guardian"))
    _decide(live, clip_id, "publish")
    assert clip_id in _ids(_feed(live, "guardian"))


def test_teen_never_sees_age_restricted_clips(world: World) -> None:
    live = world.live
    assert world.clips["adults"] in _ids(_feed(live, "adult"))
    teen_ids = _ids(_feed(live, "teen"))
    assert world.clips["adults"] not in teen_ids
    assert world.clips["puppy"] in teen_ids
    # Nor can a teen report (or otherwise reach) it by id.
    with live.client("teen") as c:
        r = c.post(f"/clips/{world.clips['adults']}/report", json={"reason": "spam"})
    assert r.status_code == 404


def test_teen_daily_limit_stops_with_a_marker(world: World) -> None:
    live = world.live
    _add_user(live, "tina", now().year - 14)
    teen = live.users["tina"]
    ctx = live.services.pipeline
    # The teen-settings service owns the limit: an admin tightens it to 3.
    ctx.teens.update(teen, {"feed_limit_per_day": 3}, live.users["admin"])
    service = ctx.feed
    first = service.feed(teen, None, 2)
    assert len(first["items"]) == 2 and first["limit_reached"] is False
    second = service.feed(teen, None, 10)
    assert len(second["items"]) == 1
    # Clips already counted today are not served again.
    assert not set(_ids(first)) & set(_ids(second))
    assert second["limit_reached"] is True and "daily limit reached" in second["notice"]
    third = service.feed(teen, None, 10)
    assert third["items"] == [] and third["limit_reached"] is True
    assert "daily limit reached" in third["notice"]
    # Adults have no daily limit.
    adult = live.users["adult"]
    for _ in range(3):
        assert service.feed(adult, None, 5)["remaining_today"] is None


def test_instruction_moves_matching_clips_up_with_a_reason(world: World) -> None:
    live = world.live
    plain = _ids(_feed(live, "guardian"))
    doc = _feed(live, "guardian", instruction="more animals, no food")
    assert doc["instruction"] == {
        "text": "more animals, no food",
        "more": ["animals"],
        "less": ["food"],
    }
    ids = _ids(doc)
    animals = {world.clips["puppy"], world.clips["elephant"]}
    assert set(ids[:2]) == animals, (plain, ids)
    assert set(plain[:2]) != animals  # without the instruction the newest clips lead
    for item in doc["items"][:2]:
        assert item["reason"].startswith("matches 'animals' (0.")
    assert world.clips["chef"] not in ids
    assert doc["excluded_by_instruction"] >= 1
    assert doc["ranking"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_follows_and_mutuals_explain_the_ranking(world: World) -> None:
    live = world.live
    with live.client("guardian") as c:
        assert c.post("/follows/dana").status_code == 200
    items = {it["clip_id"]: it for it in _feed(live, "guardian")["items"]}
    assert items[world.clips["chef"]]["reason"] == "from someone you follow"
    assert items[world.clips["puppy"]]["reason"] == "recent from @carol"
    with live.client("dana") as c:
        assert c.post("/follows/guardian").status_code == 200
    items = {it["clip_id"]: it for it in _feed(live, "guardian")["items"]}
    assert items[world.clips["chef"]]["reason"] == "from a mutual"


def test_parse_instruction_handles_negations() -> None:
    parsed = parse_instruction("Show me more cats and no sports; less city, without dragons")
    assert parsed.more == ["cats"]
    assert parsed.less == ["sports", "city", "dragons"]
    with pytest.raises(ValueError):
        parse_instruction("x" * 400)


def _open_report_items(live: LiveServer, clip_id: str) -> list[tuple[Any, ...]]:
    return live.services.store.query(
        "SELECT id, priority, due_at FROM queue_items WHERE clip_id = ? AND queue = 'reports' "
        "AND status IN ('open', 'claimed')",
        [clip_id],
    )


def test_reports_open_one_item_that_repeated_reports_escalate(world: World) -> None:
    live = world.live
    clip = world.clips["soccer"]
    started = now()
    with live.client("adult") as c:
        r = c.post(f"/clips/{clip}/report", json={"reason": "spam", "details": "repost"})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["queue"] == "reports" and first["transition"] == "opened"
    due = datetime.fromisoformat(first["due_at"])
    assert timedelta(hours=23) < due - started <= timedelta(hours=24, minutes=5)
    assert first["decision"]["outcome"] == "allow"  # one spam report: no policy rule yet
    with live.client("guardian") as c:
        r = c.post(f"/clips/{clip}/report", json={"reason": "harassment"})
    second = r.json()
    assert second["queue_item_id"] == first["queue_item_id"]
    assert second["transition"] == "escalated" and second["priority"] > first["priority"]
    assert len(_open_report_items(live, clip)) == 1
    # The same person again: refused, nothing escalates.
    with live.client("adult") as c:
        assert c.post(f"/clips/{clip}/report", json={"reason": "spam"}).status_code == 409
    # A third reporter reaches the policy's report threshold: a report-stage rule fires.
    with live.client("carol") as c:
        third = c.post(f"/clips/{clip}/report", json={"reason": "other"}).json()
    assert third["reports"] == 3 and "user_reports" in third["decision"]["rules"]
    assert third["clip_status"] == "published"  # reports alone do not take a clip down
    stage = live.services.store.query(
        "SELECT stage FROM scans WHERE id = ?", [third["decision"]["scan_id"]]
    )
    assert stage == [("report",)]
    events = live.services.store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'clip.reported' AND subject_id = ?", [clip]
    )
    assert events[0][0] == 3
    with live.client("adult") as c:
        assert c.post(f"/clips/{clip}/report", json={"reason": "nope"}).status_code == 422


def _backdate(live: LiveServer, handle: str, days: int) -> None:
    """Make an account ``days`` old: old accounts count fully as reporters."""
    with live.services.store.transaction() as tx:
        tx.execute(
            "UPDATE users SET created_at = ? WHERE id = ?",
            [now() - timedelta(days=days), live.users[handle].id],
        )


def test_child_safety_report_is_due_in_an_hour_and_holds_the_clip_once_corroborated(
    world: World,
) -> None:
    live = world.live
    clip = world.clips["city"]
    started = now()
    # One report from a fresh account: urgent, but the clip stays live until corroborated.
    with live.client("adult") as c:
        r = c.post(f"/clips/{clip}/report", json={"reason": "child_safety"})
    doc = r.json()
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(doc["due_at"]) - started <= timedelta(hours=1, minutes=1)
    assert doc["priority"] >= 90
    assert doc["decision"]["rules"] == ["user_report_child_safety"]
    assert doc["clip_status"] == "published" and doc["held"] is False
    assert clip in _ids(_feed(live, "guardian"))
    # Distinct reporters with old accounts corroborate it: 0.25 + 1.0 is not yet enough ...
    _add_user(live, "olga", 1970)
    _add_user(live, "omar", 1975)
    _backdate(live, "olga", 60)
    _backdate(live, "omar", 45)
    with live.client("olga") as c:
        second = c.post(f"/clips/{clip}/report", json={"reason": "child_safety"}).json()
    assert second["clip_status"] == "published" and second["held"] is False
    assert second["queue_item_id"] == doc["queue_item_id"]
    # ... 0.25 + 1.0 + 1.0 is: the clip leaves the feed until a human decides.
    with live.client("omar") as c:
        third = c.post(f"/clips/{clip}/report", json={"reason": "child_safety"}).json()
    assert third["clip_status"] == "queued" and third["held"] is True
    assert third["queue_item_id"] == doc["queue_item_id"]
    assert clip not in _ids(_feed(live, "guardian"))


def test_a_staff_child_safety_report_holds_the_clip_at_once(
    world: World, fixtures_dir: Path
) -> None:
    live = world.live
    image = fixtures_dir / "characters" / "tux" / "tux_speech.png"
    posted = _post(live, "dana", image, "a quiet meadow in the morning")
    assert posted.status_code == 200, posted.text
    assert posted.json()["status"] == "published"
    clip = posted.json()["clip_id"]
    with live.client("moderator") as c:
        r = c.post(f"/clips/{clip}/report", json={"reason": "child_safety"})
    assert r.status_code == 200, r.text
    assert r.json()["reports"] == 1
    assert r.json()["clip_status"] == "queued" and r.json()["held"] is True
    assert clip not in _ids(_feed(live, "guardian"))


def test_appeal_only_by_the_creator(world: World) -> None:
    live = world.live
    decision = world.decisions["blocked"]
    with live.client("adult") as c:
        assert c.post(f"/decisions/{decision}/appeal", json={"message": "mine"}).status_code == 404
    started = now()
    with live.client("carol") as c:
        r = c.post(f"/decisions/{decision}/appeal", json={"message": "this is my own rabbit"})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["queue"] == "appeals" and doc["clip_id"] == world.clips["blocked"]
        assert datetime.fromisoformat(doc["due_at"]) - started <= timedelta(hours=24, minutes=1)
        again = c.post(f"/decisions/{decision}/appeal", json={"message": "again"})
        assert again.status_code == 409
        # An allow decision is nothing to appeal.
        mine = {m["clip_id"]: m for m in c.get("/me/clips").json()["clips"]}
        allow = mine[world.clips["puppy"]]["decision_id"]
        assert c.post(f"/decisions/{allow}/appeal", json={"message": "?"}).status_code == 422
    items = live.services.store.query(
        "SELECT queue, status FROM queue_items WHERE id = ?", [doc["queue_item_id"]]
    )
    assert items == [("appeals", "open")]


def test_me_clips_lists_own_clips_with_status(world: World) -> None:
    with world.live.client("carol") as c:
        clips = {m["clip_id"]: m for m in c.get("/me/clips").json()["clips"]}
    assert clips[world.clips["blocked"]]["status"] == "blocked"
    assert clips[world.clips["adults"]]["audience"] == "adults"
    assert world.clips["chef"] not in clips


def test_remix_keeps_lineage_and_a_blocked_parent_is_refused(
    world: World, fixtures_dir: Path
) -> None:
    live = world.live
    signed = fixtures_dir / "c2pa" / "assets" / "CA.jpg"
    parent = world.clips["elephant"]
    r = _post(live, "adult", signed, "the elephants, remixed", url=f"/clips/{parent}/remix")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["lineage"]["parent_clip_id"] == parent
    assert len(doc["lineage"]["c2pa_ingredients"]) == 1  # CA.jpg carries ingredient A
    with live.client("adult") as c:
        clip = c.get(f"/clips/{doc['clip_id']}").json()
    assert clip["parent_clip_id"] == parent and clip["origin"] == "remix"
    stages = live.services.store.query(
        "SELECT stage FROM scans WHERE clip_id = ?", [doc["clip_id"]]
    )
    assert stages == [("remix",)]
    blocked = world.clips["blocked"]
    image = fixtures_dir / "c2pa" / "assets" / "earth_apollo17.jpg"
    # Its creator can see the blocked clip but not remix it; others do not see it at all.
    assert _post(live, "carol", image, "again", url=f"/clips/{blocked}/remix").status_code == 409
    assert _post(live, "adult", image, "again", url=f"/clips/{blocked}/remix").status_code == 404
    assert _post(live, "adult", image, "x", url="/clips/clip_missing/remix").status_code == 404


def test_bad_uploads_get_clear_errors(world: World) -> None:
    with world.live.client("adult") as c:
        r = c.post("/clips", files={"file": ("x.jpg", b"not an image")})
        assert r.status_code == 422 and r.json()["error"]
        r = c.post("/clips", files={"file": ("x.jpg", b"")})
        assert r.status_code == 422
        assert c.get("/feed", params={"limit": 0}).status_code == 422
