"""Demo content for the feed: fixture clips posted by the demo users through the real gate.

Each clip is scanned and decided like any upload, so the feed shows what the
policy published and the console's queues show what it held (e.g. a clip of
a character its rights holder blocked, an animated face the likeness check
routes to review). One remix shows lineage. Every file is in the in-repo demo
pack (see :mod:`greenroom.demo_pack`), so a fresh clone seeds the same feed.
"""

from __future__ import annotations

from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User

# (handle, pack path, prompt)
DEMO_POSTS: list[tuple[str, str, str]] = [
    ("bob", "videos/sintel_trailer_12-16s_480p.mp4", "a girl and her dragon in snowy mountains"),
    ("alice", "videos/bbb_bunny_720p_seg49-51.mp4", "a big white rabbit in a sunny meadow"),
    ("alice", "c2pa/assets/earth_apollo17.jpg", "planet earth seen from space"),
    ("bob", "characters/go_gopher/gophercolor.png", "a cartoon gopher waving hello"),
    ("alice", "characters/tux/tux_speech.png", "a penguin says catch you on the flip side"),
    ("bob", "c2pa/assets/C.jpg", "a soft rainbow gradient, signed with content credentials"),
    ("alice", "c2pa/assets/py_A.jpg", "colourful ribbons hanging in the sun"),
    ("bob", "characters/go_gopher/modelsheet.jpg", "a model sheet for a blue cartoon gopher"),
]
# (handle, pack path, prompt, index into DEMO_POSTS of the parent)
DEMO_REMIXES: list[tuple[str, str, str, int]] = [
    ("bob", "c2pa/assets/CA.jpg", "earth from space, remixed with a sunrise", 2),
]


def seed_feed(store: Store, settings: Settings, users: dict[str, User]) -> dict[str, Any]:
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.demo_pack import media
    from greenroom.wiring import build_pipeline

    ctx = build_pipeline(store, settings)
    posted: list[dict[str, Any]] = []
    for handle, rel, prompt in DEMO_POSTS:
        path = media(settings, rel)
        if path is None:
            posted.append({"file": rel, "skipped": "not in the demo pack or the fixtures"})
            continue
        doc = ctx.posting.upload(users[handle], path, prompt)
        posted.append(
            {"file": rel, "by": handle, "clip_id": doc["clip_id"], "status": doc["status"]}
        )
    for handle, rel, prompt, parent in DEMO_REMIXES:
        path = media(settings, rel)
        parent_doc = posted[parent] if parent < len(posted) else {}
        if path is None or parent_doc.get("status") != "published":
            posted.append({"file": rel, "skipped": "media or live parent missing"})
            continue
        doc = ctx.posting.remix(users[handle], parent_doc["clip_id"], path, prompt)
        posted.append(
            {
                "file": rel,
                "by": handle,
                "clip_id": doc["clip_id"],
                "status": doc["status"],
                "parent_clip_id": parent_doc["clip_id"],
            }
        )
    return {"feed_clips": posted}
