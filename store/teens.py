"""Per-user safety settings (``user_settings``) and daily feed counts (``feed_views``).

Storage only: which values a teen may have, and who may change them, is
``pipeline.teens``'s job. A clip counts once per user and UTC day (a unique
index), so refreshing a feed page does not eat into a teen's daily limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from store.db import Store, Tx, now
from store.events import FeedViewsRecorded, UserSettingsChanged

MAX_CLIPS_PER_CALL = 500


def today() -> date:
    return now().date()


class UserSettingsRepo:
    """Rows of ``user_settings`` (a JSON document per user) and ``feed_views``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, user_id: str, tx: Tx | None = None) -> dict[str, Any]:
        """The stored settings document ({} when the user never changed anything)."""
        sql = "SELECT settings FROM user_settings WHERE user_id = ?"
        if tx is not None:
            row = tx.execute(sql, [user_id]).fetchone()
        else:
            # Read by every decision about the user: kept until a commit writes settings.
            rows = self.store.cached(
                ("user_settings", user_id),
                ("user_settings",),
                lambda: self.store.query(sql, [user_id]),
            )
            row = rows[0] if rows else None
        if row is None:
            return {}
        value = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        return dict(value) if isinstance(value, Mapping) else {}

    def put(
        self,
        tx: Tx,
        user_id: str,
        settings: Mapping[str, Any],
        *,
        changes: Mapping[str, Any],
        by: str,
        actor_id: str | None,
    ) -> None:
        """Replace a user's settings document and audit the changed fields."""
        tx.execute(
            "INSERT INTO user_settings (user_id, settings, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET settings = excluded.settings, "
            "updated_at = excluded.updated_at",
            [user_id, json.dumps(dict(settings), sort_keys=True), now()],
        )
        tx.audit(UserSettingsChanged(actor_id, user_id=user_id, by=by, changes=dict(changes)))

    # -- daily feed counts ---------------------------------------------------------------

    def views_on(self, user_id: str, day: date | None = None) -> int:
        rows = self.store.query(
            "SELECT count(*) FROM feed_views WHERE user_id = ? AND day = ?",
            [user_id, day or today()],
        )
        return int(rows[0][0]) if rows else 0

    def record_views(
        self, tx: Tx, user_id: str, clip_ids: Iterable[str], day: date | None = None
    ) -> int:
        """Count clips as seen today; a clip already counted today is not counted again."""
        day = day or today()
        ids = list(dict.fromkeys(str(c)[:64] for c in clip_ids if str(c).strip()))
        if len(ids) > MAX_CLIPS_PER_CALL:
            raise ValueError(f"at most {MAX_CLIPS_PER_CALL} clips per call")
        at = now()
        added = 0
        for clip_id in ids:
            if tx.execute(
                "SELECT 1 FROM feed_views WHERE user_id = ? AND day = ? AND clip_id = ?",
                [user_id, day, clip_id],
            ).fetchone():
                continue
            tx.execute(
                "INSERT INTO feed_views (user_id, clip_id, day, viewed_at) VALUES (?, ?, ?, ?)",
                [user_id, clip_id, day, at],
            )
            added += 1
        if added:
            tx.audit(FeedViewsRecorded(user_id, user_id=user_id, day=day.isoformat(), added=added))
        return added
