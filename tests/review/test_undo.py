"""Undo of a moderator's decision on a real server: the reversal is a decision; what it closed reopens.

``POST /decisions/{id}/undo`` within the undo window puts the clip back where
it was, hands the item back to the moderator who decided it, reopens the
reports or appeal it closed and voids its strike; it refuses someone else's
decision, a second undo, an undo after a later decision, a decision that
banked hashes, and one past the window (judged by an injected clock, not by
waiting).
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.review import ReviewService
from store.db import Conflict, now
from tests.conftest import LiveServer
from tests.review.held import held_upload

_n = itertools.count()


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    live = shared_live_server
    live.add_account("second-mod", role="moderator", birth_year=None)
    return live


@pytest.fixture(scope="module")
def images(fixtures_dir: Path) -> list[Path]:
    chars = fixtures_dir / "characters"
    return sorted(chars.rglob("*.png")) + sorted(chars.rglob("*.jpg"))


def _held(live: LiveServer, who: str, image: Path) -> tuple[str, str]:
    """(clip id, queue item id) of an upload a test policy holds for review."""
    doc = held_upload(live, who, image, prompt=f"held for review {next(_n)}")
    return doc["clip_id"], doc["queue_item_id"]


def _decide(
    live: LiveServer, item_id: str, outcome: str, who: str = "moderator", **extra: Any
) -> Any:
    with live.client(who) as c:
        r = c.post(
            f"/queue-items/{item_id}/decide",
            json={"outcome": outcome, "reason": f"undo test: {outcome}", **extra},
        )
    assert r.status_code == 200, r.text
    return r.json()


def _undo(live: LiveServer, decision_id: str, who: str = "moderator") -> Any:
    with live.client(who) as c:
        return c.post(f"/decisions/{decision_id}/undo", json={"reason": "wrong button"})


def _status(live: LiveServer, clip_id: str) -> str:
    return str(live.services.store.query("SELECT status FROM clips WHERE id = ?", [clip_id])[0][0])


def test_undoing_a_publish_puts_the_clip_back_and_hands_the_item_back(
    live: LiveServer, images: list[Path]
) -> None:
    clip_id, item_id = _held(live, "adult", images[0])
    decided = _decide(live, item_id, "publish")
    assert _status(live, clip_id) == "published"
    r = _undo(live, decided["decision_id"])
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["undoes"] == decided["decision_id"] and doc["clip_status"] == "queued"
    assert doc["item"]["status"] == "claimed"
    assert doc["item"]["claimed_by"] == live.users["moderator"].id
    assert item_id in doc["reopened"]["items"]
    # The reversal is itself a decision with its door, and audited.
    row = live.services.store.query_dicts(
        "SELECT door, decided_by, reason FROM decisions WHERE id = ?", [doc["decision_id"]]
    )[0]
    assert row["door"] == "undo" and row["decided_by"] == live.users["moderator"].id
    assert "wrong button" in row["reason"]
    events = live.services.store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'decision.undone' AND subject_id = ?",
        [decided["decision_id"]],
    )
    assert events[0][0] == 1
    # The moderator decides it again.
    again = _decide(live, item_id, "block")
    assert again["clip_status"] == "blocked"
    assert live.services.store.verify_audit().ok


def test_undo_voids_the_strike_and_reopens_reports(live: LiveServer, images: list[Path]) -> None:
    poster = live.add_account(f"undo-poster-{next(_n)}")
    clip_id, item_id = _held(live, poster, images[1])
    decided = _decide(live, item_id, "block", strike=True, category="spam")
    assert live.services.pipeline.accounts.standing(live.users[poster])["strikes"] == 1
    assert _undo(live, decided["decision_id"]).status_code == 200
    assert live.services.pipeline.accounts.standing(live.users[poster])["strikes"] == 0

    # Reports: a published clip, reported twice, published by a moderator, then undone.
    published = _decide(live, item_id, "publish")
    assert published["clip_status"] == "published"
    for who in ("adult", "guardian"):
        with live.client(who) as c:
            r = c.post(f"/clips/{clip_id}/report", json={"reason": "spam"})
        assert r.status_code == 200, r.text
        report_item = r.json()["queue_item_id"]
    closed = _decide(live, report_item, "publish")
    assert closed["closed"]["reports"] == 2
    undone = _undo(live, closed["decision_id"])
    assert undone.status_code == 200, undone.text
    assert undone.json()["reopened"]["reports"] == 2
    open_reports = live.services.store.query(
        "SELECT count(*) FROM reports WHERE clip_id = ? AND status = 'open'", [clip_id]
    )
    assert open_reports[0][0] == 2


def test_undoing_an_appeal_verdict_reopens_the_appeal(live: LiveServer, images: list[Path]) -> None:
    clip_id, item_id = _held(live, "adult", images[2])
    blocked = _decide(live, item_id, "block")
    with live.client("adult") as c:
        appeal = c.post(f"/decisions/{blocked['decision_id']}/appeal", json={"message": "fine"})
    assert appeal.status_code == 200, appeal.text
    verdict = _decide(live, appeal.json()["queue_item_id"], "overturn")
    assert _status(live, clip_id) == "published"
    r = _undo(live, verdict["decision_id"])
    assert r.status_code == 200, r.text
    assert r.json()["reopened"]["appeals"] == [appeal.json()["appeal_id"]]
    assert _status(live, clip_id) == "blocked"
    status = live.services.store.query(
        "SELECT status FROM appeals WHERE id = ?", [appeal.json()["appeal_id"]]
    )
    assert status[0][0] == "open"


def test_undo_is_refused_with_a_reason(live: LiveServer, images: list[Path]) -> None:
    clip_id, item_id = _held(live, "adult", images[3])
    decided = _decide(live, item_id, "age_restrict")
    other = _undo(live, decided["decision_id"], who="second-mod")
    assert other.status_code == 409 and "moderator who made" in other.json()["error"]
    with live.client("admin") as c:
        missing = c.post("/decisions/dec_nothing/undo")
    assert missing.status_code == 404
    assert _undo(live, decided["decision_id"]).status_code == 200
    twice = _undo(live, decided["decision_id"])
    assert twice.status_code == 409 and "already undone" in twice.json()["error"]

    # A later decision on the clip replaced the undone one's reversal: the first cannot come back.
    first = _decide(live, item_id, "publish")
    with live.client("guardian") as c:
        report = c.post(f"/clips/{clip_id}/report", json={"reason": "spam"}).json()
    _decide(live, report["queue_item_id"], "takedown")
    late = _undo(live, first["decision_id"])
    assert late.status_code == 409 and "later decision" in late.json()["error"]

    # A decision that banked the clip's hashes is not undone here.
    poster = live.add_account(f"undo-cs-{next(_n)}")
    _, cs_item = _held(live, poster, images[4])
    banked = _decide(live, cs_item, "takedown", category="sexual_minors")
    refused = _undo(live, banked["decision_id"])
    assert refused.status_code == 409 and "bank" in refused.json()["error"]


def test_the_window_is_judged_by_the_clock(live: LiveServer, images: list[Path]) -> None:
    _, item_id = _held(live, "adult", images[5])
    decided = _decide(live, item_id, "block")
    review = live.services.pipeline.review
    # The same services, eleven minutes later (a 10-minute window).
    later = ReviewService(
        review.store, review.users, review.path, review.generation, review.provenance,
        review.banks, review.accounts, undo_window=timedelta(minutes=10),
        clock=lambda: now() + timedelta(minutes=11),
    )  # fmt: skip
    moderator = live.users["moderator"]
    with pytest.raises(Conflict, match="window"):
        later.undo(decided["decision_id"], moderator)
    off = ReviewService(
        review.store, review.users, review.path, review.generation, review.provenance,
        review.banks, review.accounts, undo_window=timedelta(0),
    )  # fmt: skip
    with pytest.raises(Conflict, match="turned off"):
        off.undo(decided["decision_id"], moderator)
    # Inside the window the same decision is undone.
    assert review.undo(decided["decision_id"], moderator)["undoes"] == decided["decision_id"]
