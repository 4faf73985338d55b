"""The decision record: one writer for scans, signals, decisions, clip moves and queue items.

Every door of the gate ends here. :func:`apply` writes, in the caller's
transaction, the scan (what was looked at, with the merged signal view a
backtest can replay), each signal, the decision (outcome, rules with their
values, shadow comparison, audience check, explanation), the clip's creation
or move, the queue item a human needs, and their audit events -- or, with
the transaction, none of it. A :class:`DecisionRecord` is plain data, so
several callers' records can be applied in one shared transaction (group
commit) without changing what each of them wrote.

Nothing outside ``store/`` writes the ``scans``, ``signals`` or
``decisions`` tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from store import clips as clip_rows
from store import queue as queue_rows
from store.clips import NewClip
from store.db import Store, Tx, new_id, now
from store.events import HumanDecisionRecorded, ScanRecorded
from store.jsondoc import dumps, loads
from store.queue import QueueRequest

DOORS = (
    "upload",
    "scan",
    "prompt",
    "generate_prompt",
    "generate_output",
    "remix",
    "report",
    "appeal_verdict",
    "dispute_verdict",
    "takedown",
    "moderator",
    "account",
    "undo",
)


class AlreadyRecorded(Exception):
    """A job's scan was recorded before (a crash after recording, before completing the job)."""

    def __init__(self, scan_id: str) -> None:
        super().__init__(scan_id)
        self.scan_id = scan_id


@dataclass(frozen=True)
class SignalRecord:
    kind: str
    model_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ScanRecord:
    """What the decision looked at: stage, context, the merged signal view, its cost."""

    stage: str
    context: dict[str, Any]
    view: dict[str, Any] | None
    duration_ms: float = 0.0
    # The durable job that ran the scan: a second record for the same job is refused.
    job_id: str | None = None


@dataclass(frozen=True)
class ClipChange:
    """Create a clip (``new``) or move an existing one (``clip_id`` + ``status``)."""

    new: NewClip | None = None
    clip_id: str | None = None
    status: str | None = None
    audience: str | None = None
    media_sha256: str | None = None


@dataclass(frozen=True)
class DecisionRecord:
    """One decision from one door, with everything that explains and follows from it."""

    door: str
    actor_id: str | None
    outcome: str
    policy_version: str
    rules: list[dict[str, Any]] = field(default_factory=list)
    shadow: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    reason: str | None = None
    # A moderator's id for a human decision; None when the policy engine decided.
    decided_by: str | None = None
    scan: ScanRecord | None = None
    # A decision about an earlier scan (a moderator's, a report's) may point at it instead.
    scan_id: str | None = None
    signals: Sequence[SignalRecord] = ()
    clip: ClipChange | None = None
    clip_id: str | None = None
    queue_request: QueueRequest | None = None


@dataclass(frozen=True)
class RecordedDecision:
    decision_id: str
    scan_id: str | None
    clip_id: str | None
    status: str | None = None
    previous_status: str | None = None
    queue_item_id: str | None = None
    queue_transition: str | None = None
    queue_priority: int | None = None
    queue_due_at: Any = None
    # The rules that fired (the policy's, as recorded): a door's ``also`` may act on them.
    rules: tuple[dict[str, Any], ...] = ()


_SCAN_COLUMNS = ("id", "clip_id", "stage", "context", "created_at", "duration_ms", "view", "job_id")
_SIGNAL_COLUMNS = ("id", "scan_id", "kind", "model_id", "data")
_DECISION_COLUMNS = (
    "id",
    "scan_id",
    "clip_id",
    "outcome",
    "rules",
    "shadow",
    "policy_version",
    "queue",
    "priority",
    "decided_by",
    "reason",
    "created_at",
    "details",
    "door",
)


def apply(tx: Tx, rec: DecisionRecord) -> RecordedDecision:
    """Write one decision record in ``tx`` (see the module docstring)."""
    if rec.door not in DOORS:
        raise ValueError(f"unknown door {rec.door!r}")
    at = now()
    decision_id = new_id("dec")
    scan_id = rec.scan_id
    if rec.scan is not None and rec.scan.job_id is not None:
        done = tx.execute("SELECT id FROM scans WHERE job_id = ?", [rec.scan.job_id]).fetchone()
        if done is not None:
            raise AlreadyRecorded(str(done[0]))
    clip_id = rec.clip_id
    status: str | None = None
    previous: str | None = None
    if rec.clip is not None and rec.clip.new is not None:
        clip_id = clip_rows.insert(tx, rec.clip.new, rec.actor_id, decision_id)
        status = rec.clip.new.status
    elif rec.clip is not None and rec.clip.status is not None:
        clip_id = rec.clip.clip_id or clip_id
        assert clip_id is not None, "a clip move needs the clip's id"
        status = rec.clip.status
        previous = clip_rows.set_status(
            tx,
            clip_id,
            rec.clip.status,
            rec.actor_id,
            audience=rec.clip.audience,
            media_sha256=rec.clip.media_sha256,
            decision_id=decision_id,
        )
    if rec.scan is not None:
        scan_id = new_id("scan")
        # Deferred inserts: a batch of decisions writes each table in one statement.
        tx.insert(
            "scans",
            _SCAN_COLUMNS,
            [
                scan_id,
                clip_id,
                rec.scan.stage,
                dumps(rec.scan.context),
                at,
                rec.scan.duration_ms,
                dumps(rec.scan.view) if rec.scan.view is not None else None,
                rec.scan.job_id,
            ],
        )
        for signal in rec.signals:
            tx.insert(
                "signals",
                _SIGNAL_COLUMNS,
                [new_id("sig"), scan_id, signal.kind, signal.model_id, dumps(signal.data)],
            )
    tx.insert(
        "decisions",
        _DECISION_COLUMNS,
        [
            decision_id,
            scan_id,
            clip_id,
            rec.outcome,
            dumps(rec.rules),
            dumps(rec.shadow),
            rec.policy_version,
            rec.queue,
            rec.priority,
            rec.decided_by,
            rec.reason,
            at,
            dumps(rec.details),
            rec.door,
        ],
    )
    opened = None
    if rec.queue_request is not None:
        opened = queue_rows.open_or_escalate(
            tx, clip_id, decision_id, rec.queue_request, rec.actor_id
        )
    if rec.decided_by is not None:
        tx.audit(
            HumanDecisionRecorded(
                rec.decided_by,
                decision_id=decision_id,
                clip_id=clip_id,
                outcome=str(rec.details.get("action") or rec.outcome),
                reason=(rec.reason or "")[:500],
                item_id=rec.details.get("item_id"),
            )
        )
    else:
        tx.audit(
            ScanRecorded(
                rec.actor_id,
                scan_id=scan_id or "",
                clip_id=clip_id,
                stage=rec.scan.stage if rec.scan is not None else rec.door,
                decision_id=decision_id,
                outcome=rec.outcome,
                policy_version=rec.policy_version,
                signals=len(rec.signals),
            )
        )
    return RecordedDecision(
        decision_id=decision_id,
        scan_id=scan_id,
        clip_id=clip_id,
        status=status,
        previous_status=previous,
        queue_item_id=opened.item_id if opened else None,
        queue_transition=opened.transition if opened else None,
        queue_priority=opened.priority if opened else None,
        queue_due_at=opened.due_at if opened else None,
        rules=tuple(rec.rules),
    )


AlsoInTx = Callable[[Tx, RecordedDecision], Any]


class Decisions:
    """Recording and reading decisions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self,
        rec: DecisionRecord,
        *,
        before: Callable[[Tx], Any] | None = None,
        also: AlsoInTx | None = None,
    ) -> tuple[RecordedDecision, Any]:
        """Write ``rec`` in one transaction; ``before``/``also`` add the door's own rows to it.

        ``before(tx)`` runs first (re-checks that must hold when the write
        happens, rows the decision refers to); ``also(tx, recorded)`` runs
        after, with the ids (a report row, an appeal verdict, a strike). Both
        commit with the decision or not at all. Returns the ids and what
        ``also`` returned.

        The write is group-committed (:meth:`Store.write`): it shares a
        transaction with other callers' writes, and after another write in
        its batch fails it is rolled back and run again -- ``before`` and
        ``also`` included, with fresh ids. They must be safe to re-run: write
        only through ``tx``, and reset (not append to) any outside state they
        fill. Returns when the decision has committed.
        """

        def write(tx: Tx) -> tuple[RecordedDecision, Any]:
            if before is not None:
                before(tx)
            recorded = apply(tx, rec)
            extra = also(tx, recorded) if also is not None else None
            return recorded, extra

        return self.store.write(write)

    # -- reading ----------------------------------------------------------------------------

    def get(self, decision_id: str) -> dict[str, Any] | None:
        rows = self.store.query_dicts(
            "SELECT id, scan_id, clip_id, outcome, rules, shadow, policy_version, queue, "
            "priority, decided_by, reason, created_at, details, door FROM decisions WHERE id = ?",
            [str(decision_id)[:64]],
        )
        if not rows:
            return None
        return _decoded(rows[0])

    def of_clip(self, clip_id: str) -> list[dict[str, Any]]:
        """A clip's decisions, newest first."""
        rows = self.store.query_dicts(
            "SELECT id, scan_id, clip_id, outcome, rules, shadow, policy_version, queue, "
            "priority, decided_by, reason, created_at, details, door FROM decisions "
            "WHERE clip_id = ? ORDER BY created_at DESC, id DESC",
            [clip_id],
        )
        return [_decoded(r) for r in rows]

    def latest_view(self, clip_id: str) -> tuple[dict[str, Any], str | None]:
        """The merged signal view of the clip's last media scan (for re-decisions), and its scan id."""
        row = self.store.query(
            "SELECT view, id FROM scans WHERE clip_id = ? AND view IS NOT NULL "
            "AND stage NOT IN ('report', 'prompt') ORDER BY created_at DESC, id DESC LIMIT 1",
            [clip_id],
        )
        if not row:
            return {}, None
        return dict(loads(row[0][0]) or {}), str(row[0][1])

    def view_of_scan(self, scan_id: str) -> tuple[dict[str, Any], str | None]:
        """A recorded scan's merged signal view and its stage."""
        row = self.store.query("SELECT view, stage FROM scans WHERE id = ?", [scan_id])
        if not row:
            return {}, None
        return dict(loads(row[0][0]) or {}), str(row[0][1])

    def signals_of(self, scan_id: str) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT data FROM signals WHERE scan_id = ? ORDER BY id", [scan_id])
        return [loads(r[0]) for r in rows]

    def scan_by_job(self, job_id: str) -> dict[str, Any] | None:
        rows = self.store.query_dicts(
            "SELECT s.id AS scan_id, s.clip_id, d.id AS decision_id, d.outcome FROM scans s "
            "JOIN decisions d ON d.scan_id = s.id WHERE s.job_id = ?",
            [job_id],
        )
        return rows[0] if rows else None


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("rules", "shadow", "details"):
        row[key] = loads(row[key])
    return row
