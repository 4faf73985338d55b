"""Reason categories on moderator decisions, and what a child-safety takedown does by itself.

On a live server: every decision carries its category in the decision's
details, the item's resolution and the evidence a moderator (or the appeal's
moderator) sees. A block or takedown in ``sexual_minors`` banks the clip's
hashes in the child-safety bank (created on first use with the hash-bank
category the default policy reads), so the same media uploaded again is
blocked at the gate into the child-safety queue; and it holds the evidence:
the media kept outside the blob store past deletion, the records
snapshotted, every opening logged in a table and the audit chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store.db import NotFound
from tests.conftest import LiveServer


def _post(live: LiveServer, who: str, path: Path, **form: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.post("/clips", files={"file": (path.name, path.read_bytes())}, data=form)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _report(live: LiveServer, who: str, clip_id: str, reason: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.post(f"/clips/{clip_id}/report", json={"reason": reason})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _decide(live: LiveServer, item_id: str, outcome: str, **extra: Any) -> Any:
    with live.client("moderator") as c:
        return c.post(
            f"/queue-items/{item_id}/decide",
            json={"outcome": outcome, "reason": f"category test: {outcome}", **extra},
        )


def _rows(live: LiveServer, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return live.services.store.query_dicts(sql, params)  # type: ignore[no-any-return]


def _staff_decisions(live: LiveServer, clip_id: str) -> list[dict[str, Any]]:
    with live.client("moderator") as c:
        return c.get(f"/clips/{clip_id}/decisions").json()["decisions"]  # type: ignore[no-any-return]


def _child_safety_banks(live: LiveServer) -> list[dict[str, Any]]:
    return [
        b for b in live.services.pipeline.banks.list_banks() if b["category"] == "sexual_minors"
    ]


@pytest.fixture(scope="module")
def bunny(fixtures_dir: Path) -> Path:
    return fixtures_dir / "characters" / "big_buck_bunny" / "bbb_bunny_03.jpg"


def test_a_child_safety_takedown_banks_the_clip_and_holds_the_evidence(
    shared_live_server: LiveServer, bunny: Path
) -> None:
    live = shared_live_server
    store = live.services.store
    review = live.services.pipeline.review
    # Its own poster: a confirmed sexual_minors removal bans the account that posted it.
    poster = live.add_account("cs-poster-1")
    posted = _post(live, poster, bunny, prompt="a bunny in a meadow")
    assert posted["status"] == "published", posted
    clip_id = posted["clip_id"]
    report = _report(live, "guardian", clip_id, "child_safety")
    item_id = report["specialist_item_id"]
    assert report["specialist_queue"] == "child_safety" and item_id
    assert _child_safety_banks(live) == []

    r = _decide(live, item_id, "takedown", category="sexual_minors")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["category"] == "sexual_minors" and out["clip_status"] == "taken_down"
    banked = out["closed"]["banked"]
    assert banked["bank"] == "child_safety" and banked["added"] >= 1
    assert [a["kind"] for a in out["closed"]["account"]["actions"]] == ["ban"]
    hold_id = out["closed"]["evidence_hold"]

    # The bank was created on first use with the category the minor_sexual rule reads.
    (bank,) = _child_safety_banks(live)
    assert bank["name"] == "child_safety" and bank["entries"] == banked["added"]
    sha = _rows(live, "SELECT media_sha256 FROM clips WHERE id = ?", [clip_id])[0]["media_sha256"]
    entries = _rows(
        live,
        "SELECT e.kind, e.severity, e.source_clip_id FROM hash_bank_entries e "
        "JOIN hash_banks b ON b.id = e.bank_id WHERE b.name = 'child_safety' AND e.hash = ?",
        [sha],
    )
    assert entries == [{"kind": "sha256", "severity": "critical", "source_clip_id": clip_id}]

    # The category is in the decision's details, the item's resolution and the evidence.
    decided = next(d for d in _staff_decisions(live, clip_id) if d["id"] == out["decision_id"])
    assert decided["details"]["category"] == "sexual_minors"
    with live.client("moderator") as c:
        item = c.get(f"/queue-items/{item_id}").json()
    assert item["resolution"]["category"] == "sexual_minors"
    assert item["resolution"]["closed"]["evidence_hold"] == hold_id
    assert [h["id"] for h in item["evidence"]["holds"]] == [hold_id]

    # The same media uploaded again is blocked at the gate, straight to the specialists.
    again = _post(live, "guardian", bunny, prompt="look at this")
    assert again["status"] == "blocked", again
    text = str(again)
    assert "child_safety" not in text and sha not in text  # no bank name or hash to the uploader
    gate = _staff_decisions(live, again["clip_id"])[0]
    fired = {rule["id"] for rule in gate["rules"]}
    assert {"minor_sexual", "hash_bank_match"} <= fired
    assert gate["queue"] == "child_safety"

    # The hold: metadata listed without logging; the media kept outside the blob store.
    holds = review.evidence_holds(clip_id)
    assert [h["id"] for h in holds] == [hold_id]
    assert holds[0]["preserved_media"] is True and holds[0]["category"] == "sexual_minors"
    assert review.evidence.access_log(hold_id) == []
    kept = review.evidence.media_path(sha)
    assert kept.is_file() and kept.read_bytes() == bunny.read_bytes()
    assert review.evidence.is_media_held(sha)

    # Kept past deletion: the blob goes, the held copy and records stay.
    blobs = live.services.pipeline.banks.blobs
    with store.transaction() as tx:
        assert blobs.delete(tx, sha)
    assert not blobs.exists(sha) and kept.is_file()

    moderator = live.users["moderator"]
    with pytest.raises(ValueError, match="purpose"):
        review.open_evidence(hold_id, moderator, "  ")
    with pytest.raises(NotFound):
        review.open_evidence(hold_id, live.users["adult"], "curious")
    assert review.evidence.access_log(hold_id) == []
    opened = review.open_evidence(hold_id, moderator, "NCMEC report (test)")
    assert opened["media"] == {"sha256": sha, "kept": True, "path": opened["media"]["path"]}
    assert (store.data_dir / opened["media"]["path"]).read_bytes() == bunny.read_bytes()
    evidence = opened["evidence"]
    assert evidence["clip"]["id"] == clip_id and evidence["clip"]["media_sha256"] == sha
    assert evidence["decision_id"] == out["decision_id"]
    assert out["decision_id"] in {d["id"] for d in evidence["decisions"]}
    assert evidence["banked"]["bank"] == "child_safety"
    log = review.evidence.access_log(hold_id)
    assert [(a["user_id"], a["purpose"]) for a in log] == [(moderator.id, "NCMEC report (test)")]
    events = _rows(
        live,
        "SELECT event, actor_id FROM audit_log WHERE subject_id = ? AND event LIKE 'evidence.%' "
        "ORDER BY seq",
        [clip_id],
    )
    assert events == [
        {"event": "evidence.held", "actor_id": moderator.id},
        {"event": "evidence.accessed", "actor_id": moderator.id},
    ]
    assert store.verify_audit().ok


def test_a_child_safety_block_of_a_held_upload_banks_into_the_same_bank(
    shared_live_server: LiveServer, fixtures_dir: Path
) -> None:
    live = shared_live_server
    photo = fixtures_dir / "faces" / "deepface" / "img2.jpg"
    posted = _post(live, live.add_account("cs-poster-2"), photo)
    assert posted["status"] == "queued" and posted["queue_item_id"], posted  # real_people
    r = _decide(live, posted["queue_item_id"], "block", category="sexual_minors")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["clip_status"] == "blocked" and out["closed"]["banked"]["bank"] == "child_safety"
    assert len(_child_safety_banks(live)) == 1  # found again, not created twice
    assert live.services.pipeline.review.evidence_holds(posted["clip_id"])


def test_other_categories_are_recorded_without_banking_or_holds(
    shared_live_server: LiveServer, fixtures_dir: Path
) -> None:
    live = shared_live_server
    review = live.services.pipeline.review
    image = fixtures_dir / "characters" / "go_gopher" / "gophercolor.png"
    posted = _post(live, "adult", image, prompt="a gopher waving")
    assert posted["status"] == "published", posted
    item_id = _report(live, "guardian", posted["clip_id"], "spam")["queue_item_id"]
    entries_before = _rows(live, "SELECT count(*) AS n FROM hash_bank_entries", [])[0]["n"]

    bad = _decide(live, item_id, "takedown", category="not_a_category")
    assert bad.status_code == 422, bad.text
    r = _decide(live, item_id, "takedown", category="spam")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["category"] == "spam" and "banked" not in out["closed"]
    assert out["item"]["resolution"]["category"] == "spam"
    decided = next(
        d for d in _staff_decisions(live, posted["clip_id"]) if d["id"] == out["decision_id"]
    )
    assert decided["details"]["category"] == "spam"
    assert review.evidence_holds(posted["clip_id"]) == []
    assert _rows(live, "SELECT count(*) AS n FROM hash_bank_entries", [])[0]["n"] == entries_before

    # Publishing under sexual_minors (a report that was wrong) banks nothing either.
    second = _post(live, "adult", fixtures_dir / "characters" / "tux" / "tux_boot.png")
    item = _report(live, "guardian", second["clip_id"], "child_safety")["specialist_item_id"]
    r = _decide(live, item, "publish", category="sexual_minors")
    assert r.status_code == 200, r.text
    assert "banked" not in r.json()["closed"] and r.json()["category"] == "sexual_minors"
    assert review.evidence_holds(second["clip_id"]) == []

    # No category at all is still a valid decision (recorded as null).
    third = _post(live, "adult", fixtures_dir / "characters" / "tux" / "tux_speech.png")
    item = _report(live, "guardian", third["clip_id"], "spam")["queue_item_id"]
    r = _decide(live, item, "publish")
    assert r.status_code == 200, r.text
    assert r.json()["category"] is None


def test_the_category_is_shown_to_the_moderator_of_an_appeal(
    shared_live_server: LiveServer, fixtures_dir: Path
) -> None:
    live = shared_live_server
    image = fixtures_dir / "characters" / "go_gopher" / "gopherbw.png"
    posted = _post(live, "adult", image, prompt="a gopher, black and white")
    item_id = _report(live, "guardian", posted["clip_id"], "violence")["queue_item_id"]
    r = _decide(live, item_id, "takedown", category="violence")
    assert r.status_code == 200, r.text
    with live.client("adult") as c:
        appeal = c.post(f"/decisions/{r.json()['decision_id']}/appeal", json={"message": "no"})
    assert appeal.status_code == 200, appeal.text
    appeal_item = appeal.json()["queue_item_id"]
    with live.client("moderator") as c:
        item = c.get(f"/queue-items/{appeal_item}").json()
    assert item["evidence"]["decision"]["details"]["category"] == "violence"
    # The creator's own view of the decision does not carry staff details.
    with live.client("adult") as c:
        mine = c.get(f"/clips/{posted['clip_id']}/decisions").json()["decisions"]
    assert all("details" not in d for d in mine)
