"""The gate through the real server: scan → signals → decision → recorded in one transaction → queue → human decision."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.conftest import LiveServer
from tests.gate.conftest import REVIEW_UPLOADS_RULE, counts, with_rule


def _scan(live: LiveServer, who: str, path: Path, **form: str) -> Any:
    with live.client(who) as client, path.open("rb") as handle:
        return client.post("/scan", files={"file": (path.name, handle)}, data=form)


def _audit_events(live: LiveServer, subject: str) -> list[str]:
    rows = live.services.store.query(
        "SELECT event FROM audit_log WHERE subject_id = ? ORDER BY seq", [subject]
    )
    return [r[0] for r in rows]


def test_scan_image_records_scan_signals_decision_together(
    live_server: LiveServer, face_image: Path
) -> None:
    live = live_server
    store = live.services.store
    before = counts(store)
    response = _scan(live, "adult", face_image, prompt="a portrait in soft light")
    assert response.status_code == 200, response.text
    result = response.json()
    clip_id = result["clip_id"]
    decision = result["decision"]
    active = live.services.pipeline.policies.state()["active"]
    assert decision["version"] == active
    assert decision["outcome"] in ("allow", "label", "age_restrict", "review", "block")
    # The uploader's answer is shaped for them: outcome, plain reasons, next steps -- no
    # evidence (signals, sources, explanation, rule values) and never the shadow evaluation.
    assert "signals" not in result and "sources_run" not in result and "scan_id" not in result
    assert "explanation" not in decision and "shadow" not in decision
    assert decision["id"] == result["decision_id"]
    assert decision["summary"] and all(isinstance(r, str) for r in decision["reasons"])
    assert all(set(r) == {"id", "outcome", "reason"} for r in decision["rules"])
    assert "appeal" in decision["next"]
    assert "sha256" not in result["media"] and result["media"]["kind"] == "image"

    # Staff see the recorded evidence: the decision, its explanation and the scan's signals.
    with live.client("moderator") as mod:
        staff_view = mod.get(f"/clips/{clip_id}/decisions").json()["decisions"]
    assert [d["id"] for d in staff_view] == [result["decision_id"]]
    recorded = staff_view[0]
    assert recorded["outcome"] == decision["outcome"] and recorded["policy_version"] == active
    scan_row = store.query_dicts("SELECT * FROM scans WHERE clip_id = ?", [clip_id])[0]
    assert recorded["scan_id"] == scan_row["id"]
    scan_context = json.loads(scan_row["context"])
    explanation = recorded["details"]["explanation"]
    assert explanation["sources_run"] and explanation["door"] == "scan"
    assert set(explanation["sources_run"]) == set(scan_context["sources_run"])

    after = counts(store)
    assert after["clips"] == before["clips"] + 1
    assert after["scans"] == before["scans"] + 1
    assert after["decisions"] == before["decisions"] + 1
    assert after["signals"] - before["signals"] == len(recorded["signals"])
    assert (recorded["queue"] is not None) == result["queued"]
    assert after["queue_items"] - before["queue_items"] == (1 if result["queued"] else 0)
    view = json.loads(scan_row["view"])
    assert view["context"]["creator"]["id"] == live.users["adult"].id
    assert view["context"]["audience"] == "adult" and view["context"]["stage"] == "upload"
    stored = store.query(
        "SELECT kind, model_id, data FROM signals WHERE scan_id = ?", [scan_row["id"]]
    )
    for kind, model_id, data in stored:
        doc = json.loads(data)
        assert doc["kind"] == kind and doc["model"] == model_id
        assert doc["explanation"]["model_id"]  # every stored signal explains itself
    clip = store.query_dicts("SELECT * FROM clips WHERE id = ?", [clip_id])[0]
    assert clip["creator_id"] == live.users["adult"].id
    assert clip["media_sha256"] == scan_context["media"]["sha256"]
    assert clip["media_sha256"] == hashlib.sha256(face_image.read_bytes()).hexdigest()
    assert clip["prompt"] == "a portrait in soft light"
    events = _audit_events(live, clip_id)
    assert "clip.status_changed" in events and "scan.recorded" in events
    assert store.verify_audit().ok


def test_video_review_queue_claim_decide_and_privacy(
    live_server: LiveServer, scenery_video: Path
) -> None:
    live = live_server
    store = live.services.store
    with live.client("admin") as admin:
        saved = admin.post(
            "/policies",
            json={
                "files": with_rule(REVIEW_UPLOADS_RULE),
                "message": "review uploads",
                "activate": True,
            },
        )
    assert saved.status_code == 201, saved.text
    version = saved.json()["id"]

    response = _scan(live, "adult", scenery_video)
    assert response.status_code == 200, response.text
    result = response.json()
    decision = result["decision"]
    assert decision["outcome"] == "review" and result["status"] == "queued"
    assert decision["version"] == version and result["queued"] is True
    # The uploader sees which rule sent it to review, never the values that made it true.
    assert decision["rules"] == [
        {"id": "uploads_reviewed", "outcome": "review", "reason": "upload_review"}
    ]
    assert decision["reasons"] and all(isinstance(r, str) for r in decision["reasons"])
    assert "upload_review" not in decision["reasons"]
    assert decision["next"]["appeal"]["allowed"] is False
    assert "signals" not in result and "explanation" not in decision and "queue" not in decision
    assert result["media"]["kind"] == "video" and result["media"]["duration_s"] > 5
    item_id = result["queue_item_id"]
    item = store.query_dicts("SELECT * FROM queue_items WHERE id = ?", [item_id])[0]
    assert item["priority"] == 75 and item["status"] == "open"
    assert item["due_at"] > item["created_at"]

    with live.client("moderator") as mod, live.client("admin") as admin:
        queues = mod.get("/queues").json()["queues"]
        assert queues["uploads"]["open"] >= 1
        items = mod.get("/queues/uploads").json()["items"]
        mine = next(i for i in items if i["id"] == item_id)
        evidence = mine["evidence"]
        assert evidence["clip"]["id"] == result["clip_id"]
        assert evidence["clip"]["creator"] == "adult"
        assert evidence["decision"]["rules"][0]["values"]
        assert mod.post(f"/queue-items/{item_id}/claim").status_code == 200
        # Someone else's claim cannot be taken or decided over.
        assert admin.post(f"/queue-items/{item_id}/claim").status_code == 409
        taken = admin.post(
            f"/queue-items/{item_id}/decide", json={"outcome": "takedown", "reason": "mine now"}
        )
        assert taken.status_code == 409
        no_reason = mod.post(
            f"/queue-items/{item_id}/decide", json={"outcome": "publish", "reason": ""}
        )
        assert no_reason.status_code == 422
        bad = mod.post(f"/queue-items/{item_id}/decide", json={"outcome": "delete", "reason": "x"})
        assert bad.status_code == 422
        decided = mod.post(
            f"/queue-items/{item_id}/decide",
            json={"outcome": "publish", "reason": "open movie footage, nothing harmful"},
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["clip_status"] == "published"
        again = mod.post(
            f"/queue-items/{item_id}/decide", json={"outcome": "block", "reason": "changed my mind"}
        )
        assert again.status_code == 409
        staff_view = mod.get(f"/clips/{result['clip_id']}/decisions").json()["decisions"]

    human = staff_view[0]
    assert human["decided_by"] == live.users["moderator"].id
    assert human["reason"] == "open movie footage, nothing harmful"
    assert staff_view[1]["rules"][0]["values"] == {"context.stage": "upload"}
    assert staff_view[1]["queue"] == "uploads"
    assert "signals" in staff_view[1]
    assert staff_view[1]["details"]["explanation"]["sources_run"]
    item = store.query_dicts("SELECT * FROM queue_items WHERE id = ?", [item_id])[0]
    assert item["status"] == "resolved" and json.loads(item["resolution"])["action"] == "publish"

    clip_id = result["clip_id"]
    with live.client("adult") as creator:
        clip = creator.get(f"/clips/{clip_id}").json()
        assert clip["status"] == "published"
        mine = creator.get(f"/clips/{clip_id}/decisions").json()["decisions"]
    assert [d["by"] for d in mine] == ["moderator", "policy"]
    assert mine[1]["outcome"] == "review"
    # Plain sentences for the creator; the policy's own names stay in the rules.
    assert mine[1]["reasons"] and all(" " in r for r in mine[1]["reasons"])
    assert "upload_review" not in mine[1]["reasons"]
    assert [(r["id"], r["reason"]) for r in mine[1]["rules"]] == [
        ("uploads_reviewed", "upload_review")
    ]
    assert mine[0]["moderator_reason"] == "open movie footage, nothing harmful"
    assert all("values" not in r for d in mine for r in d["rules"])
    assert all("signals" not in d and "shadow" not in d for d in mine)
    assert all("explanation" not in d and "details" not in d for d in mine)
    for other in ("teen", "rights_holder", "guardian"):
        with live.client(other) as client:
            assert client.get(f"/clips/{clip_id}").status_code == 404
            assert client.get(f"/clips/{clip_id}/decisions").status_code == 404
    events = _audit_events(live, item_id)
    assert events == ["queue_item.changed"] * 3  # opened, claimed, resolved
    assert store.verify_audit().ok


def test_prompt_check_records_a_scan_without_a_clip(live_server: LiveServer) -> None:
    live = live_server
    before = counts(live.services.store)
    with live.client("teen") as teen:
        response = teen.post("/prompt-check", json={"prompt": "a cat surfing a wave"})
        assert response.status_code == 200, response.text
        empty = teen.post("/prompt-check", json={"prompt": "   "})
        assert empty.status_code == 422
    result = response.json()
    assert result["clip_id"] is None and result["stage"] == "prompt"
    assert "signals" not in result and "scan_id" not in result
    assert "explanation" not in result["decision"]
    after = counts(live.services.store)
    assert after["clips"] == before["clips"]
    assert after["scans"] == before["scans"] + 1 and after["decisions"] == before["decisions"] + 1
    store = live.services.store
    scan_id = store.query("SELECT scan_id FROM decisions WHERE id = ?", [result["decision_id"]])
    view = json.loads(store.query("SELECT view FROM scans WHERE id = ?", [scan_id[0][0]])[0][0])
    assert view["context"]["audience"] == "teen" and view["context"]["creator"]["is_teen"]


def test_bad_media_is_refused_and_nothing_is_written(
    live_server: LiveServer, tmp_path: Path, face_image: Path
) -> None:
    live = live_server
    store = live.services.store
    live.services.pipeline.policies.ensure_default()
    before = counts(store)
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(b"this is not a video at all, just text pretending" * 20)
    truncated = tmp_path / "half.jpg"
    truncated.write_bytes(face_image.read_bytes()[:2000])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path in (garbage, truncated, empty):
        response = _scan(live, "adult", path)
        assert 400 <= response.status_code < 500, (path.name, response.text)
        assert "error" in response.json()
    with live.client("adult") as client:
        missing_file = client.post("/scan", data={"prompt": "no file"})
        assert missing_file.status_code == 422
        unknown_parent = _scan(live, "adult", face_image, parent_clip_id="clip_nope")
        assert unknown_parent.status_code == 404
    assert counts(store) == before
    leftovers = list((store.data_dir / "blobs" / "tmp").glob("*"))
    assert leftovers == []
