"""Daily generation quotas: what each account spent (``generation_usage``) and staff's numbers.

Storage only: which number applies to whom (the adult and teen defaults
come from configuration) is ``pipeline.generate``'s job. A generation is
counted on the UTC day it ran; :meth:`GenerationQuotas.take` checks and
counts in the caller's write transaction, so two requests racing for the
last slot cannot both get it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from store.db import Store, Tx, new_id, now
from store.events import GenerationCounted, GenerationQuotaSet, GenerationRefunded
from store.users import validate_reason

MAX_PER_DAY = 10_000


def utc_day(at: datetime | None = None) -> date:
    return (at or now()).date()


class GenerationQuotas:
    """Rows of ``generation_usage`` and ``generation_quotas``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def used_on(self, user_id: str, day: date | None = None, tx: Tx | None = None) -> int:
        sql = "SELECT count(*) FROM generation_usage WHERE user_id = ? AND day = ?"
        params = [user_id, day or utc_day()]
        row = (
            tx.execute(sql, params).fetchone()
            if tx is not None
            else self.store.query(sql, params)[0]
        )
        return int(row[0]) if row else 0

    def override(self, user_id: str, tx: Tx | None = None) -> dict[str, Any] | None:
        """Staff's number for an account ({per_day, reason, set_by, set_at}) or None."""
        sql = (
            "SELECT q.per_day, q.reason, u.handle AS set_by, q.set_at FROM generation_quotas q "
            "LEFT JOIN users u ON u.id = q.set_by WHERE q.user_id = ?"
        )
        if tx is not None:
            row = tx.execute(sql, [user_id]).fetchone()
        else:
            rows = self.store.query(sql, [user_id])
            row = rows[0] if rows else None
        if row is None:
            return None
        return {
            "per_day": int(row[0]),
            "reason": row[1],
            "set_by": row[2],
            "set_at": row[3].isoformat() if row[3] else None,
        }

    def take(
        self,
        tx: Tx,
        user_id: str,
        limit: int,
        *,
        prompt_decision_id: str | None = None,
        actor_id: str | None = None,
    ) -> str | None:
        """Count one generation today if ``limit`` allows it; returns the usage id, or None when full."""
        day = utc_day()
        if self.used_on(user_id, day, tx) >= limit:
            return None
        usage_id = new_id("gen")
        tx.execute(
            "INSERT INTO generation_usage (id, user_id, day, counted_at, prompt_decision_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [usage_id, user_id, day, now(), prompt_decision_id],
        )
        tx.audit(
            GenerationCounted(
                actor_id or user_id,
                user_id=user_id,
                usage_id=usage_id,
                day=day.isoformat(),
                prompt_decision_id=prompt_decision_id,
            )
        )
        return usage_id

    def refund(self, tx: Tx, user_id: str, usage_id: str, reason: str) -> None:
        """Give a counted generation back (the generator produced nothing)."""
        tx.execute("DELETE FROM generation_usage WHERE id = ? AND user_id = ?", [usage_id, user_id])
        tx.audit(GenerationRefunded(None, user_id=user_id, usage_id=usage_id, reason=reason[:200]))

    def set(
        self, tx: Tx, user_id: str, per_day: int | None, reason: str, actor_id: str | None
    ) -> None:
        """Staff's daily number for an account; None goes back to the default."""
        reason = validate_reason(reason)
        if per_day is not None and not 0 <= int(per_day) <= MAX_PER_DAY:
            raise ValueError(f"per_day must be between 0 and {MAX_PER_DAY}")
        before = self.override(user_id, tx)
        if per_day is None:
            tx.execute("DELETE FROM generation_quotas WHERE user_id = ?", [user_id])
        else:
            tx.execute(
                "INSERT INTO generation_quotas (user_id, per_day, reason, set_by, set_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "per_day = excluded.per_day, reason = excluded.reason, "
                "set_by = excluded.set_by, set_at = excluded.set_at",
                [user_id, int(per_day), reason, actor_id, now()],
            )
        tx.audit(
            GenerationQuotaSet(
                actor_id,
                user_id=user_id,
                per_day=None if per_day is None else int(per_day),
                previous=None if before is None else int(before["per_day"]),
                reason=reason,
            )
        )
