"""Demo content for minor safety: empty hash banks for moderators to fill, a guardian's tightening.

The banks are empty on purpose: a moderator who blocks a clip in the demo can
add it to one (``add_to_bank``) and watch a re-upload get caught. Gina (the
demo guardian) has tightened Tess's daily feed limit and turned her DMs off.
"""

from __future__ import annotations

from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User

DEMO_BANKS: list[tuple[str, str, str]] = [
    ("known-bad", "other", "clips moderators removed for a severe reason"),
    ("csam-hashes", "sexual_minors", "child sexual abuse material: any match is blocked"),
]


def seed_safety(store: Store, settings: Settings, users: dict[str, User]) -> dict[str, Any]:
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.wiring import build_pipeline

    ctx = build_pipeline(store, settings)
    admin = users.get("admin")
    banks = [ctx.banks.create_bank(n, d, c, admin)["name"] for n, c, d in DEMO_BANKS]
    teen_settings = None
    if "tess" in users and "gina" in users:
        changed = ctx.teens.update(users["tess"], {"feed_limit_per_day": 30}, users["gina"])
        teen_settings = changed["settings"]
    return {"hash_banks": banks, "teen_settings": {"tess": teen_settings}}
