"""A prompt the policy blocks makes no clip: no generation, no media, no signature.

Real path: a rights holder registers a character with policy ``block``; the
prompt gate's character source finds its name in the prompt and the default
policy's ``character_blocked`` rule blocks it.
"""

from __future__ import annotations

from tests.conftest import LiveServer


def test_blocked_prompt_makes_no_clip(live_server: LiveServer) -> None:
    ctx = live_server.services.pipeline
    holder = live_server.users["rights_holder"]
    ctx.characters.register(
        holder, holder, name="Captain Zephyrine", aliases=["Zephyrine"], policy="block"
    )
    store = live_server.services.store
    clips_before = store.query("SELECT count(*) FROM clips")[0][0]
    blobs_before = store.query("SELECT count(*) FROM blobs")[0][0]
    with live_server.client("adult") as c:
        r = c.post("/generate", json={"prompt": "Captain Zephyrine duels a dragon at sea"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["clip_id"] is None
    assert doc["manifest_id"] is None and doc["status"] is None
    assert doc["decision"]["outcome"] == "block"
    assert doc["decision"]["stage"] == "prompt"
    assert "character_blocked" in [rule["id"] for rule in doc["decision"]["rules"]]
    # The requester sees why, not the shadow policy under evaluation.
    assert "shadow" not in doc["decision"]
    assert store.query("SELECT count(*) FROM clips")[0][0] == clips_before
    assert store.query("SELECT count(*) FROM blobs")[0][0] == blobs_before
    assert store.query("SELECT count(*) FROM clip_fingerprints")[0][0] == 0
    # The blocked prompt is on record as a decision with no clip.
    row = store.query("SELECT outcome, clip_id FROM decisions WHERE id = ?", [doc["decision_id"]])
    assert row == [("block", None)]
    # The generator was never loaded for it.
    assert ctx.generation._generator is None
