"""A clip's dossier on a real server: lineage, decisions, review history, reports, appeals, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import LiveServer


def _post(live: LiveServer, who: str, path: str, image: Path, **data: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.post(path, files={"file": (image.name, image.read_bytes())}, data=data)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_the_dossier_holds_everything_known_about_a_clip(
    shared_live_server: LiveServer, fixtures_dir: Path
) -> None:
    live = shared_live_server
    chars = fixtures_dir / "characters"
    parent = _post(
        live, "adult", "/clips", chars / "go_gopher" / "gophercolor.png", prompt="a gopher"
    )
    assert parent["status"] == "published", parent
    clip_id = parent["clip_id"]
    remix = _post(
        live, "guardian", f"/clips/{clip_id}/remix", chars / "go_gopher" / "gopherbw.png",
        prompt="the gopher in black and white",
    )  # fmt: skip
    grandchild = _post(
        live, "adult", f"/clips/{remix['clip_id']}/remix", chars / "tux" / "tux_boot.png",
        prompt="a penguin joins",
    )  # fmt: skip
    with live.client("guardian") as c:
        report = c.post(f"/clips/{clip_id}/report", json={"reason": "spam"}).json()
    with live.client("moderator") as mod:
        decided = mod.post(
            f"/queue-items/{report['queue_item_id']}/decide",
            json={"outcome": "block", "reason": "dossier test", "category": "spam"},
        ).json()
    with live.client("adult") as c:
        appeal = c.post(f"/decisions/{decided['decision_id']}/appeal", json={"message": "ok"})
    assert appeal.status_code == 200, appeal.text

    with live.client("moderator") as mod:
        r = mod.get(f"/clips/{clip_id}/dossier")
        missing = mod.get("/clips/clip_nothing/dossier")
    assert r.status_code == 200, r.text
    assert missing.status_code == 404
    doc = r.json()
    assert doc["clip"]["id"] == clip_id and doc["clip"]["creator"] == "adult"
    assert doc["clip"]["status"] == "blocked"
    remixes = {(c["id"], c["depth"]) for c in doc["lineage"]["remixes"]}
    assert remixes == {(remix["clip_id"], 1), (grandchild["clip_id"], 2)}
    assert doc["lineage"]["ancestors"] == []
    # Every decision, newest first, with the staff's view: rules, values, signals.
    ids = [d["id"] for d in doc["decisions"]]
    assert ids[0] == decided["decision_id"] and parent["decision_id"] in ids
    assert all("signals" in d and "details" in d for d in doc["decisions"])
    items = {i["id"]: i for i in doc["queue_items"]}
    assert items[report["queue_item_id"]]["status"] == "resolved"
    assert appeal.json()["queue_item_id"] in items
    assert [(r["reporter"], r["reason"], r["status"]) for r in doc["reports"]] == [
        ("guardian", "spam", "resolved")
    ]
    assert [(a["appellant"], a["status"]) for a in doc["appeals"]] == [("adult", "open")]

    # The audit entries: exactly the rows about the clip, its items and its decisions.
    subjects = {clip_id, *items, *ids}
    expected = [
        r[0]
        for r in live.services.store.query("SELECT seq FROM audit_log ORDER BY seq DESC")
        if r[0]
        in {
            row[0]
            for row in live.services.store.query("SELECT seq, subject_id FROM audit_log")
            if row[1] in subjects
        }
    ]
    assert [e["seq"] for e in doc["audit"]] == expected[:200]
    events = {e["event"] for e in doc["audit"]}
    assert {"clip.status_changed", "clip.reported", "decision.human", "decision.appealed"} <= events

    # The remix's dossier names its parent.
    with live.client("admin") as admin:
        child = admin.get(f"/clips/{grandchild['clip_id']}/dossier").json()
    assert [a["id"] for a in child["lineage"]["ancestors"]] == [remix["clip_id"], clip_id]
