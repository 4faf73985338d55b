"""Demo content for the characters registry: free-licence fixture characters owned by the demo rights holder.

Registered for ``studio`` with reference images from the in-repo demo pack
(``greenroom/demo_media/characters``, see :mod:`greenroom.demo_pack`) and a mix
of policies so the console shows each one (a real registration starts at
``block``; here the studio has already opted some in). Licences and
attributions are those of the pack's MANIFEST.tsv.
"""

from __future__ import annotations

from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User

DEMO_OWNER = "studio"

# name, aliases, description, policy, reference images (pack paths), licence
DEMO_CHARACTERS: list[dict[str, Any]] = [
    {
        "name": "Go Gopher",
        "aliases": ["Golang Gopher", "Gopher mascot"],
        "description": "a light blue cartoon gopher with big round eyes and buck teeth, "
        "the mascot of the Go programming language",
        "policy": "allow_with_attribution",
        "refs": ["characters/go_gopher/gophercolor.png", "characters/go_gopher/gopherbw.png"],
        "licence": "CC-BY-4.0, Renee French",
    },
    {
        "name": "Ferris",
        "aliases": ["Ferris the crab", "Rustacean"],
        "description": "an orange cartoon crab with little claws, the unofficial mascot of the "
        "Rust programming language",
        "policy": "review",
        "refs": [
            "characters/ferris/rustacean-flat-happy.png",
            "characters/ferris/rustacean-flat-gesture-tiny.png",
        ],
        "licence": "CC0 / public domain, Karen Rustad Tölva",
    },
    {
        "name": "Tux",
        "aliases": ["Tux the penguin", "Linux penguin"],
        "description": "a plump black and white penguin with a yellow beak and feet, sitting, "
        "the mascot of the Linux kernel",
        "policy": "allow",
        "refs": ["characters/tux/tux_boot.png"],
        "licence": "CC0 / public domain (Larry Ewing design, Garrett LeSage redraw)",
    },
    {
        "name": "Big Buck Bunny",
        "aliases": ["Buck Bunny"],
        "description": "a huge fat white rabbit with grey fur and a kind face in a sunny green "
        "meadow, from a Blender open movie",
        "policy": "block",
        "refs": [
            "characters/big_buck_bunny/bbb_bunny_01.jpg",
            "characters/big_buck_bunny/bbb_bunny_02.jpg",
        ],
        "licence": "CC-BY-3.0, Blender Foundation",
    },
    {
        "name": "Pepper",
        "aliases": ["Pepper&Carrot", "Pepper the witch"],
        "description": "a young witch girl with messy red hair and her orange cat Carrot, "
        "from the webcomic by David Revoy",
        "policy": "block",
        "refs": ["characters/peppercarrot/peppercarrot_icon.png"],
        "licence": "CC-BY-4.0, David Revoy",
    },
]


def seed_characters(store: Store, settings: Settings, users: dict[str, User]) -> dict[str, Any]:
    """Register the demo characters for ``studio`` with their reference images from the pack."""
    from greenroom.demo_pack import media
    from greenroom.wiring import build_pipeline
    from pipeline.characters import RefUpload

    owner = users.get(DEMO_OWNER)
    if owner is None:
        return {"characters": [], "characters_note": f"no demo user {DEMO_OWNER}"}
    service = build_pipeline(store, settings).characters
    created = []
    for spec in DEMO_CHARACTERS:
        paths = [media(settings, rel) for rel in spec["refs"]]
        refs = [RefUpload(p.read_bytes(), p.name) for p in paths if p is not None]
        rec = service.register(
            None,
            owner,
            name=spec["name"],
            aliases=spec["aliases"],
            description=spec["description"],
            policy=spec["policy"],
            refs=refs,
        )
        created.append(
            {"id": rec.id, "name": rec.name, "policy": rec.policy, "refs": len(rec.refs)}
        )
    return {"characters": created}
