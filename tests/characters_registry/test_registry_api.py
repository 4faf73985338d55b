"""The characters registry through the real server: register, check, edit, remove, ownership, matches, disputes.

One server (and one MiniLM load) for the module; each test registers its own
characters under names no other test uses.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from pipeline.answers import REASON_TEXT
from tests.conftest import LiveServer

TUX_DESC = (
    "a plump black and white penguin with a yellow beak and feet, sitting, the mascot of the "
    "Linux kernel"
)


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    return shared_live_server


@pytest.fixture(scope="module")
def second_holder(live: LiveServer) -> str:
    """A token of a second rights holder, created through the API by the admin."""
    with live.client("admin") as admin:
        r = admin.post("/users", json={"handle": "studio-two", "role": "rights_holder"})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def _as(live: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=120.0
    )


def _register(client: httpx.Client, **fields: Any) -> httpx.Response:
    return client.post("/characters", json=fields)


def _check(client: httpx.Client, prompt: str) -> list[dict[str, Any]]:
    r = client.post("/characters/check", json={"prompt": prompt})
    assert r.status_code == 200, r.text
    return list(r.json()["matches"])


def _audit_rows(live: LiveServer) -> int:
    return int(live.services.store.query("SELECT count(*) FROM audit_log")[0][0])


def test_register_defaults_to_block_and_takes_effect_without_restart(live: LiveServer) -> None:
    with live.client("rights_holder") as rh, live.client("adult") as adult:
        assert not [
            m for m in _check(adult, "Captain Comet saves the city") if m["name"] == "Captain Comet"
        ]
        r = _register(
            rh,
            name="Captain Comet",
            aliases=["Capt. Comet", "Kapitan Kometa"],
            description="a red-caped superhero with a glowing comet on his chest",
        )
        assert r.status_code == 201, r.text
        doc = r.json()
        assert doc["policy"] == "block"  # opt-in: nothing is allowed until the holder says so
        cid = doc["id"]

        hits = [
            m for m in _check(adult, "Captain Comet saves the city") if m["character_id"] == cid
        ]
        assert hits and hits[0]["backend"] == "prompt.name"
        assert hits[0]["policy"] == "block"
        assert hits[0]["evidence"]["matched_text"].lower() == "captain comet"
        assert hits[0]["score"] >= hits[0]["threshold"]
        # An alias, misspelt, is found too.
        assert any(m["character_id"] == cid for m in _check(adult, "kapitan kometta in space"))

        r = rh.patch(f"/characters/{cid}", json={"policy": "allow", "aliases": ["Comet Man"]})
        assert r.status_code == 200, r.text
        assert r.json()["changes"]["policy"] == ["block", "allow"]
        hits = [m for m in _check(adult, "Comet Man at the beach") if m["character_id"] == cid]
        assert hits and hits[0]["policy"] == "allow"
        assert not any(m["character_id"] == cid for m in _check(adult, "Kapitan Kometa waves"))

        assert rh.delete(f"/characters/{cid}").status_code == 200
        assert not any(
            m["character_id"] == cid for m in _check(adult, "Captain Comet saves the city")
        )
        assert rh.get(f"/characters/{cid}").status_code == 404


def test_description_without_name_matches(live: LiveServer) -> None:
    with live.client("rights_holder") as rh, live.client("teen") as teen:
        r = _register(rh, name="Tux Registry Test", description=TUX_DESC)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        hits = _check(
            teen,
            "a plump black and white penguin with a yellow beak, the Linux mascot, on a laptop",
        )
        mine = [m for m in hits if m["character_id"] == cid]
        assert mine and mine[0]["backend"] == "prompt.semantic"
        assert mine[0]["evidence"]["description"] == TUX_DESC
        assert mine[0]["explanation"]["model_id"]
        rh.delete(f"/characters/{cid}")


def test_multipart_registration_with_refs_matches_the_image(
    live: LiveServer, fixtures_dir: Path
) -> None:
    ferris = fixtures_dir / "characters" / "ferris" / "rustacean-flat-happy.png"
    with live.client("rights_holder") as rh, live.client("adult") as adult:
        r = rh.post(
            "/characters",
            data={
                "name": "Ferris Registry Test",
                "aliases": ["Crab Registry Test"],
                "policy": "review",
            },
            files=[("refs", (ferris.name, ferris.read_bytes(), "image/png"))],
        )
        assert r.status_code == 201, r.text
        doc = r.json()
        assert doc["policy"] == "review" and len(doc["refs"]) == 1
        assert doc["aliases"] == ["Crab Registry Test"]
        r = adult.post(
            "/characters/check", files={"file": (ferris.name, ferris.read_bytes(), "image/png")}
        )
        assert r.status_code == 200, r.text
        mine = [m for m in r.json()["matches"] if m["character_id"] == doc["id"]]
        assert mine and mine[0]["backend"].startswith("image.copy")
        assert mine[0]["source"] == "image"
        rh.delete(f"/characters/{doc['id']}")


def test_non_image_ref_is_refused_and_nothing_is_written(
    live: LiveServer, fixtures_dir: Path
) -> None:
    good = fixtures_dir / "characters" / "tux" / "tux_boot.png"
    before = _audit_rows(live)
    blobs_before = live.services.store.query("SELECT count(*) FROM blobs")[0][0]
    with live.client("rights_holder") as rh:
        r = rh.post(
            "/characters",
            data={"name": "Half Written Hero"},
            files=[
                ("refs", (good.name, good.read_bytes(), "image/png")),
                ("refs", ("notes.png", b"this is a text file, not a picture", "image/png")),
            ],
        )
        assert r.status_code == 422, r.text
        assert "not an image" in r.json()["error"]
        listed = rh.get("/characters").json()["characters"]
        assert not any(c["name"] == "Half Written Hero" for c in listed)
        # A JSON registration, then a bad ref upload: the character keeps no refs.
        cid = _register(rh, name="Refless Hero").json()["id"]
        r = rh.post(
            f"/characters/{cid}/refs",
            files=[("refs", ("x.jpg", b"\xff\xd8\xff\xe0 truncated jpeg", "image/jpeg"))],
        )
        assert r.status_code == 422, r.text
        assert rh.get(f"/characters/{cid}").json()["refs"] == []
        rh.delete(f"/characters/{cid}")
    assert live.services.store.query("SELECT count(*) FROM blobs")[0][0] == blobs_before
    # Only the Refless Hero's registration and removal were audited.
    assert _audit_rows(live) == before + 2


def test_ownership_isolation(live: LiveServer, second_holder: str) -> None:
    with live.client("rights_holder") as rh, _as(live, second_holder) as other:
        cid = _register(rh, name="Private Pangolin").json()["id"]
        for method, path, body in [
            ("GET", f"/characters/{cid}", None),
            ("PATCH", f"/characters/{cid}", {"policy": "allow"}),
            ("DELETE", f"/characters/{cid}", None),
            ("GET", f"/characters/{cid}/matches", None),
            ("POST", "/disputes", {"character_id": cid, "clip_id": "x", "message": "mine"}),
        ]:
            r = other.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert "Private Pangolin" not in r.text
        assert not any(c["id"] == cid for c in other.get("/characters").json()["characters"])
        assert rh.get(f"/characters/{cid}").json()["policy"] == "block"
    with live.client("moderator") as mod, live.client("adult") as adult:
        assert any(c["id"] == cid for c in mod.get("/characters").json()["characters"])
        assert mod.patch(f"/characters/{cid}", json={"policy": "allow"}).status_code == 403
        assert adult.get(f"/characters/{cid}").status_code == 403


def test_duplicate_registrations(live: LiveServer, second_holder: str) -> None:
    with live.client("rights_holder") as rh, _as(live, second_holder) as other:
        cid = _register(rh, name="Moon Cat", aliases=["Lunar Kitty"]).json()["id"]
        r = _register(rh, name="moon-cat")
        assert r.status_code == 409 and cid in r.json()["error"]
        r = _register(rh, name="Lunar Kitty")
        assert r.status_code == 409
        r = _register(other, name="MOON CAT")
        assert r.status_code == 409
        assert "another rights holder" in r.json()["error"] and cid not in r.json()["error"]
        r = _register(other, name="Sun Dog", aliases=["Moon Cat"])
        assert r.status_code == 409
        # After removal the name is free again.
        rh.delete(f"/characters/{cid}")
        r = _register(other, name="Moon Cat")
        assert r.status_code == 201, r.text


def test_bad_fields_are_clear_422s(live: LiveServer) -> None:
    with live.client("rights_holder") as rh, live.client("adult") as adult:
        assert _register(rh, name="Bad Policy", policy="sometimes").status_code == 422
        assert _register(rh, name="   ").status_code == 422
        assert _register(rh, name="Ctrl\x07Char").status_code == 422
        assert _register(rh, name="x" * 500).status_code == 422
        assert adult.post("/characters/check", json={"prompt": "\u200b\u200b"}).status_code == 422
        r = adult.post("/characters/check", json={"prompt": "a" * 5000})
        assert r.status_code == 422 and "limit" in r.json()["error"]


def test_matches_visible_to_owner_with_evidence_and_dispute_opens_queue_item(
    live: LiveServer, second_holder: str
) -> None:
    with live.client("rights_holder") as rh, live.client("adult") as adult:
        cid = _register(rh, name="Sir Widget", description="a tin robot knight").json()["id"]
        r = adult.post("/prompt-check", json={"prompt": "Sir Widget fighting a dragon"})
        assert r.status_code == 200, r.text
        gate = r.json()
        assert gate["decision"]["outcome"] == "block"
        assert "character_blocked" in [x["id"] for x in gate["decision"]["rules"]]

        r = rh.get(f"/characters/{cid}/matches")
        assert r.status_code == 200, r.text
        matches = r.json()["matches"]
        assert len(matches) == 1
        m = matches[0]
        assert m["decision_id"] == gate["decision_id"] and m["outcome"] == "block"
        assert m["evidence"]["matched_text"].lower() == "sir widget" and m["policy"] == "block"
        assert m["stage"] == "prompt" and "creator" not in m
        assert any(
            x["character_id"] == cid for x in rh.get("/characters/matches").json()["matches"]
        )
    with _as(live, second_holder) as other:
        assert not any(
            x["character_id"] == cid for x in other.get("/characters/matches").json()["matches"]
        )

    with live.client("rights_holder") as rh, live.client("moderator") as mod:
        r = rh.post(
            "/disputes",
            json={
                "character_id": cid,
                "decision_id": gate["decision_id"],
                "message": "licensed use",
            },
        )
        assert r.status_code == 201, r.text
        dispute = r.json()
        assert dispute["matched"] is True and dispute["queue"] == "rights_disputes"
        items = mod.get("/queues/rights_disputes").json()["items"]
        item = next(i for i in items if i["id"] == dispute["queue_item_id"])
        assert item["status"] == "open" and item["due_at"] is not None
        assert item["decision_id"] == gate["decision_id"]
        assert any(d["id"] == dispute["id"] for d in rh.get("/disputes").json()["disputes"])
        r = rh.post("/disputes", json={"character_id": cid, "message": "no target"})
        assert r.status_code == 422
    assert live.services.store.verify_audit().ok


def test_gate_scan_of_a_copy_carries_the_character_and_its_policy(
    live: LiveServer, fixtures_dir: Path
) -> None:
    """The service as the gate's source: a keyframe match becomes a signal and the policy decides."""
    tux = fixtures_dir / "characters" / "tux" / "tux_speech.png"
    with live.client("rights_holder") as rh:
        r = rh.post(
            "/characters",
            data={"name": "Tux Gate Test", "policy": "review"},
            files=[("refs", (tux.name, tux.read_bytes(), "image/png"))],
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
    # A re-encoded, resized copy, as an upload would be.
    img = Image.open(tux).convert("RGB")
    img = img.resize((img.width * 2 // 3, img.height * 2 // 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=60)
    with live.client("adult") as adult:
        r = adult.post("/scan", files={"file": ("tux.jpg", buf.getvalue(), "image/jpeg")})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["decision"]["outcome"] == "review"
    assert "character_needs_review" in [x["id"] for x in result["decision"]["rules"]]
    # The uploader reads the rule in plain words; the match itself is staff evidence.
    assert "character_review" in result["decision"]["reason_codes"]
    assert REASON_TEXT["character_review"] in result["decision"]["reasons"]
    assert "signals" not in result and "explanation" not in result["decision"]
    assert cid not in json.dumps(result)
    with live.client("moderator") as mod:
        decisions = mod.get(f"/clips/{result['clip_id']}/decisions").json()["decisions"]
    assert [d["id"] for d in decisions] == [result["decision_id"]]
    signals = decisions[0]["signals"]
    sigs = [s for s in signals if s["kind"] == "character.match" and s["character_id"] == cid]
    assert sigs, signals
    assert sigs[0]["found_in"] == "image" and sigs[0]["policy"] == "review"
    assert sigs[0]["explanation"]["model_id"].startswith("greenroom-copy-detect")
    with live.client("rights_holder") as rh:
        m = rh.get(f"/characters/{cid}/matches").json()["matches"]
        assert m and m[0]["clip_id"] == result["clip_id"] and m[0]["source"] == "image"
