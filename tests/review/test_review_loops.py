"""Closing the review loops on a real server: reports, specialists' queues, appeals, disputes, strikes.

One server for the module; every flow ends with the audit chain verifying.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policies.loader import DEFAULT_DIR
from tests.conftest import LiveServer

REVIEW_UPLOADS = """
  - id: review_test_uploads_reviewed
    description: Every upload goes to a human (review test policy).
    condition: context.stage == "upload"
    outcome: review
    severity: low
    reason: upload_review
    queue: uploads
    priority: 30
"""


def _images(fixtures_dir: Path) -> list[Path]:
    chars = fixtures_dir / "characters"
    return [
        chars / "big_buck_bunny" / "bbb_frank_squirrel_01.jpg",
        chars / "tux" / "tux_boot.png",
        chars / "go_gopher" / "gophercolor.png",
        chars / "big_buck_bunny" / "bbb_bunny_03.jpg",
        chars / "big_buck_bunny" / "bbb_bunny_04.jpg",
        chars / "go_gopher" / "gopherbw.png",
    ]


def _post(live: LiveServer, who: str, image: Path, prompt: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.post(
            "/clips", files={"file": (image.name, image.read_bytes())}, data={"prompt": prompt}
        )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _decide(live: LiveServer, item_id: str, outcome: str, **extra: Any) -> Any:
    with live.client("moderator") as c:
        return c.post(
            f"/queue-items/{item_id}/decide",
            json={"outcome": outcome, "reason": f"review test: {outcome}", **extra},
        )


def _report(live: LiveServer, who: str, clip_id: str, reason: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.post(f"/clips/{clip_id}/report", json={"reason": reason})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _audit_ok(live: LiveServer) -> None:
    report = live.services.store.verify_audit()
    assert report.ok, report


def _one(live: LiveServer, sql: str, params: list[Any]) -> Any:
    rows = live.services.store.query(sql, params)
    assert rows, sql
    return rows[0] if len(rows[0]) > 1 else rows[0][0]


@pytest.fixture(scope="module")
def clips(shared_live_server: LiveServer, fixtures_dir: Path) -> dict[str, str]:
    live = shared_live_server
    images = _images(fixtures_dir)
    out = {}
    for name, image in zip(("spam", "child"), images[:2], strict=True):
        doc = _post(live, "adult", image, f"a bunny in a meadow ({name})")
        assert doc["status"] == "published", doc
        out[name] = doc["clip_id"]
    policies = live.services.pipeline.policies
    default = policies.state()["active"]
    texts = {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}
    texts["content.yaml"] = texts["content.yaml"].rstrip("\n") + "\n" + REVIEW_UPLOADS
    policies.save(texts, None, "review tests: review every upload", activate=True)
    try:
        for name, image in zip(("appeal_over", "appeal_up"), images[2:4], strict=True):
            doc = _post(live, "adult", image, f"a clip waiting for review ({name})")
            assert doc["status"] == "queued", doc
            out[name] = doc["clip_id"]
    finally:
        policies.activate(default, None)
    return out


def test_resolving_a_report_item_closes_its_reports_and_a_new_round_starts_at_one(
    shared_live_server: LiveServer, clips: dict[str, str]
) -> None:
    live = shared_live_server
    clip = clips["spam"]
    first = _report(live, "teen", clip, "spam")
    second = _report(live, "guardian", clip, "harassment")
    assert second["reports"] == 2 and second["queue_item_id"] == first["queue_item_id"]
    r = _decide(live, first["queue_item_id"], "publish")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["closed"]["reports"] == 2 and doc["clip_status"] == "published"
    assert doc["item"]["status"] == "resolved"
    open_reports = _one(
        live, "SELECT count(*) FROM reports WHERE clip_id = ? AND status = 'open'", [clip]
    )
    assert open_reports == 0
    # A later report is a new round: count 1, a new item.
    again = _report(live, "teen", clip, "spam")
    assert again["reports"] == 1 and again["transition"] == "opened"
    assert again["queue_item_id"] != first["queue_item_id"]
    events = _one(
        live,
        "SELECT count(*) FROM audit_log WHERE event = 'clip.reports_resolved' AND subject_id = ?",
        [clip],
    )
    assert events == 1
    _audit_ok(live)


def test_child_safety_report_reaches_the_specialists_and_a_takedown_strikes_the_creator(
    shared_live_server: LiveServer, clips: dict[str, str]
) -> None:
    live = shared_live_server
    clip = clips["child"]
    creator = live.users["adult"]
    doc = _report(live, "guardian", clip, "child_safety")
    assert doc["specialist_queue"] == "child_safety" and doc["specialist_item_id"]
    # One report from a fresh account reaches the specialists but does not hide the clip.
    assert doc["held"] is False and doc["clip_status"] == "published"
    items = live.services.store.query(
        "SELECT queue, priority FROM queue_items WHERE clip_id = ? AND status = 'open' "
        "ORDER BY queue",
        [clip],
    )
    assert [q for q, _ in items] == ["child_safety", "reports"]
    assert all(p >= 90 for _, p in items)
    # A staff report corroborates it: the clip is held now; both items escalate, none is added.
    staff = _report(live, "admin", clip, "child_safety")
    assert staff["held"] is True and staff["clip_status"] == "queued"
    assert staff["specialist_item_id"] == doc["specialist_item_id"]
    assert _one(live, "SELECT status FROM clips WHERE id = ?", [clip]) == "queued"
    assert len(live.services.store.query(
        "SELECT 1 FROM queue_items WHERE clip_id = ? AND status = 'open'", [clip]
    )) == 2  # fmt: skip
    with live.client("moderator") as c:
        listed = c.get("/queues/child_safety").json()["items"]
    assert doc["specialist_item_id"] in [it["id"] for it in listed]
    # A strike needs a block or takedown.
    assert _decide(live, doc["specialist_item_id"], "publish", strike=True).status_code == 422
    r = _decide(live, doc["specialist_item_id"], "takedown", strike=True)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["clip_status"] == "taken_down"
    assert out["closed"]["strike"]["user_id"] == creator.id
    assert out["closed"]["strike"]["strikes"] == 1
    assert out["closed"]["reports"] == 2
    assert out["closed"]["superseded_items"] == [doc["queue_item_id"]]
    assert not live.services.store.query(
        "SELECT 1 FROM queue_items WHERE clip_id = ? AND status <> 'resolved'", [clip]
    )
    strike = _one(live, "SELECT user_id, decision_id FROM strikes WHERE clip_id = ?", [clip])
    assert strike == (creator.id, out["decision_id"])
    assert _one(
        live, "SELECT count(*) FROM audit_log WHERE event = 'user.strike_added' AND subject_id = ?",
        [creator.id],
    ) == 1  # fmt: skip
    # The policy context of the creator's next decision counts the strike.
    with live.client("adult") as c:
        checked = c.post("/prompt-check", json={"prompt": "a bunny in a meadow"})
    assert checked.status_code == 200, checked.text
    view = _one(
        live,
        "SELECT s.view FROM decisions d JOIN scans s ON s.id = d.scan_id WHERE d.id = ?",
        [checked.json()["decision_id"]],
    )
    assert json.loads(view)["context"]["creator"]["strikes"] == 1
    _audit_ok(live)


def _appeal(live: LiveServer, clip_id: str, action: str) -> dict[str, Any]:
    item = _one(live, "SELECT id FROM queue_items WHERE clip_id = ? AND status = 'open'", [clip_id])
    r = _decide(live, item, action)
    assert r.status_code == 200, r.text
    with live.client("adult") as c:
        a = c.post(f"/decisions/{r.json()['decision_id']}/appeal", json={"message": "mine"})
    assert a.status_code == 200, a.text
    return a.json()  # type: ignore[no-any-return]


def test_overturned_appeal_republishes_and_records_who_decided(
    shared_live_server: LiveServer, clips: dict[str, str]
) -> None:
    live = shared_live_server
    clip = clips["appeal_over"]
    appeal = _appeal(live, clip, "block")
    assert _one(live, "SELECT status FROM clips WHERE id = ?", [clip]) == "blocked"
    # An appeal item has no clip-less verdicts only: uphold/overturn are for appeals and disputes.
    r = _decide(live, appeal["queue_item_id"], "overturn")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["clip_status"] == "published" and doc["outcome"] == "allow"
    assert doc["closed"]["appeal"] == {
        "id": appeal["appeal_id"],
        "status": "overturned",
        "voided_strikes": [],
        "lifted_actions": [],
    }
    row = _one(
        live,
        "SELECT status, decided_by, decision_reason, resolution_decision_id FROM appeals "
        "WHERE id = ?",
        [appeal["appeal_id"]],
    )
    assert row == (
        "overturned",
        live.users["moderator"].id,
        "review test: overturn",
        doc["decision_id"],
    )
    with live.client("guardian") as c:
        feed = c.get("/feed", params={"limit": 50}).json()
    assert clip in [it["clip_id"] for it in feed["items"]]
    _audit_ok(live)


def test_upheld_appeal_leaves_the_clip_down(
    shared_live_server: LiveServer, clips: dict[str, str]
) -> None:
    live = shared_live_server
    clip = clips["appeal_up"]
    appeal = _appeal(live, clip, "takedown")
    # Verdicts are for appeals and disputes; a gate item with a clip takes actions.
    r = _decide(live, appeal["queue_item_id"], "uphold")
    assert r.status_code == 200, r.text
    assert r.json()["clip_status"] == "taken_down"
    assert r.json()["closed"]["appeal"]["status"] == "upheld"
    assert _one(live, "SELECT status FROM appeals WHERE id = ?", [appeal["appeal_id"]]) == "upheld"
    assert _decide(live, appeal["queue_item_id"], "publish").status_code == 409  # resolved
    _audit_ok(live)


def test_dispute_of_a_prompt_decision_is_decided_without_a_clip(
    shared_live_server: LiveServer,
) -> None:
    live = shared_live_server
    with live.client("rights_holder") as c:
        r = c.post(
            "/characters",
            json={"name": "Zorblax the Quiet", "aliases": ["Zorblax"], "policy": "block"},
        )
        assert r.status_code == 201, r.text
        character = r.json()["id"]
    with live.client("adult") as c:
        checked = c.post("/prompt-check", json={"prompt": "Zorblax the Quiet dancing"}).json()
    assert checked["decision"]["outcome"] == "block", checked
    decision_id = checked["decision_id"]
    with live.client("rights_holder") as c:
        d = c.post(
            "/disputes",
            json={"character_id": character, "decision_id": decision_id, "message": "fan art ok"},
        )
    assert d.status_code == 201, d.text
    dispute = d.json()
    assert dispute["clip_id"] is None
    item = dispute["queue_item_id"]
    # No clip: moving a clip is refused with a clear message; verdicts are accepted.
    bad = _decide(live, item, "publish")
    assert bad.status_code == 422 and "uphold" in bad.json()["error"]
    r = _decide(live, item, "overturn")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["clip_status"] is None and doc["outcome"] == "allow"
    assert doc["closed"]["dispute"] == {
        "id": dispute["id"],
        "status": "resolved",
        "outcome": "overturn",
    }
    row = _one(
        live,
        "SELECT status, outcome, decided_by, decision_reason FROM character_disputes WHERE id = ?",
        [dispute["id"]],
    )
    assert row == ("resolved", "overturn", live.users["moderator"].id, "review test: overturn")
    _audit_ok(live)


def test_verdicts_only_on_appeals_and_disputes_and_strike_needs_a_creator(
    shared_live_server: LiveServer, clips: dict[str, str]
) -> None:
    live = shared_live_server
    doc = _report(live, "guardian", clips["spam"], "other")
    r = _decide(live, doc["queue_item_id"], "overturn")
    assert r.status_code == 422 and "appeals" in r.json()["error"]
    # Refused decisions change nothing.
    assert (
        _one(live, "SELECT status FROM queue_items WHERE id = ?", [doc["queue_item_id"]]) == "open"
    )
    _audit_ok(live)
