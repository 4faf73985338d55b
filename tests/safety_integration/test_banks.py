"""Hash banks through the real server: create, add, export → import round trip, bad files, re-uploads.

Real server on loopback, real data directory, real PDQ hashing of fixture
media; the gate runs every source (real models) on the image scans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from detectors.hashing import pdq_hash, sha256_file
from pipeline.media import load_image
from tests.conftest import LiveServer
from tests.safety_integration.conftest import reencode_image, reencode_video

IMAGE = "faces/face_recognition/biden.jpg"
# A bank name no plain-words reason contains: it must never reach the uploader.
BANK = "vault-q7"


def _entries(fixtures_dir: Path) -> list[dict[str, object]]:
    img = fixtures_dir / IMAGE
    h = pdq_hash(load_image(img))
    return [
        {"hash": sha256_file(img), "kind": "sha256", "label": "test sha", "severity": "high"},
        {"hash": h.hex, "kind": "pdq", "label": "test pdq", "severity": "critical",
         "quality": h.quality},
    ]  # fmt: skip


def _bank(live: LiveServer, name: str) -> dict[str, object] | None:
    with live.client("moderator") as c:
        banks = c.get("/banks").json()["banks"]
    return next((b for b in banks if b["name"] == name), None)


def test_export_import_round_trip(shared_live_server: LiveServer, fixtures_dir: Path) -> None:
    live = shared_live_server
    with live.client("moderator") as c:
        r = c.post("/banks", json={"name": "rt-src", "description": "d", "category": "sexual"})
        assert r.status_code == 201, r.text
        r = c.post("/banks/rt-src/entries", json={"entries": _entries(fixtures_dir)})
        assert r.status_code == 200, r.text
        assert (r.json()["added"], r.json()["skipped"]) == (2, 0)
        # The same hashes again are skipped, not duplicated.
        r = c.post("/banks/rt-src/entries", json={"entries": _entries(fixtures_dir)})
        assert (r.json()["added"], r.json()["skipped"]) == (0, 2)
        exported = c.get("/banks/rt-src/export")
        assert exported.status_code == 200
        text = exported.text
        header = json.loads(text.splitlines()[0])
        assert header["format"] == "greenroom-hashbank" and header["entries"] == 2
        assert header["category"] == "sexual"
        r = c.post("/banks/rt-copy/import", files={"file": ("b.jsonl", text.encode())})
        assert r.status_code == 200, r.text
        assert r.json()["created"] is True and r.json()["added"] == 2
        again = c.get("/banks/rt-copy/export").text

    def rows(t: str) -> set[tuple[str, str, str, str]]:
        return {
            (e["kind"], e["hash"], e["label"], e["severity"])
            for e in map(json.loads, t.splitlines()[1:])
        }

    assert rows(again) == rows(text)
    copy = _bank(live, "rt-copy")
    assert copy is not None and copy["category"] == "sexual" and copy["entries"] == 2


@pytest.mark.parametrize(
    "mutate",
    [
        lambda lines: lines[:-1],  # truncated: header promises one more entry
        lambda lines: [ln.replace('"kind": "pdq"', '"kind": "md5"') for ln in lines],
        lambda lines: [lines[0], "{not json", *lines[2:]],
        lambda lines: [lines[0].replace("greenroom-hashbank", "other"), *lines[1:]],
    ],
    ids=["truncated", "bad-kind", "bad-json", "bad-format"],
)
def test_invalid_bank_file_is_refused_whole(
    shared_live_server: LiveServer, fixtures_dir: Path, mutate: object
) -> None:
    live = shared_live_server
    with live.client("admin") as c:
        if _bank(live, "bad-src") is None:
            c.post("/banks", json={"name": "bad-src"})
            c.post("/banks/bad-src/entries", json={"entries": _entries(fixtures_dir)})
        lines = c.get("/banks/bad-src/export").text.splitlines()
        bad = "\n".join(mutate(lines)) + "\n"  # type: ignore[operator]
        r = c.post("/banks/bad-dst/import", files={"file": ("b.jsonl", bad.encode())})
        assert r.status_code == 422, r.text
        assert "invalid bank file" in r.json()["error"]
        # Into an existing bank: nothing of the file lands either.
        before = _bank(live, "bad-src")
        r = c.post("/banks/bad-src/import", files={"file": ("b.jsonl", bad.encode())})
        assert r.status_code == 422
    assert _bank(live, "bad-dst") is None
    assert _bank(live, "bad-src") == before


def test_bad_requests(shared_live_server: LiveServer) -> None:
    with shared_live_server.client("moderator") as c:
        assert c.post("/banks", json={"name": "bad name!"}).status_code == 422
        assert c.post("/banks", json={"name": "cat", "category": "sexaul"}).status_code == 422
        c.post("/banks", json={"name": "dup"})
        assert c.post("/banks", json={"name": "dup"}).status_code == 409
        assert c.get("/banks/nope/export").status_code == 404
        r = c.post("/banks/dup/entries", json={"entries": [
            {"hash": "ab" * 32, "kind": "pdq", "label": "x", "severity": "extreme"}]})  # fmt: skip
        assert r.status_code == 422
        r = c.post("/banks/dup/import", files={"file": ("b.jsonl", b"\xff\xfe\x00")})
        assert r.status_code == 422
        assert c.post("/banks/dup/entries", json={"clip_id": "no-such-clip"}).status_code == 404


def _staff_signals(mod: httpx.Client, clip_id: str) -> list[dict[str, Any]]:
    """The signals of a clip's latest decision, as a moderator sees them."""
    decisions = mod.get(f"/clips/{clip_id}/decisions").json()["decisions"]
    return list(decisions[0]["signals"])


def test_banked_clip_matches_reupload_through_the_gate(
    live_server: LiveServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    """Upload → bank the clip (staff) → a re-encoded re-upload is blocked and queued;
    the moderator's decision on it banks that one too (ReviewService → add_clip)."""
    live = live_server
    image = fixtures_dir / IMAGE
    with live.client("moderator") as mod, live.client("adult") as adult:
        assert mod.post("/banks", json={"name": BANK, "category": "violence"}).status_code == 201
        assert mod.post("/banks", json={"name": "second"}).status_code == 201
        with image.open("rb") as f:
            first = adult.post("/scan", files={"file": ("a.jpg", f, "image/jpeg")})
        assert first.status_code == 200, first.text
        assert "signals" not in first.json()  # evidence is for staff
        clip_id = first.json()["clip_id"]
        assert not [s for s in _staff_signals(mod, clip_id) if s["kind"] == "hash.match"]
        r = mod.post(f"/banks/{BANK}/entries", json={"clip_id": clip_id, "label": "severe"})
        assert r.status_code == 200 and r.json()["added"] >= 2, r.text

        copy = reencode_image(image, tmp_path / "copy.jpg")
        with copy.open("rb") as f:
            second = adult.post("/scan", files={"file": ("b.jpg", f, "image/jpeg")})
        doc = second.json()
        assert doc["decision"]["outcome"] == "block"
        assert "hash_bank_match" in [r["id"] for r in doc["decision"]["rules"]]
        item = doc["queue_item_id"]
        assert item
        # The uploader sees the outcome, rule ids and plain reasons, not the bank's evidence.
        assert "signals" not in doc and "explanation" not in doc["decision"]
        assert "hash_bank_match" in doc["decision"]["reason_codes"]
        shown = json.dumps(doc)
        assert BANK not in shown and "severe" not in shown and "violence" not in shown
        assert clip_id not in shown  # nor which clip it matched
        mine = adult.get(f"/clips/{doc['clip_id']}/decisions").json()
        assert BANK not in json.dumps(mine)
        # Staff see which bank matched, how closely, and which banked clip it was.
        recorded = mod.get(f"/clips/{doc['clip_id']}/decisions").json()["decisions"][0]
        hits = [s for s in recorded["signals"] if s["kind"] == "hash.match"]
        assert hits and {h["bank"] for h in hits} == {BANK}, recorded["details"]
        assert all(h["hash_kind"] == "pdq" and h["distance"] <= h["threshold"] for h in hits)
        assert hits[0]["source_clip_id"] == clip_id and hits[0]["category"] == "violence"
        assert hits[0]["explanation"]["model_id"] == "pdq-256"

        r = mod.post(
            f"/queue-items/{item}/decide",
            json={"outcome": "block", "reason": "known bad re-upload", "add_to_bank": "second"},
        )
        assert r.status_code == 200, r.text
        second_bank = _bank(live, "second")
        assert second_bank is not None and second_bank["entries"] >= 2
        # A missing bank rolls the whole decision back.
        third = adult.post("/scan", files={"file": ("c.jpg", copy.read_bytes(), "image/jpeg")})
        item3 = third.json()["queue_item_id"]
        r = mod.post(
            f"/queue-items/{item3}/decide",
            json={"outcome": "block", "reason": "x", "add_to_bank": "no-such-bank"},
        )
        assert r.status_code in (404, 422)
        assert mod.get(f"/queue-items/{item3}").json()["status"] != "resolved"

    with live.client("admin") as admin:
        events = [e["event"] for e in admin.get("/audit", params={"limit": 1000}).json()["events"]]
    assert "hash_bank.created" in events and "hash_bank.entries_added" in events


def test_reencoded_video_matches_and_indexes_agree(
    shared_live_server: LiveServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    """A banked video's H.264 re-encode at half size matches; fast index == brute force."""
    banks = shared_live_server.services.pipeline.banks
    video = fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"
    other = fixtures_dir / "videos" / "liveportrait_s18_woman.mp4"
    banks.create_bank("videos")
    added = banks.add_media("videos", video, "test video")
    assert added["added"] > 1
    copy = reencode_video(video, tmp_path / "copy.mp4")
    hashed = banks.hash_media(copy, crops=(0.0,))
    fast = banks.match(hashed["sha256"], hashed["pdq"])
    brute = banks.match(hashed["sha256"], hashed["pdq"], brute_force=True)
    assert fast and [h.to_dict() for h in fast] == [h.to_dict() for h in brute]
    assert all(h.bank == "videos" and h.kind == "pdq" for h in fast)
    unrelated = banks.hash_media(other, crops=(0.0,))
    assert not banks.match(unrelated["sha256"], unrelated["pdq"])
    assert not banks.match(unrelated["sha256"], unrelated["pdq"], brute_force=True)


def test_lookup_answers_each_hash_and_agrees_with_brute_force(
    shared_live_server: LiveServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    """``POST /banks/lookup``: sha256 exactly, PDQ within the threshold (a re-encoded copy),
    nothing for a stranger; the multi-index answers equal the brute-force reference."""
    live = shared_live_server
    with live.client("moderator") as c:
        assert c.post("/banks", json={"name": "lk"}).status_code == 201
        assert (
            c.post("/banks/lk/entries", json={"entries": _entries(fixtures_dir)}).status_code == 200
        )
    copy = reencode_image(fixtures_dir / IMAGE, tmp_path / "copy.jpg")
    copy_pdq = pdq_hash(load_image(copy)).hex
    stranger = pdq_hash(load_image(fixtures_dir / "characters" / "tux" / "tux_boot.png")).hex
    sha = sha256_file(fixtures_dir / IMAGE)
    with live.client("moderator") as c:
        r = c.post("/banks/lookup", json={"sha256": [sha.upper()], "pdq": [copy_pdq, stranger]})
    assert r.status_code == 200, r.text
    body = r.json()
    first, near, far = body["results"]
    assert first["kind"] == "sha256" and first["hash"] == sha
    assert [m["bank"] for m in first["matches"]].count("lk") == 1
    near_lk = [m for m in near["matches"] if m["bank"] == "lk"]
    assert len(near_lk) == 1 and 0 < near_lk[0]["distance"] <= body["pdq_threshold"]
    assert near_lk[0]["severity"] == "critical"
    assert not [m for m in far["matches"] if m["bank"] == "lk"]

    # The fast index against the brute-force reference, on the copy and on random hashes.
    import random

    rng = random.Random(7)
    probes = [copy_pdq, stranger] + [f"{rng.getrandbits(256):064x}" for _ in range(50)]
    banks = live.services.pipeline.banks
    assert banks.lookup([], probes) == banks.lookup([], probes, brute_force=True)


def test_lookup_refuses_bad_input(shared_live_server: LiveServer) -> None:
    with shared_live_server.client("moderator") as c:
        assert c.post("/banks/lookup", json={}).status_code == 422
        assert c.post("/banks/lookup", json={"pdq": ["xyz"]}).status_code == 422
        assert c.post("/banks/lookup", json={"sha256": ["ab" * 31]}).status_code == 422
        assert c.post("/banks/lookup", json={"pdq": ["ab" * 32] * 1001}).status_code == 422
    with shared_live_server.client("adult") as c:
        assert c.post("/banks/lookup", json={"pdq": ["ab" * 32]}).status_code == 403
