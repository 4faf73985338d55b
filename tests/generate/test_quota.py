"""Daily generation quotas on a real server with the RANDOM-WEIGHT tiny generator.

Counted when compute is spent (the prompt gate let it through and the
generator ran), never for a refused prompt; stricter for teens; staff set an
account's own number; over quota is a 429 with ``next_allowed_at`` and a
sentence a person understands, refused before the prompt gate runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from generator.video import DiffusersTextToVideo, GeneratorError
from greenroom.settings import Settings
from store.db import now
from tests.conftest import FIXTURES, TEST_MODELS, LiveServer, start_live_server
from tests.generate.conftest import SIZE

BLOCKED = "Captain Zephyrine duels a dragon at sea"


@pytest.fixture(scope="module")
def quota_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_t2v: DiffusersTextToVideo
) -> Iterator[LiveServer]:
    """Two generations a day for adults, one for teens; a character whose name blocks a prompt."""
    data = tmp_path_factory.mktemp("quota") / "data"
    settings = Settings(
        data_dir=data,
        models_dir=TEST_MODELS,
        fixtures_dir=FIXTURES,
        quota_generate_per_day=2,
        quota_generate_per_day_teen=1,
        rate_limits={"generate": 0},
    )
    for live in start_live_server(data, settings):
        generation = live.services.pipeline.generation
        generation._generator = tiny_t2v
        generation.width = generation.height = SIZE
        holder = live.users["rights_holder"]
        live.services.pipeline.characters.register(
            holder, holder, name="Captain Zephyrine", aliases=["Zephyrine"], policy="block"
        )
        yield live


def _generate(live: LiveServer, who: str, prompt: str, **params: Any) -> Any:
    with live.client(who) as c:
        return c.post("/generate", json={"prompt": prompt, "seconds": 0.5}, params=params)


def _quota(live: LiveServer, who: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.get("/me/quota")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _count(live: LiveServer, table: str) -> int:
    return int(live.services.store.query(f"SELECT count(*) FROM {table}")[0][0])


def _midnight() -> str:
    today = now()
    return datetime.combine(
        today.date() + timedelta(days=1), datetime.min.time(), today.tzinfo
    ).isoformat()


def _events(live: LiveServer, name: str, user: str) -> list[tuple[Any, ...]]:
    return live.services.store.query(
        "SELECT actor_id, payload FROM audit_log WHERE event = ? AND subject_id = ? ORDER BY seq",
        [name, live.users[user].id],
    )


def test_refused_prompts_are_free_and_generations_count_up_to_the_quota(
    quota_server: LiveServer,
) -> None:
    live = quota_server
    assert _quota(live, "adult") == {
        "per_day": 2,
        "used_today": 0,
        "remaining_today": 2,
        "resets_at": _midnight(),
        "next_allowed_at": None,
        "source": "default",
    }
    for _ in range(3):  # the prompt gate refuses: no compute spent, nothing counted
        r = _generate(live, "adult", BLOCKED)
        assert r.status_code == 200 and r.json()["clip_id"] is None
    assert _quota(live, "adult")["used_today"] == 0

    for n in (1, 2):
        r = _generate(live, "adult", f"a paper boat on a pond, take {n}")
        assert r.status_code == 200, r.text
        assert r.json()["clip_id"] and r.json()["status"] == "published"
        assert _quota(live, "adult")["used_today"] == n
    spent = _quota(live, "adult")
    assert spent["remaining_today"] == 0 and spent["next_allowed_at"] == _midnight()

    clips, decisions = _count(live, "clips"), _count(live, "decisions")
    over = _generate(live, "adult", "one more paper boat")
    assert over.status_code == 429, over.text
    doc = over.json()
    assert doc["next_allowed_at"] == _midnight()
    assert doc["error"].startswith("You have used your 2 generations for today.")
    assert "UTC" in doc["error"] and "in about" in doc["error"]
    assert 0 < int(over.headers["Retry-After"]) <= 24 * 3600
    assert doc["quota"]["remaining_today"] == 0
    # Refused before the prompt gate: no decision, no clip.
    assert (_count(live, "clips"), _count(live, "decisions")) == (clips, decisions)
    # Even a prompt that would be blocked, and a queued generation, are refused now.
    assert _generate(live, "adult", BLOCKED).status_code == 429
    queued = _generate(live, "adult", "a queued paper boat", wait="false")
    assert queued.status_code == 429 and queued.json()["next_allowed_at"] == _midnight()

    counted = _events(live, "quota.generation_counted", "adult")
    assert len(counted) == 2
    assert live.services.store.verify_audit().ok


def test_teens_get_the_stricter_quota(quota_server: LiveServer) -> None:
    live = quota_server
    mine = _quota(live, "teen")
    assert (mine["per_day"], mine["source"]) == (1, "teen_default")
    assert _generate(live, "teen", "a kite over a beach").status_code == 200
    over = _generate(live, "teen", "another kite over a beach")
    assert over.status_code == 429
    assert over.json()["error"].startswith("You have used your 1 generation for today.")


def test_staff_set_an_accounts_quota_with_a_reason(quota_server: LiveServer) -> None:
    live = quota_server
    with live.client("moderator") as mod:
        assert mod.put("/users/guardian/quota", json={"per_day": 3}).status_code == 422
        assert (
            mod.put("/users/guardian/quota", json={"per_day": -1, "reason": "x"}).status_code == 422
        )
        assert (
            mod.put("/users/guardian/quota", json={"per_day": 1, "reason": " "}).status_code == 422
        )
        assert mod.put("/users/nobody/quota", json={"per_day": 1, "reason": "x"}).status_code == 404
        r = mod.put("/users/guardian/quota", json={"per_day": 3, "reason": "creator programme"})
        assert r.status_code == 200, r.text
        staff_view = r.json()
        assert staff_view["per_day"] == 3 and staff_view["source"] == "account"
        assert staff_view["account_setting"]["reason"] == "creator programme"
        assert staff_view["account_setting"]["set_by"] == "moderator"
        assert staff_view["defaults"] == {"adult": 2, "teen": 1}
        assert mod.get("/users/guardian/quota").json() == staff_view
    mine = _quota(live, "guardian")
    assert (mine["per_day"], mine["source"]) == (3, "account")
    assert "account_setting" not in mine  # who set it and why is staff's to know

    # Zero switches generating off: 429 with no time to wait for.
    with live.client("admin") as admin:
        r = admin.put("/users/guardian/quota", json={"per_day": 0, "reason": "abuse review"})
        assert r.status_code == 200
    off = _generate(live, "guardian", "a lantern in the fog")
    assert off.status_code == 429
    assert off.json()["next_allowed_at"] is None and "Retry-After" not in off.headers
    assert "switched off for your account" in off.json()["error"]

    # Back to the default with null.
    with live.client("admin") as admin:
        r = admin.put("/users/guardian/quota", json={"per_day": None, "reason": "review done"})
        assert r.status_code == 200 and r.json()["source"] == "default"
    assert _generate(live, "guardian", "a lantern in the fog").status_code == 200
    set_events = _events(live, "quota.set", "guardian")
    assert len(set_events) == 3
    assert set_events[-1][0] == live.users["admin"].id


def test_a_failed_generator_gives_the_count_back_and_a_job_over_quota_ends(
    quota_server: LiveServer,
) -> None:
    live = quota_server
    generation = live.services.pipeline.generation
    user = live.users["rights_holder"]
    # A real failure of the real generator: a frame size it refuses.
    generation.width = 12
    try:
        with pytest.raises(GeneratorError):
            generation.generate(user, "a windmill at dawn", seconds=0.5)
    finally:
        generation.width = SIZE
    assert generation.quota(user)["used_today"] == 0
    (refund,) = _events(live, "quota.generation_refunded", "rights_holder")
    assert "GeneratorError" in refund[1]
    assert len(_events(live, "quota.generation_counted", "rights_holder")) == 1

    for n in range(2):
        generation.generate(user, f"a windmill at dawn {n}", seconds=0.5)
    # A queued job that runs over quota ends with the refusal instead of retrying.
    result = generation.run_job({"creator_id": user.id, "prompt": "a windmill", "seconds": 0.5})
    assert result["quota_exceeded"] is True and result["clip_id"] is None
    assert result["next_allowed_at"] == _midnight()
