"""Teen accounts through the real server: guardians tighten within the floor, daily feed counts.

The live server has a teen (15), an adult, and a guardian account; a second
guardian is created here to check that a guardian cannot touch a teen who is
not linked to them.
"""

from __future__ import annotations

import pytest

from pipeline.teens import TEEN_FLOOR
from tests.conftest import LiveServer


@pytest.fixture()
def linked(live_server: LiveServer) -> LiveServer:
    with live_server.client("guardian") as g:
        assert g.post("/guardians/teen").status_code == 200
    with live_server.client("teen") as t:  # a link counts once the teen confirms it
        assert t.post("/me/guardians/guardian/confirm").status_code == 200
    return live_server


def test_guardian_tightens_within_the_floor(linked: LiveServer) -> None:
    live = linked
    with live.client("guardian") as g:
        teens = g.get("/teens").json()["teens"]
        assert [t["handle"] for t in teens] == ["teen"]
        assert teens[0]["settings"] == TEEN_FLOOR and teens[0]["guardians"] == ["guardian"]

        r = g.put(
            "/teens/teen/settings", json={"feed_limit_per_day": 20, "personalized_feed": False}
        )
        assert r.status_code == 200, r.text
        assert r.json()["settings"]["feed_limit_per_day"] == 20
        assert r.json()["settings"]["personalized_feed"] is False

        # Looser than the floor: refused, nothing changed.
        for change in (
            {"feed_limit_per_day": TEEN_FLOOR["feed_limit_per_day"] + 1},
            {"feed_limit_per_day": None},
            {"cameo_permission": "everyone"},
            {"dms": "off"},  # a setting with nothing behind it was removed
            {"feed_limit_per_day": 10, "cameo_permission": "everyone"},
        ):
            r = g.put("/teens/teen/settings", json=change)
            assert r.status_code == 422, (change, r.text)
        # Unknown settings are refused too, not ignored.
        assert g.put("/teens/teen/settings", json={"bedtime": "21:00"}).status_code == 422
        settings = g.get("/teens/teen/settings").json()["settings"]
        assert settings["feed_limit_per_day"] == 20 and settings["cameo_permission"] == "mutuals"

        # Back towards the floor is allowed, up to the floor and no further.
        r = g.put("/teens/teen/settings", json={"feed_limit_per_day": 60})
        assert r.status_code == 200 and r.json()["settings"]["feed_limit_per_day"] == 60
        r = g.put("/teens/teen/settings", json={"cameo_permission": "only_me"})
        assert r.json()["settings"]["cameo_permission"] == "only_me"

    with live.client("teen") as t:
        mine = t.get("/me/settings").json()
        assert mine["is_teen"] and mine["settings"]["cameo_permission"] == "only_me"
        assert mine["floor"] == TEEN_FLOOR
        assert t.get("/teens/teen/settings").status_code == 200
        assert t.put("/teens/teen/settings", json={"feed_limit_per_day": 5}).status_code == 403
    with live.client("adult") as a:
        # The same refusal for a teen's account and a handle nobody has (no age leaks).
        assert a.get("/teens/teen/settings").status_code == 404
        assert a.get("/teens/nobody-here/settings").status_code == 404
        assert a.get("/teens/adult/settings").status_code == 200  # their own
        assert a.get("/me/settings").json()["settings"]["feed_limit_per_day"] is None
    with live.client("admin") as admin:
        events = admin.get("/audit", params={"limit": 500}).json()["events"]
        changed = [e for e in events if e["event"] == "user_settings.changed"]
        assert len(changed) == 3


def test_guardian_cannot_touch_an_unlinked_teen(linked: LiveServer) -> None:
    live = linked
    with live.client("admin") as admin:
        r = admin.post("/users", json={"handle": "other-guardian", "role": "guardian"})
        assert r.status_code in (200, 201), r.text
        token = r.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with live.client() as anon:
        assert anon.get("/teens", headers=headers).json()["teens"] == []
        r = anon.put("/teens/teen/settings", json={"feed_limit_per_day": 1}, headers=headers)
        assert r.status_code == 404
        assert anon.get("/teens/teen/settings", headers=headers).status_code == 404
    with live.client("guardian") as g:
        assert g.get("/teens/teen/settings").json()["settings"]["feed_limit_per_day"] == 60


def test_daily_limit_counts_each_clip_once(linked: LiveServer) -> None:
    live = linked
    teens = live.services.pipeline.teens
    teen, adult = live.users["teen"], live.users["adult"]
    with live.client("guardian") as g:
        g.put("/teens/teen/settings", json={"feed_limit_per_day": 5})
    assert teens.remaining_today(teen) == 5
    assert teens.record_views(teen, ["c1", "c2", "c2", "c3"]) == {
        "recorded": 3,
        "remaining_today": 2,
    }
    assert teens.record_views(teen, ["c3", "c4", "c5", "c6"])["remaining_today"] == 0
    with live.client("teen") as t:
        doc = t.get("/me/settings").json()
    assert doc["views_today"] == 6 and doc["remaining_today"] == 0
    assert teens.remaining_today(adult) is None  # adults have no daily limit by default


def test_teen_cameo_needs_a_mutual(live_server: LiveServer) -> None:
    teens = live_server.services.pipeline.teens
    users = live_server.services.users
    teen, adult = live_server.users["teen"], live_server.users["adult"]
    allowed, why = teens.cameo_use_allowed(teen, adult)
    assert not allowed and "mutual" in why
    with live_server.services.store.transaction() as tx:
        users.follow(tx, teen.id, adult.id)
        users.follow(tx, adult.id, teen.id)
    assert teens.cameo_use_allowed(teen, adult)[0]
    assert teens.cameo_use_allowed(adult, teen)[0]  # an adult's cameo is not a teen matter
