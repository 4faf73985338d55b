"""Per-person console preferences: the ``user_preferences`` table's home.

Preferences change how the console shows things to the person who set them
(review media blurred until revealed, or shown); they are not safety settings
and nothing on the server decides by them. Each known preference has a type
and a default; an unknown name or a wrong type is refused, and every change is
audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from store.db import now
from store.events import PreferencesChanged

if TYPE_CHECKING:
    from store.db import Store, Tx

# name -> (allowed values, default)
PREFERENCES: Mapping[str, tuple[tuple[Any, ...], Any]] = {
    # Review and clip pages: media blurred (images) / hidden (videos) until revealed per item.
    "review_media": (("blur", "show"), "blur"),
}


def defaults() -> dict[str, Any]:
    return {name: default for name, (_, default) in PREFERENCES.items()}


def get(store: Store, user_id: str) -> dict[str, Any]:
    """The person's preferences, defaults filled in."""
    rows = store.query("SELECT prefs FROM user_preferences WHERE user_id = ?", [user_id])
    stored = json.loads(rows[0][0]) if rows and isinstance(rows[0][0], str) else {}
    return {**defaults(), **{k: v for k, v in stored.items() if k in PREFERENCES}}


def check(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Well-formed changes, or ValueError naming the preference and its allowed values."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in PREFERENCES:
            raise ValueError(f"unknown preference {name!r}; known: {', '.join(PREFERENCES)}")
        allowed, _ = PREFERENCES[name]
        if value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}")
        out[name] = value
    return out


def put(tx: Tx, store: Store, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply checked changes (audited); the preferences now in force."""
    changes = check(changes)
    merged = {**get(store, user_id), **changes}
    tx.execute(
        "INSERT INTO user_preferences (user_id, prefs, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET prefs = excluded.prefs, "
        "updated_at = excluded.updated_at",
        [user_id, json.dumps(merged, sort_keys=True), now()],
    )
    tx.audit(PreferencesChanged(user_id, user_id=user_id, changes=dict(changes)))
    return merged
