"""Feed settings that work, on a real server: personalised (mutuals, then people followed, then
everyone else) or not (only people followed, newest first), switched by every account through
``PUT /me/settings``; a teen can switch it too but never loosen what the floor or a guardian set;
``dms`` (nothing behind it) is gone.

Clips are posted through the real gate (fixture images), oldest first from the mutual, newest
from the stranger, so recency alone would put the stranger first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.teens import TEEN_FLOOR
from tests.conftest import LiveServer


@dataclass
class World:
    live: LiveServer
    clips: dict[str, list[str]] = field(default_factory=dict)  # creator -> clip ids, oldest first


def _add_user(live: LiveServer, handle: str, birth_year: int) -> None:
    svc = live.services
    with svc.store.transaction() as tx:
        user = svc.users.create(tx, handle, "user", birth_year=birth_year)
        _, token = svc.users.issue_token(tx, user.id, label="test")
    live.tokens[handle] = token
    live.users[handle] = user


def _follow(live: LiveServer, who: str, whom: str) -> None:
    with live.client(who) as c:
        assert c.post(f"/follows/{whom}").status_code == 200


@pytest.fixture(scope="module")
def world(shared_live_server: LiveServer, fixtures_dir: Path) -> World:
    live = shared_live_server
    w = World(live)
    for handle in ("rita", "mona", "fred", "sam"):
        _add_user(live, handle, 1988)
    # rita and mona follow each other; rita follows fred; nobody follows sam.
    _follow(live, "rita", "mona")
    _follow(live, "mona", "rita")
    _follow(live, "rita", "fred")
    chars = fixtures_dir / "characters"
    tux = sorted((chars / "tux").iterdir())[0]
    posts = [
        ("mona", chars / "big_buck_bunny" / "bbb_bunny_03.jpg", "a rabbit in a meadow"),
        ("mona", chars / "big_buck_bunny" / "bbb_bunny_04.jpg", "a rabbit under a tree"),
        ("fred", chars / "go_gopher" / "gophercolor.png", "a chef cooking pasta"),
        ("sam", tux, "a city skyline at night"),
        ("sam", chars / "ferris" / "rustacean-flat-happy.png", "a crab on the beach"),
    ]
    for who, image, prompt in posts:
        with live.client(who) as c:
            r = c.post(
                "/clips", files={"file": (image.name, image.read_bytes())}, data={"prompt": prompt}
            )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "published", r.json()
        w.clips.setdefault(who, []).append(r.json()["clip_id"])
    return w


def _feed(live: LiveServer, who: str, **params: Any) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.get("/feed", params={"limit": 50, **params})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _set(client: httpx.Client, **changes: Any) -> httpx.Response:
    return client.put("/me/settings", json=changes)


def test_personalised_feed_shows_mutuals_then_follows_then_everyone(world: World) -> None:
    live, clips = world.live, world.clips
    doc = _feed(live, "rita")
    assert doc["personalized"] is True
    ids = [it["clip_id"] for it in doc["items"]]
    assert len(ids) == 5
    # Mutual first (though the oldest), then the person followed, then the stranger.
    assert set(ids[:2]) == set(clips["mona"])
    assert ids[2] == clips["fred"][0]
    assert set(ids[3:]) == set(clips["sam"])
    reasons = {it["clip_id"]: it["reason"] for it in doc["items"]}
    assert {reasons[c] for c in clips["mona"]} == {"from a mutual"}
    assert reasons[clips["fred"][0]] == "from someone you follow"
    assert {reasons[c] for c in clips["sam"]} == {"recent from @sam"}
    # An instruction re-ranks within a group; it never lifts a stranger above a mutual.
    tuned = _feed(live, "rita", instruction="more city skylines")
    tuned_ids = [it["clip_id"] for it in tuned["items"]]
    assert set(tuned_ids[:2]) == set(clips["mona"]) and tuned_ids[2] == clips["fred"][0]
    # The older skyline leads the strangers' group, ahead of the newer crab.
    assert tuned_ids[3:] == clips["sam"]
    assert tuned["items"][3]["reason"].startswith("matches 'city skylines'")


def test_an_adult_switches_personalisation_off_and_on(world: World) -> None:
    live, clips = world.live, world.clips
    with live.client("rita") as rita:
        mine = rita.get("/me/settings").json()
        assert mine["settings"] == {
            "feed_limit_per_day": None,
            "cameo_permission": "everyone",
            "personalized_feed": True,
        }
        r = _set(rita, personalized_feed=False)
        assert r.status_code == 200, r.text
        assert r.json()["settings"]["personalized_feed"] is False
    doc = _feed(live, "rita")
    assert doc["personalized"] is False
    # Only the people rita follows, newest first: fred's clip, then mona's newest, then her oldest.
    assert [it["clip_id"] for it in doc["items"]] == [
        clips["fred"][0],
        clips["mona"][1],
        clips["mona"][0],
    ]
    # An instruction does not turn personalisation back on; the answer says so.
    tuned = _feed(live, "rita", instruction="more crabs")
    assert [it["clip_id"] for it in tuned["items"]] == [it["clip_id"] for it in doc["items"]]
    assert tuned["instruction_applied"] is False and "not applied" in tuned["note"]

    with live.client("rita") as rita:
        assert _set(rita, personalized_feed=True).status_code == 200
    assert _feed(live, "rita")["personalized"] is True
    assert len(_feed(live, "rita")["items"]) == 5

    with live.client("admin") as admin:
        events = admin.get("/audit", params={"limit": 1000}).json()["events"]
    mine = sorted(
        (
            e
            for e in events
            if e["event"] == "user_settings.changed" and e["subject_id"] == live.users["rita"].id
        ),
        key=lambda e: e["seq"],
    )
    assert [e["payload"]["changes"]["personalized_feed"] for e in mine] == [
        [None, False],
        [False, True],
    ]
    assert all(e["actor_id"] == live.users["rita"].id for e in mine)
    assert all(e["payload"]["by"] == "self" for e in mine)


def test_adults_reach_all_of_their_own_settings(world: World) -> None:
    live = world.live
    with live.client("fred") as fred:
        r = _set(fred, feed_limit_per_day=2, cameo_permission="mutuals")
        assert r.status_code == 200, r.text
        assert r.json()["settings"]["cameo_permission"] == "mutuals"
        assert r.json()["remaining_today"] == 2
        first = _feed(live, "fred")
        assert len(first["items"]) == 2 and first["limit_reached"] is True
        # Nothing behind it: refused with a clear word, and not shown.
        removed = _set(fred, dms="off")
        assert removed.status_code == 422 and "dms" in removed.text
        assert "dms" not in fred.get("/me/settings").json()["settings"]
        assert _set(fred).status_code == 422  # nothing to change
        assert _set(fred, personalized_feed=None).status_code == 422
        # An adult may lift their own limit again.
        back = _set(fred, feed_limit_per_day=None)
        assert back.status_code == 200 and back.json()["remaining_today"] is None
        assert fred.put("/teens/fred/settings", json={"feed_limit_per_day": 1}).status_code == 403


def test_a_teen_switches_personalisation_but_never_loosens(world: World) -> None:
    live, clips = world.live, world.clips
    _follow(live, "teen", "mona")
    with live.client("teen") as teen:
        r = _set(teen, personalized_feed=False)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["settings"]["personalized_feed"] is False
        assert doc["own_choices"] == {"personalized_feed": False}
        assert doc["settings"]["feed_limit_per_day"] == TEEN_FLOOR["feed_limit_per_day"]
        feed = _feed(live, "teen")
        assert feed["personalized"] is False
        assert {it["clip_id"] for it in feed["items"]} <= set(clips["mona"])
        # Stricter is fine; looser than the floor is refused and changes nothing.
        assert _set(teen, feed_limit_per_day=30).json()["settings"]["feed_limit_per_day"] == 30
        for looser in (
            {"feed_limit_per_day": TEEN_FLOOR["feed_limit_per_day"] + 1},
            {"feed_limit_per_day": None},
            {"cameo_permission": "everyone"},
        ):
            refused = teen.put("/me/settings", json=looser)
            assert refused.status_code == 422, (looser, refused.text)
        # Back up to the floor (their own earlier choice), and personalisation back on.
        assert _set(teen, feed_limit_per_day=60).json()["settings"]["feed_limit_per_day"] == 60
        assert _set(teen, personalized_feed=True).json()["settings"]["personalized_feed"] is True

    # A guardian's choice stays in force over the teen's own.
    with live.client("guardian") as g:
        assert g.post("/guardians/teen").status_code == 200
    with live.client("teen") as teen:
        assert teen.post("/me/guardians/guardian/confirm").status_code == 200
    with live.client("guardian") as g:
        r = g.put(
            "/teens/teen/settings", json={"personalized_feed": False, "feed_limit_per_day": 20}
        )
        assert r.status_code == 200, r.text
    with live.client("teen") as teen:
        doc = _set(teen, personalized_feed=True, feed_limit_per_day=50).json()
        assert doc["own_choices"] == {"personalized_feed": True, "feed_limit_per_day": 50}
        assert doc["settings"]["personalized_feed"] is False
        assert doc["settings"]["feed_limit_per_day"] == 20
    assert _feed(live, "teen")["personalized"] is False
    with live.client("guardian") as g:
        seen = g.get("/teens/teen/settings").json()
        assert seen["settings"]["personalized_feed"] is False


def test_the_feed_pages_through_one_ranking(world: World) -> None:
    """Pages of two, read by ``next_offset``, are the one-page ranking cut in order."""
    live = world.live
    whole = [it["clip_id"] for it in _feed(live, "rita")["items"]]
    assert len(whole) >= 5
    paged: list[str] = []
    offset: int | None = 0
    while offset is not None:
        doc = _feed(live, "rita", limit=2, offset=offset)
        assert doc["offset"] == offset
        assert 1 <= len(doc["items"]) <= 2
        paged += [it["clip_id"] for it in doc["items"]]
        offset = doc["next_offset"]
    assert paged == whole
    with live.client("rita") as c:
        assert c.get("/feed", params={"offset": -1}).status_code == 422
        assert c.get("/feed", params={"offset": 10**9}).status_code == 422


def test_a_limited_account_pages_without_seeing_a_clip_twice(world: World) -> None:
    """Served clips leave a limited account's ranking, so its next page starts at the same offset."""
    live = world.live
    _add_user(live, "lim", 1990)
    with live.client("lim") as c:
        assert _set(c, feed_limit_per_day=3).status_code == 200
    first = _feed(live, "lim", limit=2)
    assert len(first["items"]) == 2 and first["next_offset"] == 0
    second = _feed(live, "lim", limit=2, offset=first["next_offset"])
    assert len(second["items"]) == 1  # the limit left one more today
    assert second["limit_reached"] is True and second["next_offset"] is None
    seen = [it["clip_id"] for it in first["items"] + second["items"]]
    assert len(set(seen)) == 3


def test_my_clips_page_newest_first(world: World) -> None:
    live = world.live
    with live.client("sam") as c:
        whole = c.get("/me/clips").json()
        first = c.get("/me/clips", params={"limit": 1}).json()
        second = c.get("/me/clips", params={"limit": 1, "offset": first["next_offset"]}).json()
    assert [x["clip_id"] for x in whole["clips"]] == list(reversed(world.clips["sam"]))
    assert whole["next_offset"] is None
    assert first["next_offset"] == 1 and second["next_offset"] is None
    assert [first["clips"][0]["clip_id"], second["clips"][0]["clip_id"]] == [
        x["clip_id"] for x in whole["clips"]
    ]
