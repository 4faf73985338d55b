"""Abuse controls on the review loops, on a live server.

- One report from a fresh account does not hide a clip; corroboration (several
  established reporters) or a staff report does.
- Moderators cannot claim or decide items about their own clips.
- A claim is a lease that its holder can release, and an admin can take back.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from store.db import now
from tests.conftest import LiveServer


@pytest.fixture(scope="module")
def scene_image(fixtures_dir: Path) -> Path:
    """A scene without people: published at upload (a stranger's real face is held for review)."""
    return fixtures_dir / "c2pa" / "assets" / "earth_apollo17.jpg"


def _post(live: LiveServer, who: str, image: Path, prompt: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.post(
            "/clips", files={"file": (image.name, image.read_bytes())}, data={"prompt": prompt}
        )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _report(live: LiveServer, who: str, clip_id: str, reason: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.post(f"/clips/{clip_id}/report", json={"reason": reason})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _status(live: LiveServer, clip_id: str) -> str:
    return str(live.services.store.query("SELECT status FROM clips WHERE id = ?", [clip_id])[0][0])


def _age_accounts(live: LiveServer, *names: str, days: int) -> None:
    with live.services.store.transaction() as tx:
        for name in names:
            tx.execute(
                "UPDATE users SET created_at = ? WHERE id = ?",
                [now() - timedelta(days=days), live.users[name].id],
            )


def test_reports_hide_only_with_corroboration(live_server: LiveServer, scene_image: Path) -> None:
    live = live_server
    clip = _post(live, "adult", scene_image, "a portrait at the lake")["clip_id"]
    assert _status(live, clip) == "published"
    first = _report(live, "teen", clip, "child_safety")  # a fresh account
    assert first["held"] is False and _status(live, clip) == "published"
    assert first["priority"] >= 90  # it still reaches the specialists at once
    # Two established accounts corroborate: now it leaves the feed until reviewed.
    _age_accounts(live, "guardian", "rights_holder", days=90)
    _report(live, "guardian", clip, "child_safety")
    third = _report(live, "rights_holder", clip, "child_safety")
    assert third["held"] is True and _status(live, clip) == "queued"
    # One item per clip and queue, escalated by each report.
    assert first["queue_item_id"] == third["queue_item_id"]


def test_staff_reports_act_at_once(live_server: LiveServer, scene_image: Path) -> None:
    live = live_server
    clip = _post(live, "adult", scene_image, "a portrait by the sea")["clip_id"]
    doc = _report(live, "moderator", clip, "child_safety")
    assert doc["held"] is True and _status(live, clip) == "queued"


def test_moderators_never_decide_their_own_clips(
    live_server: LiveServer, scene_image: Path
) -> None:
    live = live_server
    own = _post(live, "moderator", scene_image, "the moderator's own upload")["clip_id"]
    item = _report(live, "adult", own, "spam")["queue_item_id"]
    with live.client("moderator") as mod:
        claim = mod.post(f"/queue-items/{item}/claim")
        decide = mod.post(
            f"/queue-items/{item}/decide", json={"outcome": "publish", "reason": "mine"}
        )
    assert claim.status_code == 409 and "own clip" in claim.json()["error"]
    assert decide.status_code == 409
    with live.client("admin") as admin:
        ok = admin.post(
            f"/queue-items/{item}/decide", json={"outcome": "publish", "reason": "fine"}
        )
    assert ok.status_code == 200, ok.text


def test_claims_release_and_lead_takeover(live_server: LiveServer, scene_image: Path) -> None:
    live = live_server
    clip = _post(live, "adult", scene_image, "a portrait in the rain")["clip_id"]
    item = _report(live, "teen", clip, "spam")["queue_item_id"]
    with live.client("moderator") as mod, live.client("admin") as admin:
        assert mod.post(f"/queue-items/{item}/claim").json()["status"] == "claimed"
        assert admin.post(f"/queue-items/{item}/claim").status_code == 409
        released = mod.post(f"/queue-items/{item}/release")
        assert released.status_code == 200 and released.json()["status"] == "open"
        assert mod.post(f"/queue-items/{item}/release").status_code == 409  # not claimed now
        assert mod.post(f"/queue-items/{item}/claim").status_code == 200
        # A lead (admin) may hand a claimed item back to the queue.
        assert admin.post(f"/queue-items/{item}/release").json()["status"] == "open"
    events = live.services.store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'queue_item.changed' AND subject_id = ?",
        [item],
    )[0][0]
    assert events >= 5  # opened, claimed, released, claimed, released: every move audited
