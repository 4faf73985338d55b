"""The ``queue_items`` table's repository: open or escalate, claim with a lease, release, resolve.

One unresolved item per clip and queue (a second reason escalates the open
one: higher priority, earlier deadline); items without a clip (a prompt-stage
decision) are deduplicated by a key, e.g. creator and prompt, so repeating a
flagged prompt does not flood a queue. A claim is a lease: after
``CLAIM_LEASE`` an item claimed by someone who went home is open again.
Every transition writes a ``queue_item.changed`` audit event in the caller's
transaction. Nothing outside ``store/`` writes this table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store.db import Conflict, NotFound, Store, Tx, as_aware, new_id, now
from store.events import QueueItemChanged

CLAIM_LEASE = timedelta(minutes=30)
MAX_PRIORITY = 100
ITEM_COLUMNS = (
    "id, clip_id, decision_id, queue, priority, reason, status, claimed_by, claimed_at, "
    "due_at, created_at, resolved_at, resolution"
)


def due_in(priority: int | None) -> timedelta:
    """How long a queue item may wait, from its priority (0..100, higher is more urgent)."""
    p = priority or 0
    if p >= 90:
        return timedelta(hours=1)
    if p >= 70:
        return timedelta(hours=4)
    if p >= 40:
        return timedelta(hours=24)
    return timedelta(hours=72)


@dataclass(frozen=True)
class QueueRequest:
    """Ask for a human: which queue, how urgent, why (``due_at`` None: from the priority)."""

    queue: str
    priority: int
    reason: str
    due_at: datetime | None = None
    dedupe_key: str | None = None
    # False: always a new item (each rights dispute is its own case, even on one clip).
    one_per_clip: bool = True


@dataclass(frozen=True)
class OpenedItem:
    item_id: str
    transition: str  # "opened" or "escalated"
    priority: int
    due_at: datetime


def open_or_escalate(
    tx: Tx,
    clip_id: str | None,
    decision_id: str | None,
    request: QueueRequest,
    actor_id: str | None,
) -> OpenedItem:
    """Open the clip's (or the key's) item in ``request.queue``, or escalate the unresolved one."""
    at = now()
    priority = max(0, min(MAX_PRIORITY, int(request.priority)))
    due = request.due_at or at + due_in(priority)
    row = None
    if clip_id is not None and request.one_per_clip:
        row = tx.execute(
            "SELECT id, priority, due_at FROM queue_items WHERE clip_id = ? AND queue = ? "
            "AND status IN ('open', 'claimed')",
            [clip_id, request.queue],
        ).fetchone()
    elif request.dedupe_key is not None:
        row = tx.execute(
            "SELECT id, priority, due_at FROM queue_items WHERE dedupe_key = ? AND queue = ? "
            "AND status IN ('open', 'claimed')",
            [request.dedupe_key, request.queue],
        ).fetchone()
    reason = request.reason[:1000] or "review"
    if row is None:
        item_id = new_id("qi")
        tx.execute(
            "INSERT INTO queue_items (id, clip_id, decision_id, queue, priority, reason, status, "
            "due_at, created_at, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
            [item_id, clip_id, decision_id, request.queue, priority, reason, due, at,
             request.dedupe_key],
        )  # fmt: skip
        transition = "opened"
    else:
        item_id = str(row[0])
        priority = max(priority, int(row[1]))
        if row[2] is not None:
            due = min(due, as_aware(row[2], at))
        tx.execute(
            "UPDATE queue_items SET priority = ?, due_at = ?, reason = ?, "
            "decision_id = coalesce(?, decision_id) WHERE id = ?",
            [priority, due, reason, decision_id, item_id],
        )
        transition = "escalated"
    tx.audit(
        QueueItemChanged(
            actor_id,
            item_id=item_id,
            queue=request.queue,
            transition=transition,
            clip_id=clip_id,
            decision_id=decision_id,
            detail=f"priority {priority}",
        )
    )
    return OpenedItem(item_id, transition, priority, due)


def _state(tx: Tx, item_id: str) -> tuple[str, str | None, str, str | None, str | None, Any]:
    row = tx.execute(
        "SELECT status, claimed_by, queue, clip_id, decision_id, claimed_at FROM queue_items "
        "WHERE id = ?",
        [str(item_id)[:64]],
    ).fetchone()
    if row is None:
        raise NotFound(f"no queue item {str(item_id)[:64]}")
    return row  # type: ignore[no-any-return]


def lease_expired(claimed_at: Any, at: datetime | None = None) -> bool:
    at = at or now()
    return claimed_at is None or as_aware(claimed_at, at) + CLAIM_LEASE <= at


def claim(tx: Tx, item_id: str, moderator_id: str) -> bool:
    """Take an open item (or one whose claim lease ran out); True when this call took it."""
    status, claimed_by, queue, clip_id, decision_id, claimed_at = _state(tx, item_id)
    if status == "resolved":
        raise Conflict("this item is already resolved")
    if status == "claimed" and claimed_by == moderator_id:
        tx.execute("UPDATE queue_items SET claimed_at = ? WHERE id = ?", [now(), item_id])
        return False  # renewing your own lease
    if status == "claimed" and not lease_expired(claimed_at):
        raise Conflict("another moderator has claimed this item")
    tx.execute(
        "UPDATE queue_items SET status = 'claimed', claimed_by = ?, claimed_at = ? WHERE id = ?",
        [moderator_id, now(), item_id],
    )
    tx.audit(
        QueueItemChanged(
            moderator_id,
            item_id=item_id,
            queue=queue,
            transition="claimed",
            clip_id=clip_id,
            decision_id=decision_id,
            detail=f"taken over from {claimed_by}" if status == "claimed" else None,
        )
    )
    return True


def release(tx: Tx, item_id: str, actor_id: str, *, lead: bool = False) -> None:
    """Give a claimed item back to the queue (its holder, or a lead for anyone's claim)."""
    status, claimed_by, queue, clip_id, decision_id, _ = _state(tx, item_id)
    if status != "claimed":
        raise Conflict(f"this item is {status}, not claimed")
    if claimed_by != actor_id and not lead:
        raise Conflict("another moderator has claimed this item")
    tx.execute(
        "UPDATE queue_items SET status = 'open', claimed_by = NULL, claimed_at = NULL WHERE id = ?",
        [item_id],
    )
    tx.audit(
        QueueItemChanged(
            actor_id,
            item_id=item_id,
            queue=queue,
            transition="released",
            clip_id=clip_id,
            decision_id=decision_id,
        )
    )


def assign(tx: Tx, item_id: str, lead_id: str, moderator_id: str) -> str | None:
    """A lead hands an unresolved item to a moderator (a fresh lease); the previous holder or None."""
    status, claimed_by, queue, clip_id, decision_id, _ = _state(tx, item_id)
    if status == "resolved":
        raise Conflict("this item is already resolved")
    tx.execute(
        "UPDATE queue_items SET status = 'claimed', claimed_by = ?, claimed_at = ? WHERE id = ?",
        [moderator_id, now(), item_id],
    )
    tx.audit(
        QueueItemChanged(
            lead_id,
            item_id=item_id,
            queue=queue,
            transition="assigned",
            clip_id=clip_id,
            decision_id=decision_id,
            detail=f"to {moderator_id}" + (f", taken from {claimed_by}" if claimed_by else ""),
        )
    )
    return str(claimed_by) if claimed_by else None


def check_decidable(tx: Tx, item_id: str, moderator_id: str) -> None:
    """Inside the deciding transaction: the item is unresolved and not held by someone else."""
    status, claimed_by, _, _, _, claimed_at = _state(tx, item_id)
    if status == "resolved":
        raise Conflict("this item is already resolved")
    if status == "claimed" and claimed_by != moderator_id and not lease_expired(claimed_at):
        raise Conflict("another moderator has claimed this item")


def resolve(
    tx: Tx,
    item_id: str,
    actor_id: str | None,
    decision_id: str | None,
    resolution: dict[str, Any],
    detail: str | None = None,
) -> None:
    """Close an item with what was decided."""
    _, _, queue, clip_id, _, _ = _state(tx, item_id)
    at = now()
    tx.execute(
        "UPDATE queue_items SET status = 'resolved', claimed_by = coalesce(claimed_by, ?), "
        "claimed_at = coalesce(claimed_at, ?), resolved_at = ?, resolution = ? WHERE id = ?",
        [actor_id, at, at, json.dumps(resolution, default=str), item_id],
    )
    tx.audit(
        QueueItemChanged(
            actor_id,
            item_id=item_id,
            queue=queue,
            transition="resolved",
            clip_id=clip_id,
            decision_id=decision_id,
            detail=detail,
        )
    )


def reopen_resolved_by(tx: Tx, decision_id: str, moderator_id: str, item_id: str) -> list[str]:
    """Undo: the items a decision resolved are unresolved again; ids.

    ``item_id`` (the one the moderator decided) comes back claimed by them, so
    they decide it again; items it superseded come back open.
    """
    rows = tx.execute(
        "SELECT id FROM queue_items WHERE status = 'resolved' "
        "AND json_extract_string(resolution, '$.decision_id') = ?",
        [decision_id],
    ).fetchall()
    ids = sorted({str(r[0]) for r in rows} | {item_id})
    at = now()
    for other in ids:
        status, _, queue, clip_id, _, _ = _state(tx, other)
        if status != "resolved":
            continue
        mine = other == item_id
        tx.execute(
            "UPDATE queue_items SET status = ?, claimed_by = ?, claimed_at = ?, "
            "resolved_at = NULL, resolution = NULL WHERE id = ?",
            [
                "claimed" if mine else "open",
                moderator_id if mine else None,
                at if mine else None,
                other,
            ],
        )
        tx.audit(
            QueueItemChanged(
                moderator_id,
                item_id=other,
                queue=queue,
                transition="reopened",
                clip_id=clip_id,
                decision_id=decision_id,
                detail="the decision that resolved it was undone",
            )
        )
    return ids


def expire_claims(tx: Tx) -> int:
    """Re-open every item whose claim lease ran out; returns how many."""
    at = now()
    rows = tx.execute(
        "SELECT id, queue, clip_id, decision_id, claimed_by FROM queue_items "
        "WHERE status = 'claimed' AND claimed_at < ?",
        [at - CLAIM_LEASE],
    ).fetchall()
    for item_id, queue, clip_id, decision_id, holder in rows:
        tx.execute(
            "UPDATE queue_items SET status = 'open', claimed_by = NULL, claimed_at = NULL "
            "WHERE id = ?",
            [item_id],
        )
        tx.audit(
            QueueItemChanged(
                None,
                item_id=item_id,
                queue=queue,
                transition="lease_expired",
                clip_id=clip_id,
                decision_id=decision_id,
                detail=f"claim by {holder} expired",
            )
        )
    return len(rows)


class QueueItems:
    """Reading queue items."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, item_id: str) -> dict[str, Any]:
        rows = self.store.query_dicts(
            f"SELECT {ITEM_COLUMNS} FROM queue_items WHERE id = ?", [str(item_id)[:64]]
        )
        if not rows:
            raise NotFound(f"no queue item {str(item_id)[:64]}")
        row = rows[0]
        row["resolution"] = json.loads(row["resolution"]) if row["resolution"] else None
        return row

    def unresolved(
        self,
        queue: str,
        *,
        include_claimed: bool = True,
        limit: int = 50,
        offset: int = 0,
        status: str | None = None,
        words: str | None = None,
    ) -> list[dict[str, Any]]:
        """A page of a queue's unresolved items, most urgent first (ties by id, so pages are stable).

        ``status`` keeps only open or only claimed items; ``words`` keeps items whose
        reason holds every word (case-insensitive); ``offset`` skips that many rows.
        """
        statuses: tuple[str, ...] = ("open", "claimed") if include_claimed else ("open",)
        if status is not None:
            statuses = tuple(s for s in statuses if s == status)
            if not statuses:
                return []
        sql = (
            f"SELECT {ITEM_COLUMNS} FROM queue_items WHERE queue = ? AND status IN "
            f"({', '.join('?' for _ in statuses)})"
        )
        params: list[Any] = [queue, *statuses]
        for word in (words or "").split()[:8]:
            sql += " AND reason ILIKE ? ESCAPE '\\'"
            escaped = word[:64].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        sql += " ORDER BY priority DESC, due_at, created_at, id LIMIT ? OFFSET ?"
        params += [max(1, min(int(limit), 501)), max(0, int(offset))]
        rows = self.store.query_dicts(sql, params)
        for row in rows:
            row["resolution"] = json.loads(row["resolution"]) if row["resolution"] else None
        return rows

    def for_clip(self, clip_id: str) -> list[dict[str, Any]]:
        """Every item a clip ever had, in any state, oldest first (its review history)."""
        rows = self.store.query_dicts(
            f"SELECT {ITEM_COLUMNS} FROM queue_items WHERE clip_id = ? ORDER BY created_at, id",
            [str(clip_id)[:64]],
        )
        for row in rows:
            row["resolution"] = json.loads(row["resolution"]) if row["resolution"] else None
        return rows

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
