"""Remixes are judged with their parent, and answers never tell an ordinary user who is in a clip.

On a live server: a clip published before a character was registered cannot
be remixed once the rights holder blocks that character; a parent the
remixer cannot see is refused at every door exactly like a missing one; an
uploader's answers carry no identity, bank or lexicon detail while staff see
the evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.slow

CHARACTER = "Captain Doorstop"


def _post(client: httpx.Client, url: str, path: Path, **form: str) -> httpx.Response:
    with path.open("rb") as handle:
        return client.post(url, files={"file": (path.name, handle)}, data=form)


def _published_clip(live: LiveServer, who: str, path: Path, prompt: str) -> dict[str, Any]:
    with live.client(who) as client:
        posted = _post(client, "/clips", path, prompt=prompt)
    assert posted.status_code == 200, posted.text
    doc = posted.json()
    assert doc["status"] == "published", doc
    return doc  # type: ignore[no-any-return]


def test_parent_prompt_rejudged_against_todays_characters(
    live_server: LiveServer, face_image: Path, fixtures_dir: Path
) -> None:
    live = live_server
    # No real person in it: photos of real people are held for review, cartoons go live.
    # (bbb_bunny_03: YuNet, the default detector, finds no "face" in it; in 01 and 02 it
    # finds unsure ones, which are held.)
    scene = fixtures_dir / "characters" / "big_buck_bunny" / "bbb_bunny_03.jpg"
    parent = _published_clip(live, "adult", scene, f"{CHARACTER} waves at the beach")
    # The rights holder registers the character after the parent went live (policy block).
    with live.client("rights_holder") as rh:
        made = rh.post("/characters", json={"name": CHARACTER, "policy": "block"})
    assert made.status_code == 201, made.text
    with live.client("guardian") as remixer:
        remix = _post(
            remixer, f"/clips/{parent['clip_id']}/remix", scene, prompt="same scene, at dusk"
        )
    assert remix.status_code == 200, remix.text
    doc = remix.json()
    assert doc["status"] != "published" and doc["decision"]["outcome"] == "block", doc
    assert "character_blocked" in doc["decision"]["reason_codes"]
    # The remixer is told why in words, not which rights holder or which character id.
    assert made.json()["id"] not in json.dumps(doc)
    # Staff see the evidence: a character match found through the parent's prompt.
    with live.client("moderator") as mod:
        decisions = mod.get(f"/clips/{doc['clip_id']}/decisions").json()["decisions"]
    signals = decisions[0]["signals"]
    via = [s for s in signals if s["kind"] == "character.match" and s.get("via_parent")]
    assert via and via[0]["via_parent"] == parent["clip_id"]
    assert via[0]["found_in"] == "prompt"
    # The same text in a new upload's own prompt is blocked too (today's registry).
    with live.client("guardian") as remixer:
        fresh = _post(remixer, "/scan", face_image, prompt=f"{CHARACTER} again")
    assert fresh.json()["decision"]["outcome"] == "block"


def test_hidden_or_dead_parent_refused_at_every_door(
    live_server: LiveServer, face_image: Path
) -> None:
    live = live_server
    # A clip held for review: its creator sees it, nobody else does.
    with live.client("adult") as adult:
        held = _post(adult, "/scan", face_image, prompt="a portrait").json()
    clip_id = held["clip_id"]
    with live.client("moderator") as mod:
        item = held["queue_item_id"]
        if item is None:
            item = mod.post(f"/clips/{clip_id}/report", json={"reason": "violence"}).json()[
                "queue_item_id"
            ]
        blocked = mod.post(
            f"/queue-items/{item}/decide", json={"outcome": "block", "reason": "test"}
        )
    assert blocked.status_code == 200, blocked.text
    missing = "clip_doesnotexist00"
    with live.client("guardian") as other:
        answers = {
            "remix": _post(other, f"/clips/{clip_id}/remix", face_image).status_code,
            "scan": _post(other, "/scan", face_image, parent_clip_id=clip_id).status_code,
            "prompt": other.post(
                "/prompt-check", json={"prompt": "a remix", "parent_clip_id": clip_id}
            ).status_code,
            "missing": _post(other, f"/clips/{missing}/remix", face_image).status_code,
        }
    # Someone else's blocked clip answers exactly like a clip that does not exist.
    assert answers == {"remix": 404, "scan": 404, "prompt": 404, "missing": 404}
    with live.client("adult") as owner:
        own = _post(owner, f"/clips/{clip_id}/remix", face_image)
        own_scan = _post(owner, "/scan", face_image, parent_clip_id=clip_id)
    # The creator sees their clip but cannot give a blocked clip a second life.
    assert own.status_code == 409 and own_scan.status_code == 409
    # ... and learns that a moderator decided, not which one.
    with live.client("adult") as owner:
        mine = owner.get(f"/clips/{clip_id}")
        decisions = owner.get(f"/clips/{clip_id}/decisions")
    assert mine.json()["latest_decision"]["by"] == "moderator"
    for response in (mine, decisions):
        assert live.users["moderator"].id not in response.text
    before = live.services.store.query("SELECT count(*) FROM clips")[0][0]
    assert before == 1  # no refused remix left a clip behind


def test_uploader_answers_reveal_nobody(live_server: LiveServer, fixtures_dir: Path) -> None:
    live = live_server
    photos = [fixtures_dir / "faces" / "deepface" / n for n in ("img1.jpg", "img2.jpg")]
    with live.client("admin") as admin:
        files = [("photos", (p.name, p.read_bytes())) for p in photos]
        protected = admin.post("/likeness/protected", files=files, data={"name": "A Public Figure"})
    assert protected.status_code in (200, 201), protected.text
    pid = protected.json()["id"]
    probe = fixtures_dir / "faces" / "deepface" / "img4.jpg"
    with live.client("adult") as adult:
        scanned = _post(adult, "/scan", probe, prompt="a graphic beheading, gore everywhere")
        checked = adult.post("/prompt-check", json={"prompt": "a graphic beheading, gore"})
        mine = adult.get(f"/clips/{scanned.json()['clip_id']}/decisions")
        clip = adult.get(f"/clips/{scanned.json()['clip_id']}")
    for response in (scanned, checked, mine, clip):
        assert response.status_code == 200, response.text
        text = response.text
        # The clip page shows the uploader's own prompt back; nothing else may name the term.
        own_words = ("beheading",) if response is clip else ()
        for secret in (pid, "A Public Figure", "beheading", "similarity", "threshold"):
            if secret not in own_words:
                assert secret not in text, (secret, text[:500])
        assert '"signals"' not in text and '"explanation"' not in text
    doc = scanned.json()
    assert doc["decision"]["outcome"] in ("review", "block")
    assert doc["decision"]["reasons"], doc
    # Staff see who it is and why.
    with live.client("moderator") as mod:
        staff = mod.get(f"/clips/{doc['clip_id']}/decisions").json()["decisions"][0]
    likeness = [s for s in staff["signals"] if s["kind"] == "likeness.match"]
    assert likeness and likeness[0]["cameo_id"] == pid and likeness[0]["name"] == "A Public Figure"
