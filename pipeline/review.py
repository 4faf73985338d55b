"""Review queues: counts, items with their evidence, claim, and a moderator's decision with a reason.

A human decision is a ``decisions`` row like the engine's, with
``decided_by`` and ``reason`` set; it moves the clip (publish, age-restrict,
block, take down), resolves the queue item, and is audited, all in one
transaction. A moderator may decide an open item or one they claimed, never
one another moderator holds.
"""

from __future__ import annotations

import importlib.util
import json
from typing import TYPE_CHECKING, Any

from store.db import Conflict, NotFound, new_id, now
from store.events import ClipStatusChanged, HumanDecisionRecorded, QueueItemChanged
from store.users import User

if TYPE_CHECKING:
    from pipeline.context import Pipeline

# A moderator's action -> (decision outcome in the policy vocabulary, clip status, audience).
ACTIONS: dict[str, tuple[str, str, str | None]] = {
    "publish": ("allow", "published", None),
    "age_restrict": ("age_restrict", "published", "adults"),
    "block": ("block", "blocked", None),
    "takedown": ("takedown", "taken_down", None),
}
MAX_REASON_CHARS = 2000
_ITEM_COLS = (
    "id, clip_id, decision_id, queue, priority, reason, status, claimed_by, claimed_at, "
    "due_at, created_at, resolved_at, resolution"
)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class ReviewService:
    """The moderators' side of the queues. Reached as ``ctx.review``."""

    def __init__(self, ctx: Pipeline) -> None:
        self.ctx = ctx
        self.store = ctx.store

    # -- reading ---------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per queue: open, claimed, overdue items and the earliest due time."""
        rows = self.store.query_dicts(
            "SELECT queue, count(*) FILTER (WHERE status = 'open') AS open, "
            "count(*) FILTER (WHERE status = 'claimed') AS claimed, "
            "count(*) FILTER (WHERE due_at < ?) AS overdue, min(due_at) AS next_due "
            "FROM queue_items WHERE status IN ('open', 'claimed') GROUP BY queue ORDER BY queue",
            [now()],
        )
        return {r.pop("queue"): r for r in rows}

    def item(self, item_id: str, *, evidence: bool = True) -> dict[str, Any]:
        rows = self.store.query_dicts(
            f"SELECT {_ITEM_COLS} FROM queue_items WHERE id = ?", [str(item_id)[:64]]
        )
        if not rows:
            raise NotFound(f"no queue item {str(item_id)[:64]}")
        row = rows[0]
        row["resolution"] = _loads(row["resolution"])
        if evidence:
            row["evidence"] = self._evidence(row)
        return row

    def items(
        self, queue: str, *, include_claimed: bool = True, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Unresolved items of a queue, most urgent first, each with its evidence."""
        statuses = ("open", "claimed") if include_claimed else ("open",)
        rows = self.store.query_dicts(
            f"SELECT {_ITEM_COLS} FROM queue_items WHERE queue = ? AND status IN "
            f"({', '.join('?' for _ in statuses)}) ORDER BY priority DESC, due_at, created_at "
            "LIMIT ?",
            [queue, *statuses, max(1, min(int(limit), 500))],
        )
        for row in rows:
            row["resolution"] = _loads(row["resolution"])
            row["evidence"] = self._evidence(row)
        return rows

    def _evidence(self, item: dict[str, Any]) -> dict[str, Any]:
        """What a moderator needs: the clip, the decision (rules with values) and the signals."""
        clip = None
        if item["clip_id"]:
            found = self.store.query_dicts(
                "SELECT c.id, c.prompt, c.origin, c.parent_clip_id, c.status, c.media_sha256, "
                "c.audience, c.created_at, u.handle AS creator, u.id AS creator_id "
                "FROM clips c LEFT JOIN users u ON u.id = c.creator_id WHERE c.id = ?",
                [item["clip_id"]],
            )
            clip = found[0] if found else None
        decision = None
        signals: list[Any] = []
        if item["decision_id"]:
            found = self.store.query_dicts(
                "SELECT id, scan_id, outcome, rules, shadow, policy_version, queue, priority, "
                "details, created_at FROM decisions WHERE id = ?",
                [item["decision_id"]],
            )
            if found:
                decision = found[0]
                for key in ("rules", "shadow", "details"):
                    decision[key] = _loads(decision[key])
                if decision["scan_id"]:
                    signals = [
                        _loads(r[0])
                        for r in self.store.query(
                            "SELECT data FROM signals WHERE scan_id = ? ORDER BY id",
                            [decision["scan_id"]],
                        )
                    ]
        return {"clip": clip, "decision": decision, "signals": signals}

    # -- changing -----------------------------------------------------------------------------

    def claim(self, item_id: str, moderator: User) -> dict[str, Any]:
        """Take an open item; claiming your own claim again is a no-op."""
        with self.store.transaction() as tx:
            row = tx.execute(
                "SELECT status, claimed_by, queue, clip_id, decision_id FROM queue_items "
                "WHERE id = ?",
                [str(item_id)[:64]],
            ).fetchone()
            if row is None:
                raise NotFound(f"no queue item {str(item_id)[:64]}")
            status, claimed_by, queue, clip_id, decision_id = row
            if status == "resolved":
                raise Conflict("this item is already resolved")
            if status == "claimed" and claimed_by != moderator.id:
                raise Conflict("another moderator has claimed this item")
            if status == "open":
                tx.execute(
                    "UPDATE queue_items SET status = 'claimed', claimed_by = ?, claimed_at = ? "
                    "WHERE id = ?",
                    [moderator.id, now(), item_id],
                )
                tx.audit(
                    QueueItemChanged(
                        moderator.id,
                        item_id=item_id,
                        queue=queue,
                        transition="claimed",
                        clip_id=clip_id,
                        decision_id=decision_id,
                    )
                )
        return self.item(item_id, evidence=False)

    def decide(
        self,
        item_id: str,
        moderator: User,
        action: str,
        reason: str,
        *,
        add_to_bank: str | None = None,
    ) -> dict[str, Any]:
        """Record a moderator's decision on an item, move the clip, resolve the item."""
        if action not in ACTIONS:
            raise ValueError(f"outcome must be one of: {', '.join(ACTIONS)}")
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("a decision needs a reason")
        if len(reason) > MAX_REASON_CHARS:
            raise ValueError(f"the reason is longer than {MAX_REASON_CHARS} characters")
        if add_to_bank is not None and action not in ("block", "takedown"):
            raise ValueError("only a block or takedown can add the clip to a hash bank")
        outcome, clip_status, audience = ACTIONS[action]
        at = now()
        decision_id = new_id("dec")
        with self.store.transaction() as tx:
            row = tx.execute(
                "SELECT status, claimed_by, queue, clip_id, decision_id FROM queue_items "
                "WHERE id = ?",
                [str(item_id)[:64]],
            ).fetchone()
            if row is None:
                raise NotFound(f"no queue item {str(item_id)[:64]}")
            status, claimed_by, queue, clip_id, reviewed_id = row
            if status == "resolved":
                raise Conflict("this item is already resolved")
            if status == "claimed" and claimed_by != moderator.id:
                raise Conflict("another moderator has claimed this item")
            reviewed = tx.execute(
                "SELECT scan_id, policy_version FROM decisions WHERE id = ?", [reviewed_id]
            ).fetchone()
            scan_id, version = (reviewed[0], reviewed[1]) if reviewed else (None, "human")
            details = {
                "action": action,
                "item_id": item_id,
                "queue": queue,
                "reviewed_decision": reviewed_id,
                "add_to_bank": add_to_bank,
            }
            tx.execute(
                "INSERT INTO decisions (id, scan_id, clip_id, outcome, rules, shadow, "
                "policy_version, queue, priority, decided_by, reason, created_at, details) "
                "VALUES (?, ?, ?, ?, '[]', '{}', ?, NULL, NULL, ?, ?, ?, ?)",
                [
                    decision_id,
                    scan_id,
                    clip_id,
                    outcome,
                    version,
                    moderator.id,
                    reason,
                    at,
                    json.dumps(details),
                ],
            )
            tx.audit(
                HumanDecisionRecorded(
                    moderator.id,
                    decision_id=decision_id,
                    clip_id=clip_id,
                    outcome=action,
                    reason=reason[:500],
                    item_id=item_id,
                )
            )
            if clip_id is not None:
                clip = tx.execute(
                    "SELECT status, audience FROM clips WHERE id = ?", [clip_id]
                ).fetchone()
                if clip is not None:
                    new_audience = audience or clip[1]
                    tx.execute(
                        "UPDATE clips SET status = ?, audience = ?, updated_at = ? WHERE id = ?",
                        [clip_status, new_audience, at, clip_id],
                    )
                    tx.audit(
                        ClipStatusChanged(
                            moderator.id,
                            clip_id=clip_id,
                            previous=clip[0],
                            status=clip_status,
                            audience=new_audience,
                            decision_id=decision_id,
                        )
                    )
            if add_to_bank is not None:
                self._add_to_bank(tx, clip_id, add_to_bank, reason, moderator)
            resolution = {
                "action": action,
                "outcome": outcome,
                "reason": reason,
                "decided_by": moderator.id,
                "decision_id": decision_id,
            }
            tx.execute(
                "UPDATE queue_items SET status = 'resolved', claimed_by = ?, "
                "claimed_at = coalesce(claimed_at, ?), resolved_at = ?, resolution = ? "
                "WHERE id = ?",
                [moderator.id, at, at, json.dumps(resolution), item_id],
            )
            tx.audit(
                QueueItemChanged(
                    moderator.id,
                    item_id=item_id,
                    queue=queue,
                    transition="resolved",
                    clip_id=clip_id,
                    decision_id=decision_id,
                    detail=action,
                )
            )
        return {
            "decision_id": decision_id,
            "item": self.item(item_id, evidence=False),
            "clip_status": clip_status if clip_id else None,
        }

    def _add_to_bank(self, tx: Any, clip_id: str | None, bank: str, reason: str, who: User) -> None:
        # Hash banks are another area's module; until it lands the request is refused
        # (inside the transaction, so the whole decision rolls back with it).
        if clip_id is None:
            raise ValueError("this item has no clip to add to a hash bank")
        if importlib.util.find_spec("pipeline.banks") is None:
            raise ValueError("hash banks are not available on this server yet")
        self.ctx.banks.add_clip(tx, clip_id, bank, reason, who)
