"""Account actions on a real server: strikes feed the policy's account rules; actions are appealable.

Three upheld strikes in 90 days pause generation for a week; one confirmed
``sexual_minors`` removal bans at once; each action is an ``account`` decision
the holder sees (``GET /me/standing``) and appeals; an overturned appeal lifts
it. A blocked prompt is appealable too, and an overturn clears that prompt
for its author (never for a different reason). One server for the module;
each test has its own accounts.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policies.loader import DEFAULT_DIR
from tests.conftest import LiveServer

REVIEW_UPLOADS = """
  - id: account_test_uploads_reviewed
    description: Every upload goes to a human (account-actions test policy).
    condition: context.stage == "upload"
    outcome: review
    severity: low
    reason: upload_review
    queue: uploads
    priority: 30
"""
HATEFUL = "a white power rally"
_handles = itertools.count()


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    return shared_live_server


@pytest.fixture(scope="module")
def images(fixtures_dir: Path) -> list[Path]:
    found = sorted((fixtures_dir / "characters").rglob("*.jpg")) + sorted(
        (fixtures_dir / "characters").rglob("*.png")
    )
    assert len(found) >= 8, "the character fixtures hold the scenes these tests post"
    return found


def _account(live: LiveServer) -> str:
    """A fresh adult account (each test's strikes are its own)."""
    return live.add_account(f"acct-{next(_handles)}")


def _post(live: LiveServer, who: str, image: Path, prompt: str) -> Any:
    with live.client(who) as c:
        return c.post(
            "/clips", files={"file": (image.name, image.read_bytes())}, data={"prompt": prompt}
        )


def _held_clips(live: LiveServer, who: str, images: list[Path]) -> list[str]:
    """Clips held for review (a test policy sends every upload to a human) and their items."""
    policies = live.services.pipeline.policies
    default = policies.state()["active"]
    texts = {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}
    texts["content.yaml"] = texts["content.yaml"].rstrip("\n") + "\n" + REVIEW_UPLOADS
    policies.save(texts, None, "account tests: review every upload", activate=True)
    items = []
    try:
        for n, image in enumerate(images):
            r = _post(live, who, image, f"a scene waiting for review {n}")
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "queued", r.text
            clip_id = r.json()["clip_id"]
            rows = live.services.store.query(
                "SELECT id FROM queue_items WHERE clip_id = ? AND status = 'open'", [clip_id]
            )
            items.append(str(rows[0][0]))
    finally:
        policies.activate(default, None)
    return items


def _decide(live: LiveServer, item_id: str, outcome: str, **extra: Any) -> dict[str, Any]:
    with live.client("moderator") as c:
        r = c.post(
            f"/queue-items/{item_id}/decide",
            json={"outcome": outcome, "reason": f"account test: {outcome}", **extra},
        )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _standing(live: LiveServer, who: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.get("/me/standing")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _appeal_item(live: LiveServer, decision_id: str) -> str:
    rows = live.services.store.query(
        "SELECT id FROM queue_items WHERE decision_id = ? AND queue = 'appeals' "
        "AND status = 'open'",
        [decision_id],
    )
    assert rows, f"no open appeals item for {decision_id}"
    return str(rows[0][0])


def test_three_upheld_strikes_suspend_generation_for_a_week(
    live: LiveServer, images: list[Path]
) -> None:
    who = _account(live)
    items = _held_clips(live, who, images[:3])
    first = _decide(live, items[0], "block", strike=True, category="spam")
    assert first["closed"]["strike"]["category"] == "spam"
    assert first["closed"]["account"]["actions"] == []
    _decide(live, items[1], "block", strike=True, category="spam")
    assert _standing(live, who)["restricted"] == []
    third = _decide(live, items[2], "takedown", strike=True, category="violence")
    account = third["closed"]["account"]
    assert account["rules"] == ["account_repeat_strikes_generation_pause"]
    (action,) = account["actions"]
    assert action["kind"] == "suspend_generation" and action["active"]
    ends = datetime.fromisoformat(action["ends_at"])
    starts = datetime.fromisoformat(action["starts_at"])
    assert ends - starts == timedelta(days=7)

    standing = _standing(live, who)
    assert standing["strikes_90d"] == 3
    assert standing["strike_categories"] == {"spam": 2, "violence": 1}
    assert standing["restricted"] == ["suspend_generation"]
    assert standing["actions"][0]["decision_id"] == account["decision_id"]

    with live.client(who) as c:
        refused = c.post("/generate", json={"prompt": "a cat surfing a wave"})
        quota = c.get("/me/quota")
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["restriction"]["kind"] == "suspend_generation"
    assert body["restriction"]["decision_id"] == account["decision_id"]
    assert "suspended" in body["error"] and "appeal" in body["error"]
    assert quota.status_code == 200  # the account can still read its own state
    # Uploads are not suspended by this rule.
    assert _post(live, who, images[3], "still allowed to post").status_code == 200

    # The account decision went through the one path: door, rule, explanation, audit.
    rows = live.services.store.query_dicts(
        "SELECT door, outcome, rules, details FROM decisions WHERE id = ?",
        [account["decision_id"]],
    )
    assert rows[0]["door"] == "account" and rows[0]["outcome"] == "block"
    assert "account_repeat_strikes_generation_pause" in rows[0]["rules"]
    events = live.services.store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'account.action_taken' AND subject_id = ?",
        [live.users[who].id],
    )
    assert events[0][0] == 1
    assert live.services.store.verify_audit().ok


def test_a_confirmed_sexual_minors_removal_bans_and_an_overturned_appeal_lifts_it(
    live: LiveServer, images: list[Path]
) -> None:
    who = _account(live)
    (item,) = _held_clips(live, who, images[4:5])
    # No strike flag: a sexual_minors removal always counts one.
    decided = _decide(live, item, "takedown", category="sexual_minors")
    assert decided["closed"]["strike"]["category"] == "sexual_minors"
    (ban,) = decided["closed"]["account"]["actions"]
    assert ban["kind"] == "ban" and ban["ends_at"] is None
    assert "banned" in ban["sentence"]

    clip = live.services.store.query("SELECT id FROM clips ORDER BY created_at LIMIT 1")[0][0]
    with live.client(who) as c:
        upload = c.post("/clips", files={"file": (images[5].name, images[5].read_bytes())}, data={})
        report = c.post(f"/clips/{clip}/report", json={"reason": "spam"})
        generate = c.post("/generate", json={"prompt": "a cat surfing a wave"})
    for refused in (upload, report, generate):
        assert refused.status_code == 403, refused.text
        assert refused.json()["restriction"]["kind"] == "ban"

    # Another account cannot appeal (or learn of) this decision.
    with live.client("adult") as other:
        r = other.post(f"/decisions/{ban['decision_id']}/appeal", json={"message": "me too"})
    assert r.status_code == 404, r.text
    with live.client(who) as c:
        appealed = c.post(
            f"/decisions/{ban['decision_id']}/appeal", json={"message": "that was not me"}
        )
        twice = c.post(f"/decisions/{ban['decision_id']}/appeal", json={"message": "again"})
    assert appealed.status_code == 200, appealed.text
    assert appealed.json()["kind"] == "account" and appealed.json()["clip_id"] is None
    assert twice.status_code == 409, twice.text
    assert _standing(live, who)["actions"][0]["appeal"]["status"] == "open"

    # The moderator sees whose account, which action, and the appeal's words.
    appeal_item = _appeal_item(live, ban["decision_id"])
    with live.client("moderator") as mod:
        evidence = mod.get(f"/queue-items/{appeal_item}").json()["evidence"]
    assert evidence["subject"]["handle"] == who
    assert [a["id"] for a in evidence["subject"]["actions"]] == [ban["id"]]
    assert evidence["appeal"]["message"] == "that was not me"

    verdict = _decide(live, appeal_item, "overturn")
    assert verdict["closed"]["appeal"]["status"] == "overturned"
    assert [a["id"] for a in verdict["closed"]["appeal"]["lifted_actions"]] == [ban["id"]]
    standing = _standing(live, who)
    assert standing["restricted"] == []
    assert standing["actions"][0]["lifted_at"] is not None
    assert _post(live, who, images[6], "back again").status_code == 200
    assert live.services.store.verify_audit().ok


def test_an_overturned_clip_appeal_voids_its_strike(live: LiveServer, images: list[Path]) -> None:
    who = _account(live)
    (item,) = _held_clips(live, who, images[7:8])
    decided = _decide(live, item, "block", strike=True, category="spam")
    assert _standing(live, who)["strikes"] == 1
    with live.client(who) as c:
        r = c.post(f"/decisions/{decided['decision_id']}/appeal", json={"message": "not spam"})
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "clip"
    verdict = _decide(live, _appeal_item(live, decided["decision_id"]), "overturn")
    assert verdict["closed"]["appeal"]["voided_strikes"] == [decided["closed"]["strike"]["id"]]
    assert _standing(live, who)["strikes"] == 0


def test_a_blocked_prompt_is_appealable_and_an_overturn_clears_that_prompt_only(
    live: LiveServer,
) -> None:
    who = _account(live)
    with live.client(who) as c:
        blocked = c.post("/prompt-check", json={"prompt": HATEFUL}).json()
    assert blocked["decision"]["outcome"] == "block", blocked
    decision_id = blocked["decision_id"]
    with live.client("adult") as other:
        r = other.post(f"/decisions/{decision_id}/appeal", json={"message": "mine"})
    assert r.status_code == 404, r.text
    with live.client(who) as c:
        appealed = c.post(
            f"/decisions/{decision_id}/appeal", json={"message": "a history documentary"}
        )
    assert appealed.status_code == 200, appealed.text
    assert appealed.json()["kind"] == "prompt"

    # While the appeal is open the prompt stays blocked.
    with live.client(who) as c:
        assert (
            c.post("/prompt-check", json={"prompt": HATEFUL}).json()["decision"]["outcome"]
            == "block"
        )
    appeal_item = _appeal_item(live, decision_id)
    with live.client("moderator") as mod:
        evidence = mod.get(f"/queue-items/{appeal_item}").json()["evidence"]
    # The reviewer reads the prompt and the appeal (a prompt decision has no clip to show).
    assert evidence["clip"] is None and evidence["subject"]["prompt"] == HATEFUL
    assert evidence["subject"]["handle"] == who
    assert evidence["appeal"]["message"] == "a history documentary"
    verdict = _decide(live, appeal_item, "overturn")
    assert verdict["closed"]["appeal"]["status"] == "overturned"

    with live.client(who) as c:
        # The same prompt, however spaced or cased, is now allowed for its author ...
        again = c.post("/prompt-check", json={"prompt": "  A WHITE power   rally "}).json()
        # ... but not a prompt with a different reason.
        other_reason = c.post("/prompt-check", json={"prompt": "a graphic beheading, gore"})
    assert again["decision"]["outcome"] == "allow", again
    assert other_reason.json()["decision"]["outcome"] != "allow", other_reason.text
    with live.client("adult") as other:
        theirs = other.post("/prompt-check", json={"prompt": HATEFUL}).json()
    assert theirs["decision"]["outcome"] == "block"
    rows = live.services.store.query_dicts(
        "SELECT details FROM decisions WHERE id = ?", [again["decision_id"]]
    )
    assert "waived_reasons" in rows[0]["details"]
    assert live.services.store.verify_audit().ok


def test_staff_see_a_standing_and_lift_an_action_with_a_reason(
    live: LiveServer, images: list[Path]
) -> None:
    who = _account(live)
    account = live.services.pipeline.accounts
    # Three strikes straight through the store's home, as a moderator's decisions would add them.
    from store.reports import add_strike

    moderator = live.users["moderator"]
    with live.services.store.transaction() as tx:
        for n in range(3):
            add_strike(tx, live.users[who].id, f"dec_test_{n}", None, "test", moderator.id, "spam")
    judged = account.evaluate(live.users[who].id, None, moderator)
    (action,) = judged["actions"]
    with live.client(who) as c:
        assert c.get(f"/users/{who}/standing").status_code == 403
        assert (
            c.post(f"/account-actions/{action['id']}/lift", json={"reason": "x"}).status_code == 403
        )
    with live.client("moderator") as mod:
        seen = mod.get(f"/users/{who}/standing")
        no_reason = mod.post(f"/account-actions/{action['id']}/lift", json={"reason": ""})
        lifted = mod.post(
            f"/account-actions/{action['id']}/lift", json={"reason": "strikes were a test"}
        )
        again = mod.post(f"/account-actions/{action['id']}/lift", json={"reason": "twice"})
    assert seen.status_code == 200 and len(seen.json()["strike_list"]) == 3
    assert no_reason.status_code == 422
    assert lifted.status_code == 200 and lifted.json()["active"] is False
    assert again.status_code == 409
    assert _standing(live, who)["restricted"] == []
    assert live.services.store.verify_audit().ok
