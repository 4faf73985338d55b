"""Demo data: a data directory with a user of every role, plus each area's demo content.

Areas add their own demo content by appending a function to ``SEEDERS``;
each gets the open store, the settings and the created users by handle. The
demo logins (random passwords) are written to ``demo-logins.json`` in the
data directory so ``greenroom up`` can print them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User, Users

DEMO_USERS: list[dict[str, Any]] = [
    {"handle": "admin", "role": "admin", "display_name": "Ada Admin"},
    {"handle": "mod", "role": "moderator", "display_name": "Mo Moderator"},
    {"handle": "studio", "role": "rights_holder", "display_name": "Open Movie Studio"},
    {"handle": "alice", "role": "user", "display_name": "Alice (adult)", "age": 29},
    {"handle": "bob", "role": "user", "display_name": "Bob (adult)", "age": 34},
    {"handle": "tess", "role": "user", "display_name": "Tess (teen)", "age": 15},
    {"handle": "gina", "role": "guardian", "display_name": "Gina (Tess's guardian)", "age": 45},
    {"handle": "pat", "role": "policy_author", "display_name": "Pat Policy"},
]

Seeder = Callable[[Store, Settings, dict[str, User]], dict[str, Any]]
SEEDERS: list[Seeder] = []


def seed(store: Store, settings: Settings) -> dict[str, Any]:
    users = Users(store, pepper=settings.token_pepper.get_secret_value())
    if users.all():
        raise ValueError(f"{store.data_dir} already has users; demo data goes in a new directory")
    this_year = datetime.now(UTC).year
    created: dict[str, User] = {}
    logins = []
    with store.transaction() as tx:
        for spec in DEMO_USERS:
            password = f"{spec['handle']}-{secrets.token_hex(4)}"
            birth_year = this_year - spec["age"] if "age" in spec else None
            user = users.create(
                tx,
                spec["handle"],
                spec["role"],
                birth_year=birth_year,
                display_name=spec["display_name"],
                password=password,
            )
            created[user.handle] = user
            logins.append({"handle": user.handle, "password": password, "role": user.role})
        users.link_guardian(tx, created["gina"].id, created["tess"].id, actor_id=None)
        users.follow(tx, created["alice"].id, created["bob"].id)
        users.follow(tx, created["bob"].id, created["alice"].id)
    content: dict[str, Any] = {}
    for seeder in SEEDERS:
        content.update(seeder(store, settings, created))
    result = {"data_dir": str(store.data_dir), "logins": logins, "content": content}
    # Passwords: readable by the owner only.
    path = store.data_dir / "demo-logins.json"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(result, indent=2))
    return result


from greenroom.demo_characters import seed_characters  # noqa: E402  (needs SEEDERS defined)

SEEDERS.append(seed_characters)

from greenroom.demo_feed import seed_feed  # noqa: E402  (needs SEEDERS defined)

SEEDERS.append(seed_feed)

from greenroom.demo_safety import seed_safety  # noqa: E402  (needs SEEDERS defined)

SEEDERS.append(seed_safety)

from greenroom.demo_review import seed_review  # noqa: E402  (needs SEEDERS defined)

SEEDERS.append(seed_review)

from greenroom.demo_likeness import seed_likeness  # noqa: E402  (needs SEEDERS defined)

SEEDERS.append(seed_likeness)
