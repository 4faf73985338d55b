"""Attribution on feed items and the clip view, on a real server with the real gate.

A rights holder registers a character allowed with attribution, with their
own attribution text. A clip whose prompt names the character is labelled by
the shipped ``character_attribution`` rule; its feed item (and its clip view)
carries ``attribution: [{character_id, name, text}]`` with the holder's
current text, and any other clip carries ``[]``. One server for the module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store.blobs import BlobStore
from store.characters import MAX_ATTRIBUTION_CHARS, Characters
from store.db import Store, load_migrations, now
from tests.conftest import LiveServer

HOLDER_TEXT = "Captain Lumen appears courtesy of Lighthouse Pictures."


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    return shared_live_server


def _post(live: LiveServer, who: str, image: Path, prompt: str) -> dict[str, Any]:
    with live.client(who) as client:
        r = client.post(
            "/clips", files={"file": (image.name, image.read_bytes())}, data={"prompt": prompt}
        )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _feed_items(live: LiveServer, who: str) -> dict[str, dict[str, Any]]:
    with live.client(who) as client:
        r = client.get("/feed", params={"limit": 100})
    assert r.status_code == 200, r.text
    return {it["clip_id"]: it for it in r.json()["items"]}


@pytest.fixture(scope="module")
def clips(live: LiveServer, fixtures_dir: Path) -> dict[str, str]:
    """The character (allowed with attribution), a clip naming it and a clip without one."""
    bunny = fixtures_dir / "characters" / "big_buck_bunny"
    with live.client("rights_holder") as rh:
        r = rh.post(
            "/characters",
            json={
                "name": "Captain Lumen",
                "description": "a lighthouse keeper who flies with a lantern",
                "policy": "allow_with_attribution",
                "attribution": f"  {HOLDER_TEXT}  ",
            },
        )
    assert r.status_code == 201, r.text
    character = r.json()
    assert character["attribution"] == HOLDER_TEXT and not character["attribution_is_default"]
    labelled = _post(
        live, "adult", bunny / "bbb_bunny_03.jpg", "Captain Lumen flies over the harbour at dusk"
    )
    assert labelled["status"] == "published", labelled
    plain = _post(live, "adult", bunny / "bbb_bunny_04.jpg", "a meadow with butterflies")
    assert plain["status"] == "published", plain
    return {
        "character": character["id"],
        "labelled": labelled["clip_id"],
        "plain": plain["clip_id"],
    }


def test_a_labelled_clip_carries_the_holders_attribution_in_the_feed(
    live: LiveServer, clips: dict[str, str]
) -> None:
    # The decision is the record: the attribution rule fired on the labelled clip.
    with live.client("moderator") as mod:
        decisions = mod.get(f"/clips/{clips['labelled']}/decisions").json()["decisions"]
    assert "character_attribution" in [r["id"] for r in decisions[0]["rules"]]
    items = _feed_items(live, "guardian")
    assert items[clips["labelled"]]["attribution"] == [
        {"character_id": clips["character"], "name": "Captain Lumen", "text": HOLDER_TEXT}
    ]
    assert items[clips["plain"]]["attribution"] == []
    # Every item has the key, attributed or not.
    assert all(isinstance(it["attribution"], list) for it in items.values())


def test_the_clip_view_carries_the_same_attribution(
    live: LiveServer, clips: dict[str, str]
) -> None:
    expected = [{"character_id": clips["character"], "name": "Captain Lumen", "text": HOLDER_TEXT}]
    with live.client("adult") as creator:
        assert creator.get(f"/clips/{clips['labelled']}").json()["attribution"] == expected
        assert creator.get(f"/clips/{clips['plain']}").json()["attribution"] == []
    with live.client("moderator") as mod:
        assert mod.get(f"/clips/{clips['labelled']}").json()["attribution"] == expected


def test_updating_the_attribution_changes_what_the_feed_shows(
    live: LiveServer, clips: dict[str, str]
) -> None:
    cid = clips["character"]
    audit_before = live.services.store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'character.updated' AND subject_id = ?",
        [cid],
    )[0][0]
    new_text = "Captain Lumen (c) Lighthouse Pictures 2026 - all rights reserved."
    with live.client("rights_holder") as rh:
        r = rh.patch(f"/characters/{cid}", json={"attribution": new_text})
        assert r.status_code == 200, r.text
        assert r.json()["changes"] == {"attribution": [HOLDER_TEXT, new_text]}
        assert _feed_items(live, "guardian")[clips["labelled"]]["attribution"][0]["text"] == (
            new_text
        )

        # Empty text goes back to the default sentence, naming the rights holder.
        r = rh.patch(f"/characters/{cid}", json={"attribution": ""})
        assert r.status_code == 200, r.text
        default = "Captain Lumen © @rights-holder, used with permission."
        assert r.json()["attribution"] == default and r.json()["attribution_is_default"]
        assert _feed_items(live, "guardian")[clips["labelled"]]["attribution"][0]["text"] == (
            default
        )

        # Bad text: a clear 422, nothing changed.
        too_long = rh.patch(
            f"/characters/{cid}", json={"attribution": "x" * (MAX_ATTRIBUTION_CHARS + 1)}
        )
        assert too_long.status_code == 422 and "attribution" in too_long.text
        control = rh.patch(f"/characters/{cid}", json={"attribution": "bad\x07bell"})
        assert control.status_code == 422 and "control" in control.text

        # Back to the holder's own text.
        r = rh.patch(f"/characters/{cid}", json={"attribution": HOLDER_TEXT})
        assert r.status_code == 200 and r.json()["attribution"] == HOLDER_TEXT
        assert rh.get(f"/characters/{cid}").json()["attribution"] == HOLDER_TEXT
    audit_after = live.services.store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'character.updated' AND subject_id = ?",
        [cid],
    )[0][0]
    assert audit_after == audit_before + 3  # three accepted changes, each audited
    assert live.services.store.verify_audit().ok


def test_a_clip_without_the_rule_has_no_attribution_even_if_a_character_matched(
    live: LiveServer, fixtures_dir: Path
) -> None:
    """A plainly allowed character is not attributed: only the attribution rule labels a clip."""
    with live.client("rights_holder") as rh:
        r = rh.post(
            "/characters",
            json={"name": "Professor Quillfeather", "policy": "allow"},
        )
    assert r.status_code == 201, r.text
    image = fixtures_dir / "characters" / "big_buck_bunny" / "bbb_bunny_03.jpg"
    clip = _post(live, "adult", image, "Professor Quillfeather reads in the library")
    assert clip["status"] == "published", clip
    assert _feed_items(live, "guardian")[clip["clip_id"]]["attribution"] == []


def test_migration_0014_adds_attribution_to_existing_characters(tmp_path: Path) -> None:
    """A data directory from before 0014, with a character and a reference image, migrates."""
    data_dir = tmp_path / "data"
    older = [m for m in load_migrations() if m.version < 14]
    with Store(data_dir, migrations=older) as old, old.transaction() as tx:
        at = now()
        tx.execute(
            "INSERT INTO users (id, handle, role, display_name, created_at) "
            "VALUES ('usr_h', 'studio', 'rights_holder', 'Open Movie Studio', ?)",
            [at],
        )
        tx.execute(
            "INSERT INTO characters (id, owner_id, name, aliases, description, policy, "
            "created_at, updated_at) VALUES ('chr_1', 'usr_h', 'Old Timer', '[]', '', "
            "'allow_with_attribution', ?, ?)",
            [at, at],
        )
        blob = BlobStore.in_data_dir(data_dir, 1024).put(tx, b"img", "image/png")
        tx.execute(
            "INSERT INTO character_refs (id, character_id, blob_sha256, created_at) "
            "VALUES ('cref_1', 'chr_1', ?, ?)",
            [blob.sha256, at],
        )
    with Store(data_dir) as new:
        assert new.schema_version() == load_migrations()[-1].version
        rec = Characters(new).get("chr_1")
        assert rec.attribution is None
        assert (
            rec.to_dict()["attribution"] == "Old Timer © Open Movie Studio, used with permission."
        )
        assert len(rec.refs) == 1
        assert new.verify_audit().ok
