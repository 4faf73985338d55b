"""Reports and appeals: the report door of the decision path, and appeals as queue items.

Reports open or escalate ONE ``reports`` queue item per clip with a deadline
by reason, and re-decide the clip's last scan with the active policy at stage
``report`` (a re-decision naming its own queue, e.g. ``child_safety``, also
opens or escalates ONE item there). A live clip leaves the feed before review
only when the report is corroborated -- several distinct reporters weighted
by account age, or staff -- or the re-decision stops it from a detector's
finding. Appeals (the clip's creator only) open an ``appeals`` item.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pipeline.decide import DecisionRequest
from pipeline.lineage import can_see
from pipeline.sources import ScanInput
from store import accounts as account_rows
from store.clips import Clips
from store.db import Conflict, NotFound, as_aware, now
from store.decisions import Decisions, RecordedDecision
from store.queue import QueueRequest, open_or_escalate
from store.reports import audit_report, insert_appeal, insert_report, open_reports
from store.users import User, Users

if TYPE_CHECKING:
    from pipeline.decide import DecisionPath
    from store.db import Store
STAFF_ROLES = frozenset({"admin", "moderator"})
REPORTS_QUEUE = "reports"
APPEALS_QUEUE = "appeals"

# Report reason -> (priority, deadline). Child safety is the only one-hour
# class; harms to a real person (likeness, self-harm) come next.
REPORT_REASONS: dict[str, tuple[int, timedelta]] = {
    "child_safety": (95, timedelta(hours=1)),
    "self_harm": (85, timedelta(hours=4)),
    "likeness": (80, timedelta(hours=4)),
    "sexual_content": (60, timedelta(hours=24)),
    "violence": (60, timedelta(hours=24)),
    "hate": (60, timedelta(hours=24)),
    "harassment": (50, timedelta(hours=24)),
    "copyright": (40, timedelta(hours=24)),
    "spam": (30, timedelta(hours=24)),
    "other": (30, timedelta(hours=24)),
}
# Each further distinct reporter makes the item a little more urgent.
ESCALATION_STEP = 5
MAX_PRIORITY = 100
# A report-stage decision at or above this priority holds the clip out of the
# feed until a human decides (lower ones stay live: reports alone must not let
# a brigade take a clip down).
HOLD_PRIORITY = 90
# Hiding a live clip before review needs this much corroboration: distinct reporters,
# each counting 1.0 (accounts 30+ days old), 0.5 (7+ days) or 0.25 (newer). Staff count at once.
CORROBORATION_WEIGHT = 2.0
APPEAL_PRIORITY = 50
APPEAL_DEADLINE = timedelta(hours=24)
APPEALABLE = frozenset({"block", "takedown", "age_restrict", "label"})
MAX_DETAILS_CHARS = 2000


class ReportService:
    """Reports of clips and appeals of decisions."""

    def __init__(self, store: Store, users: Users, path: DecisionPath) -> None:
        self.store = store
        self.users = users
        self.path = path
        self.clips = Clips(store)
        self.records = Decisions(store)

    def _clip(self, clip_id: str) -> dict[str, Any]:
        return self.clips.get(clip_id)

    def report(
        self, user: User, clip_id: str, reason: str, details: str | None = None
    ) -> dict[str, Any]:
        """Report a clip: the report door of the decision path, re-deciding its last scan.

        One ``reports`` queue item per clip (escalated by repeats). A live clip
        is held out of the feed before review only when the report is
        corroborated (see :func:`corroborated`) or the re-decision itself
        blocks it from a detector's finding; a re-decision naming its own queue
        (``child_safety`` at 90+) also opens or escalates an item there.
        """
        account_rows.require(self.store, user, "report")
        reason = (reason or "").strip().lower()
        if reason not in REPORT_REASONS:
            raise ValueError(f"reason must be one of: {', '.join(REPORT_REASONS)}")
        details = (details or "").strip() or None
        if details is not None and len(details) > MAX_DETAILS_CHARS:
            raise ValueError(f"details are longer than {MAX_DETAILS_CHARS} characters")
        clip = self._clip(clip_id)
        if not can_see(clip, user):
            raise NotFound(f"no clip {clip['id']}")
        if clip["creator_id"] == user.id:
            raise ValueError("you cannot report your own clip")
        at = now()
        others = [r for r in open_reports(self.store.conn, clip["id"]) if r[0] != user.id]
        reporters = [*{r[0] for r in others}, user.id]
        reasons = sorted({r[1] for r in others} | {reason})
        count = len(others) + 1
        base = max(REPORT_REASONS[r][0] for r in reasons)
        due = at + min(REPORT_REASONS[r][1] for r in reasons)
        view, scan_id = self.records.latest_view(clip["id"])
        creator = self.users.get(clip["creator_id"]) if clip["creator_id"] else None
        weight = self.reporter_weight(reporters)
        staff = user.role in STAFF_ROLES
        corroboration = {"reporters": len(reporters), "weight": round(weight, 2), "staff": staff}
        item_reason = f"reports: {count} ({', '.join(reasons)})"

        def status_rule(doc: dict[str, Any]) -> str | None:
            if clip["status"] != "published":
                return None
            if doc["outcome"] in ("block", "takedown"):
                return "taken_down"
            held = int(doc.get("priority") or 0) >= HOLD_PRIORITY
            if doc["outcome"] == "review" and held and (staff or weight >= CORROBORATION_WEIGHT):
                return "queued"
            return None

        report_id: list[str] = []

        def before(tx: Any) -> None:
            # Assign, not append: a group-committed write may run again after a rollback.
            report_id[:] = [insert_report(tx, clip["id"], user.id, reason, details)]

        def also(tx: Any, recorded: RecordedDecision) -> dict[str, Any]:
            doc = result_doc[0] if result_doc else {}
            specialist = doc.get("queue")
            item = None
            if specialist and specialist != REPORTS_QUEUE:
                item = open_or_escalate(
                    tx,
                    clip["id"],
                    recorded.decision_id,
                    QueueRequest(str(specialist), recorded.queue_priority or base,
                                 item_reason, recorded.queue_due_at),
                    user.id,
                )  # fmt: skip
            audit_report(
                tx, user.id, report_id[0], clip["id"], reason, count,
                recorded.queue_item_id or "", recorded.decision_id,
            )  # fmt: skip
            return {"specialist": item}

        result_doc: list[dict[str, Any]] = []
        decided_queue: list[QueueRequest] = []

        def queue_for(doc: dict[str, Any]) -> QueueRequest:
            # The policy's priority can raise the reports item and shorten its deadline.
            result_doc.append(doc)
            policy_priority = int(doc.get("priority") or 0)
            p = min(MAX_PRIORITY, max(base, policy_priority) + ESCALATION_STEP * (count - 1))
            d = min(due, at + timedelta(hours=1)) if policy_priority >= HOLD_PRIORITY else due
            why = item_reason + (f"; policy routes to {doc['queue']}" if doc.get("queue") else "")
            decided_queue.append(QueueRequest(REPORTS_QUEUE, p, why, d))
            return decided_queue[0]

        scan = ScanInput(
            stage="report",
            creator=creator,
            audience="teen" if creator is not None and creator.is_teen else "adult",
            prompt=clip["prompt"],
            clip_id=clip["id"],
        )
        req = DecisionRequest(
            door="report",
            scan=scan,
            actor=user,
            clip=clip,
            replay_view=view,
            replay_scan_id=scan_id,
            context={
                "report": {"reason": reason, "count": count, "reasons": reasons},
                "corroboration": corroboration,
            },
            status_rule=status_rule,
            queue=queue_for,
            before=before,
            also=also,
        )
        decided = self.path.decide(req)
        probe = result_doc[0]
        queued = decided_queue[0]
        specialist_item = (decided.extra or {}).get("specialist")
        return {
            "report_id": report_id[0],
            "clip_id": clip["id"],
            "queue_item_id": decided.queue_item_id,
            "queue": REPORTS_QUEUE,
            "priority": decided.queue_priority or queued.priority,
            "due_at": (decided.queue_due_at or queued.due_at or due).isoformat(),
            "reports": count,
            "transition": decided.queue_transition,
            "decision": {
                "id": decided.decision_id,
                "scan_id": decided.scan_id,
                "outcome": decided.decision["outcome"],
                "rules": [r["id"] for r in decided.decision["rules"]],
                "version": decided.decision["version"],
            },
            "clip_status": decided.status,
            "held": decided.status == "queued" and clip["status"] == "published",
            "specialist_queue": specialist_item and probe.get("queue"),
            "specialist_item_id": specialist_item.item_id if specialist_item else None,
        }

    def _appeal_kind(self, decision: dict[str, Any]) -> str:
        """clip, prompt or account; refuses a decision that is not (or no longer) appealable."""
        if decision["clip_id"]:
            latest = self.store.query(
                "SELECT id FROM decisions WHERE clip_id = ? ORDER BY created_at DESC, id DESC "
                "LIMIT 1",
                [decision["clip_id"]],
            )
            if latest and latest[0][0] != decision["id"]:
                raise Conflict("a newer decision replaced this one; appeal the latest decision")
            return "clip"
        if decision["door"] == "account":
            if not any(
                a["decision_id"] == decision["id"] and a["active"]
                for a in account_rows.actions_of(self.store, str(decision["subject_id"]))
            ):
                raise ValueError("this account decision has no action in force to appeal")
            return "account"
        if decision["stage"] == "prompt":
            return "prompt"
        raise ValueError("this decision cannot be appealed")

    def reporter_weight(self, reporter_ids: list[str]) -> float:
        """How much a set of distinct reporters counts: new accounts count less."""
        if not reporter_ids:
            return 0.0
        marks = ", ".join("?" for _ in reporter_ids)
        rows = self.store.query(
            f"SELECT id, created_at FROM users WHERE id IN ({marks})", list(reporter_ids)
        )
        at = now()
        total = 0.0
        for _, created in rows:
            age_days = (at - as_aware(created, at)).total_seconds() / 86400.0
            total += 1.0 if age_days >= 30 else 0.5 if age_days >= 7 else 0.25
        return total

    def appeal(self, user: User, decision_id: str, message: str) -> dict[str, Any]:
        """Appeal a decision about you: an ``appeals`` item with a deadline.

        Appealable: the latest decision on your own clip, a block of your
        prompt (the prompt check or a generation request), and an account
        decision whose action (suspension, ban) is in force.
        """
        message = (message or "").strip()
        if not message:
            raise ValueError("an appeal needs a message")
        if len(message) > MAX_DETAILS_CHARS:
            raise ValueError(f"the message is longer than {MAX_DETAILS_CHARS} characters")
        decision_id = str(decision_id)[:64]
        rows = self.store.query_dicts(
            "SELECT d.id, d.clip_id, d.outcome, d.door, c.creator_id, s.stage, "
            "json_extract_string(s.context, '$.creator.id') AS subject_id FROM decisions d "
            "LEFT JOIN clips c ON c.id = d.clip_id LEFT JOIN scans s ON s.id = d.scan_id "
            "WHERE d.id = ?",
            [decision_id],
        )
        decision = rows[0] if rows else None
        owner = None
        if decision is not None:
            owner = decision["creator_id"] if decision["clip_id"] else decision["subject_id"]
        # Someone else's decision answers like a missing one: it is not theirs to know of.
        if decision is None or owner != user.id:
            raise NotFound(f"no decision {decision_id}")
        kind = self._appeal_kind(decision)
        if decision["outcome"] not in APPEALABLE:
            raise ValueError(
                f"a decision with outcome {decision['outcome']!r} cannot be appealed; "
                f"appealable: {', '.join(sorted(APPEALABLE))}"
            )
        at = now()
        due = at + APPEAL_DEADLINE
        with self.store.transaction() as tx:
            item = open_or_escalate(
                tx,
                decision["clip_id"],
                decision_id,
                QueueRequest(
                    APPEALS_QUEUE,
                    APPEAL_PRIORITY,
                    f"appeal of {kind} {decision['outcome']}: {message[:200]}",
                    due,
                    # A clip-less decision (a prompt, an account) has one item per decision.
                    dedupe_key=None if decision["clip_id"] else f"appeal:{decision_id}",
                ),
                user.id,
            )
            appeal_id = insert_appeal(
                tx, decision_id, decision["clip_id"], user.id, message, item.item_id
            )
        item_id = item.item_id
        return {
            "appeal_id": appeal_id,
            "decision_id": decision_id,
            "kind": kind,
            "clip_id": decision["clip_id"],
            "queue": APPEALS_QUEUE,
            "queue_item_id": item_id,
            "priority": APPEAL_PRIORITY,
            "due_at": due.isoformat(),
            "status": "open",
        }
