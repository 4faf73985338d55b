"""Demo content for the feed: fixture clips posted by the demo users through the real gate.

Each clip is scanned and decided like any upload, so the feed shows what the
policy published and the console's queues show what it held (e.g. a clip of
a character its rights holder blocked). One remix shows lineage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User

# (handle, fixture path under fixtures_dir, prompt)
DEMO_POSTS: list[tuple[str, str, str]] = [
    ("bob", "videos/sintel_trailer_clip_720p.mp4", "a girl and her dragon in snowy mountains"),
    ("alice", "videos/bbb_bunny_720p_seg49-51.mp4", "a big white rabbit in a sunny meadow"),
    ("alice", "c2pa/assets/earth_apollo17.jpg", "planet earth seen from space"),
    ("bob", "characters/go_gopher/gophercolor.png", "a cartoon gopher waving hello"),
]
# (handle, fixture, prompt, index into DEMO_POSTS of the parent)
DEMO_REMIXES: list[tuple[str, str, str, int]] = [
    ("bob", "c2pa/assets/CA.jpg", "earth from space, remixed with a sunrise", 2),
]


def seed_feed(store: Store, settings: Settings, users: dict[str, User]) -> dict[str, Any]:
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.wiring import build_pipeline

    ctx = build_pipeline(store, settings)
    root = Path(settings.fixtures_dir)
    posted: list[dict[str, Any]] = []
    for handle, rel, prompt in DEMO_POSTS:
        path = root / rel
        if not path.is_file():
            posted.append({"file": rel, "skipped": "fixture not found"})
            continue
        doc = ctx.posting.upload(users[handle], path, prompt)
        posted.append(
            {"file": rel, "by": handle, "clip_id": doc["clip_id"], "status": doc["status"]}
        )
    for handle, rel, prompt, parent in DEMO_REMIXES:
        path = root / rel
        parent_doc = posted[parent] if parent < len(posted) else {}
        if not path.is_file() or parent_doc.get("status") != "published":
            posted.append({"file": rel, "skipped": "fixture or live parent missing"})
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
