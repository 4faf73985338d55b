"""Review queues: counts, items with their evidence, claim, and a moderator's decision with a reason.

A human decision is a ``decisions`` row like the engine's, with
``decided_by`` and ``reason`` set; it moves the clip (publish, age-restrict,
block, take down), resolves the queue item and closes what opened it (the
clip's open reports, the appeal: upheld/overturned, the character dispute),
may count a strike against the creator, and signs a generated clip that was
never signed before it is published -- all audited, in one transaction. A
moderator may decide an open item or one they claimed, never one another
moderator holds.

Every decision may carry a reason **category** (:data:`CATEGORIES`), kept in
the decision's details and the item's resolution. A block or takedown in
``sexual_minors`` also, in the same transaction, adds the clip's hashes to
the child-safety bank (found by its category, created on first use) so a
re-upload is caught at the gate, and puts the evidence on hold
(:mod:`store.evidence`: kept past deletion, every opening logged).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.decide import DecisionRequest, Override
from pipeline.sources import ScanInput
from policies.schema import STRIKE_CATEGORIES
from store import accounts as account_rows
from store import queue as queue_rows
from store.clips import Clips
from store.db import Conflict, NotFound, as_aware, now
from store.decisions import Decisions, RecordedDecision
from store.events import DecisionUndone
from store.evidence import EvidenceHolds
from store.jsondoc import loads
from store.queue import QueueItems
from store.reports import (
    add_strike,
    decide_appeal,
    decide_dispute,
    reopen_closed_by,
    resolve_reports,
    void_strikes,
)
from store.users import User, Users

if TYPE_CHECKING:
    from pipeline.accounts import AccountStanding
    from pipeline.banks import BankService
    from pipeline.decide import DecisionPath
    from pipeline.generate import GenerationService
    from pipeline.provenance import ProvenanceService
    from store.db import Store

# A moderator's action -> (decision outcome in the policy vocabulary, clip status, audience).
ACTIONS: dict[str, tuple[str, str, str | None]] = {
    "publish": ("allow", "published", None),
    "age_restrict": ("age_restrict", "published", "adults"),
    "block": ("block", "blocked", None),
    "takedown": ("takedown", "taken_down", None),
}
# Verdicts on an appeal or a character dispute: the contested decision stands or is reversed.
VERDICTS = ("uphold", "overturn")
BLOCKING = frozenset({"block", "takedown"})
# The doors whose decisions a moderator may undo (their own, in the undo window).
UNDOABLE_DOORS = ("moderator", "appeal_verdict", "dispute_verdict")
REPORTS_QUEUE = "reports"
APPEALS_QUEUE = "appeals"
MAX_REASON_CHARS = 2000
# Reason categories a moderator files a decision under (the policy's strike categories).
CATEGORIES = STRIKE_CATEGORIES
CHILD_SAFETY = "sexual_minors"
# The bank a sexual_minors takedown feeds: the first bank of the hash-bank category
# sexual_minors (the category the default policy's minor_sexual rule reads on a match),
# this one if none exists yet.
CHILD_SAFETY_BANK = "child_safety"
CHILD_SAFETY_BANK_CATEGORY = "sexual_minors"
STAFF_ROLES = ("admin", "moderator")


class ReviewService:
    """The moderators' side of the queues."""

    def __init__(
        self,
        store: Store,
        users: Users,
        path: DecisionPath,
        generation: GenerationService,
        provenance: ProvenanceService,
        banks: BankService,
        accounts: AccountStanding,
        undo_window: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.accounts = accounts
        self.undo_window = undo_window
        self.clock = clock  # what "now" is for the undo window
        self.store = store
        self.users = users
        self.path = path
        self.generation = generation
        self.provenance = provenance
        self.banks = banks
        self.clips = Clips(store)
        self.records = Decisions(store)
        self.queue = QueueItems(store)
        self.evidence = EvidenceHolds(store, banks.blobs)

    # -- reading ---------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per queue: open, claimed, overdue items and the earliest due time."""
        return self.queue.counts()

    def item(self, item_id: str, *, evidence: bool = True) -> dict[str, Any]:
        row = self.queue.get(item_id)
        if evidence:
            row["evidence"] = self._evidence(row)
        return row

    def items(
        self, queue: str, *, include_claimed: bool = True, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Unresolved items of a queue, most urgent first, each with its evidence."""
        rows = self.queue.unresolved(queue, include_claimed=include_claimed, limit=limit)
        for row in rows:
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
                    decision[key] = loads(decision[key])
                if decision["scan_id"]:
                    signals = [
                        loads(r[0])
                        for r in self.store.query(
                            "SELECT data FROM signals WHERE scan_id = ? ORDER BY id",
                            [decision["scan_id"]],
                        )
                    ]
        holds = self.evidence.for_clip(item["clip_id"]) if item["clip_id"] else []
        doc = {"clip": clip, "decision": decision, "signals": signals, "holds": holds}
        if clip is None and decision is not None:
            doc["subject"] = self._clipless_subject(decision)
        if item["queue"] == APPEALS_QUEUE and item["decision_id"]:
            appeal = self.store.query_dicts(
                "SELECT a.id, a.message, a.status, a.created_at, u.handle AS appellant "
                "FROM appeals a JOIN users u ON u.id = a.appellant_id WHERE a.decision_id = ? "
                "ORDER BY a.created_at DESC LIMIT 1",
                [item["decision_id"]],
            )
            doc["appeal"] = appeal[0] if appeal else None
        return doc

    def _clipless_subject(self, decision: dict[str, Any]) -> dict[str, Any]:
        """Whom a prompt or account decision was about, and (for a prompt) the prompt itself."""
        found = (
            self.store.query_dicts(
                "SELECT s.stage, json_extract_string(s.context, '$.prompt') AS prompt, u.handle, "
                "u.id FROM scans s LEFT JOIN users u "
                "ON u.id = json_extract_string(s.context, '$.creator.id') WHERE s.id = ?",
                [decision["scan_id"]],
            )
            if decision.get("scan_id")
            else []
        )
        if not found:
            return {}
        row = found[0]
        subject = {"stage": row["stage"], "handle": row["handle"], "user_id": row["id"]}
        if row["stage"] == "prompt":
            subject["prompt"] = row["prompt"]
        if row["stage"] == "account" and row["id"]:
            subject["actions"] = [
                a
                for a in account_rows.actions_of(self.store, str(row["id"]))
                if a["decision_id"] == decision["id"]
            ]
        return subject

    # -- changing -----------------------------------------------------------------------------

    def claim(self, item_id: str, moderator: User) -> dict[str, Any]:
        """Take an open item (or one whose claim lease ran out); claiming again renews the lease."""
        self._not_own(self.queue.get(item_id), moderator)
        with self.store.transaction() as tx:
            queue_rows.claim(tx, str(item_id)[:64], moderator.id)
        return self.item(item_id, evidence=False)

    def release(self, item_id: str, moderator: User) -> dict[str, Any]:
        """Give a claimed item back to its queue (the holder, or an admin for anyone's)."""
        with self.store.transaction() as tx:
            queue_rows.release(tx, str(item_id)[:64], moderator.id, lead=moderator.role == "admin")
        return self.item(item_id, evidence=False)

    def assign(self, item_id: str, lead: User, handle: str) -> dict[str, Any]:
        """A lead (admin) hands an item to a moderator, taking it from whoever held it (audited).

        The new holder must be staff and may not be the item's own subject
        (their clip, their appeal).
        """
        if lead.role != "admin":
            raise Conflict("only a lead (an admin) assigns items")
        target = self.users.by_handle(str(handle).strip().lstrip("@").lower()[:64])
        if target.role not in STAFF_ROLES or target.disabled:
            raise ValueError(f"@{target.handle} is not an active moderator or admin")
        item = self.queue.get(item_id)
        self._not_own(item, target)
        with self.store.transaction() as tx:
            previous = queue_rows.assign(tx, item["id"], lead.id, target.id)
        return {**self.item(item["id"], evidence=False), "previous_holder": previous}

    def _not_own(self, item: dict[str, Any], moderator: User) -> None:
        """Nobody decides about their own clip or their own appeal."""
        if item["clip_id"] is not None and self._creator_of(item["clip_id"]) == moderator.id:
            raise Conflict("this item is about your own clip; another moderator must decide it")
        if item["decision_id"] and self.store.query(
            "SELECT 1 FROM appeals WHERE decision_id = ? AND appellant_id = ? AND status = 'open'",
            [item["decision_id"], moderator.id],
        ):
            raise Conflict("this item is your own appeal; another moderator must decide it")

    def decide(
        self,
        item_id: str,
        moderator: User,
        action: str,
        reason: str,
        *,
        add_to_bank: str | None = None,
        strike: bool = False,
        category: str | None = None,
    ) -> dict[str, Any]:
        """Record a moderator's decision on an item, move the clip, resolve the item and its origin.

        ``action`` is one of :data:`ACTIONS` or, for appeals and character
        disputes, ``uphold`` / ``overturn`` of the decision they contest. In the
        same transaction: the clip's open reports close (report items), the
        appeal is upheld/overturned, the dispute is resolved, a strike is
        counted (``strike``: block/takedown only), and a generated clip that
        was never signed is signed before it can be published. ``category``
        (one of :data:`CATEGORIES`) is recorded with the decision; a block or
        takedown in ``sexual_minors`` banks the clip's hashes in the
        child-safety bank and holds the evidence.
        """
        if action not in ACTIONS and action not in VERDICTS:
            raise ValueError(f"outcome must be one of: {', '.join([*ACTIONS, *VERDICTS])}")
        if category is not None and category not in CATEGORIES:
            raise ValueError(f"category must be one of: {', '.join(CATEGORIES)}")
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("a decision needs a reason")
        if len(reason) > MAX_REASON_CHARS:
            raise ValueError(f"the reason is longer than {MAX_REASON_CHARS} characters")
        item = self._open_item(item_id, moderator)
        origin = self._origin(item)
        reviewed = self._reviewed(item["decision_id"])
        action_taken, outcome, clip_status, audience = self._resolve_action(
            action, item, origin, reviewed
        )
        if add_to_bank is not None and outcome not in ("block", "takedown"):
            raise ValueError("only a block or takedown can add the clip to a hash bank")
        if strike and outcome not in ("block", "takedown"):
            raise ValueError("only a block or takedown can count a strike")
        creator_id = self._creator_of(item["clip_id"]) or self._subject_of(reviewed)
        if strike and creator_id is None:
            raise ValueError("this item has no clip creator to strike")
        if category == CHILD_SAFETY and outcome in BLOCKING and item["clip_id"] is not None:
            # A confirmed sexual_minors removal always counts: the account rules ban on it.
            strike = strike or creator_id is not None
        pending = None
        work: tempfile.TemporaryDirectory[str] | None = None
        if clip_status == "published" and item["clip_id"] is not None:
            from pipeline.generate import SigningFailed  # the generator stack loads lazily

            generation = self.generation
            if generation.needs_signing(item["clip_id"]):
                tmp_root = self.store.data_dir / "tmp"
                tmp_root.mkdir(parents=True, exist_ok=True)
                work = tempfile.TemporaryDirectory(prefix="review-sign-", dir=tmp_root)
                try:
                    pending = generation.sign_stored(item["clip_id"], Path(work.name))
                except SigningFailed as exc:
                    work.cleanup()
                    raise Conflict(
                        f"not published: the generated clip could not be signed ({exc}); "
                        "nothing was changed"
                    ) from None
        try:
            return self._record(
                item, moderator, action, action_taken, outcome, clip_status, audience, reason,
                origin, reviewed, add_to_bank, strike, creator_id, pending, category,
            )  # fmt: skip
        except BaseException:
            if pending is not None:
                self.provenance.reload()
            raise
        finally:
            if work is not None:
                work.cleanup()

    # -- decide: the parts ------------------------------------------------------------------

    def _open_item(self, item_id: str, moderator: User) -> dict[str, Any]:
        rows = self.store.query_dicts(
            "SELECT id, status, claimed_by, queue, clip_id, decision_id FROM queue_items "
            "WHERE id = ?",
            [str(item_id)[:64]],
        )
        if not rows:
            raise NotFound(f"no queue item {str(item_id)[:64]}")
        item = rows[0]
        if item["status"] == "resolved":
            raise Conflict("this item is already resolved")
        if item["status"] == "claimed" and item["claimed_by"] != moderator.id:
            claimed = self.store.query(
                "SELECT claimed_at FROM queue_items WHERE id = ?", [item["id"]]
            )
            if not (claimed and queue_rows.lease_expired(claimed[0][0])):
                raise Conflict("another moderator has claimed this item")
        self._not_own(item, moderator)
        return item

    def _origin(self, item: dict[str, Any]) -> dict[str, Any]:
        """What opened the item: an appeal, a character dispute, user reports, or the gate."""
        dispute = self.store.query_dicts(
            "SELECT id, character_id, decision_id, clip_id FROM character_disputes "
            "WHERE queue_item_id = ? AND status = 'open'",
            [item["id"]],
        )
        if dispute:
            return {"kind": "dispute", **dispute[0]}
        if item["queue"] == APPEALS_QUEUE:
            appeal = self.store.query_dicts(
                "SELECT id, decision_id, clip_id FROM appeals WHERE decision_id = ? "
                "AND status = 'open' ORDER BY created_at DESC LIMIT 1",
                [item["decision_id"]],
            )
            if appeal:
                return {"kind": "appeal", **appeal[0]}
        stage = self.store.query(
            "SELECT s.stage FROM decisions d JOIN scans s ON s.id = d.scan_id WHERE d.id = ?",
            [item["decision_id"]],
        )
        if item["queue"] == REPORTS_QUEUE or (stage and stage[0][0] == "report"):
            return {"kind": "reports"}
        return {"kind": "gate"}

    def _reviewed(self, decision_id: str | None) -> dict[str, Any] | None:
        if decision_id is None:
            return None
        rows = self.store.query_dicts(
            "SELECT d.id, d.scan_id, d.policy_version, d.outcome, s.stage FROM decisions d "
            "LEFT JOIN scans s ON s.id = d.scan_id WHERE d.id = ?",
            [decision_id],
        )
        return rows[0] if rows else None

    def _subject_of(self, reviewed: dict[str, Any] | None) -> str | None:
        """Whose prompt or account a clip-less decision was about (from its scan's context)."""
        if reviewed is None or reviewed.get("scan_id") is None:
            return None
        rows = self.store.query(
            "SELECT json_extract_string(context, '$.creator.id') FROM scans WHERE id = ?",
            [reviewed["scan_id"]],
        )
        return str(rows[0][0]) if rows and rows[0][0] else None

    def _creator_of(self, clip_id: str | None) -> str | None:
        if clip_id is None:
            return None
        rows = self.store.query("SELECT creator_id FROM clips WHERE id = ?", [clip_id])
        return str(rows[0][0]) if rows and rows[0][0] else None

    def _resolve_action(
        self,
        action: str,
        item: dict[str, Any],
        origin: dict[str, Any],
        reviewed: dict[str, Any] | None,
    ) -> tuple[str, str, str | None, str | None]:
        """(verdict or action, decision outcome, new clip status or None, audience)."""
        if action in ACTIONS:
            if item["clip_id"] is None:
                raise ValueError(
                    "this item has no clip (a prompt-stage decision): decide it with "
                    "'uphold' or 'overturn'"
                )
            outcome, status, audience = ACTIONS[action]
            return action, outcome, status, audience
        if origin["kind"] not in ("appeal", "dispute"):
            raise ValueError("'uphold' and 'overturn' decide appeals and character disputes only")
        contested = (reviewed or {}).get("outcome") or "allow"
        if action == "uphold":
            # Upholding restates the contested outcome; the clip stays as it is.
            return action, contested, None, None
        if item["clip_id"] is None:
            # A prompt-stage decision has no clip to move: the verdict is the record.
            return action, ("allow" if contested in BLOCKING else "block"), None, None
        if contested in BLOCKING or contested == "review":
            return action, "allow", "published", None
        if contested == "age_restrict":
            return action, "allow", "published", "everyone"
        if contested == "label":
            return action, "allow", "published", None
        # Overturning an allow (a rights holder's dispute of a miss) takes the clip down.
        return action, "takedown", "taken_down", None

    def _record(
        self,
        item: dict[str, Any],
        moderator: User,
        action: str,
        verdict_or_action: str,
        outcome: str,
        clip_status: str | None,
        audience: str | None,
        reason: str,
        origin: dict[str, Any],
        reviewed: dict[str, Any] | None,
        add_to_bank: str | None,
        strike: bool,
        creator_id: str | None,
        pending: Any,
        category: str | None = None,
    ) -> dict[str, Any]:
        """The moderator's decision through the decision path (door: moderator or a verdict)."""
        item_id, clip_id = item["id"], item["clip_id"]
        closed: dict[str, Any] = {"origin": origin["kind"]}
        door = {"appeal": "appeal_verdict", "dispute": "dispute_verdict"}.get(
            origin["kind"], "moderator"
        )
        scan_id = reviewed["scan_id"] if reviewed else None
        creator = self.users.get(creator_id) if creator_id else None
        clip = self.clips.find(clip_id) if clip_id else None
        details = {
            "action": action,
            "item_id": item_id,
            "queue": item["queue"],
            "reviewed_decision": item["decision_id"],
            "reviewed_outcome": reviewed["outcome"] if reviewed else None,
            "origin": origin["kind"],
            "add_to_bank": add_to_bank,
            "strike": strike,
            "signed_on_publish": pending is not None,
            "category": category,
            # What an undo restores.
            "clip_status_before": clip["status"] if clip else None,
            "audience_before": clip.get("audience") if clip else None,
        }
        child_safety = category == CHILD_SAFETY and outcome in BLOCKING and clip_id is not None

        def before(tx: Any) -> None:
            # Re-check inside the transaction: another moderator may have won the race.
            queue_rows.check_decidable(tx, item_id, moderator.id)

        def also(tx: Any, recorded: RecordedDecision) -> dict[str, Any]:
            decision_id = recorded.decision_id
            if pending is not None:
                self.generation.record_signature(tx, pending, moderator.id)
                closed["signed"] = True
            if add_to_bank is not None:
                self._add_to_bank(tx, clip_id, add_to_bank, reason, moderator)
            if child_safety and clip_id is not None:
                closed.update(
                    self._child_safety(tx, clip_id, decision_id, item, reviewed, reason, moderator)
                )
            if strike and creator_id is not None:
                closed["strike"] = add_strike(
                    tx, creator_id, decision_id, clip_id, reason, moderator.id, category
                )
            closed.update(
                self._close_origin(tx, item, origin, decision_id, action, outcome, reason, moderator)
            )  # fmt: skip
            resolution = {
                "action": action,
                "outcome": outcome,
                "category": category,
                "reason": reason,
                "decided_by": moderator.id,
                "decision_id": decision_id,
                "closed": closed,
            }
            queue_rows.resolve(tx, item_id, moderator.id, decision_id, resolution, action)
            return closed

        decided = self.path.decide(
            self._human_request(
                door,
                moderator,
                clip,
                creator,
                scan_id,
                Override(
                    outcome=outcome,
                    reason=reason,
                    decided_by=moderator.id,
                    status=clip_status,
                    audience=audience,
                    details=details,
                ),
                before=before,
                also=also,
            )
        )
        if "strike" in closed and creator_id is not None:
            # Its own transaction, after the strike is committed: the account decision
            # reads the strike history it is judged on. A crash in between leaves the
            # strike counted; the next strike judges the account again.
            closed["account"] = self.accounts.evaluate(creator_id, decided.decision_id, moderator)
        return {
            "decision_id": decided.decision_id,
            "outcome": outcome,
            "category": category,
            "item": self.item(item_id, evidence=False),
            "clip_status": self._clip_status(clip_id),
            "closed": closed,
        }

    # -- undo ---------------------------------------------------------------------------------

    def undo(self, decision_id: str, moderator: User, reason: str | None = None) -> dict[str, Any]:
        """Undo your own decision within the undo window; the reversal is a decision (door ``undo``).

        In one transaction: the clip goes back to its status and audience
        before the decision, the item comes back claimed by you (items it
        superseded come back open), the reports, appeal or dispute it closed
        open again, its strikes are voided and account actions it triggered
        are lifted. Refused: someone else's decision, one outside the window,
        one already undone or followed by a later decision on the clip, and
        one that banked the clip's hashes (remove those from the bank instead).
        """
        decision_id = str(decision_id)[:64]
        rows = self.store.query_dicts(
            "SELECT id, clip_id, door, outcome, decided_by, created_at, details FROM decisions "
            "WHERE id = ?",
            [decision_id],
        )
        if not rows or rows[0]["decided_by"] is None:
            raise NotFound(f"no moderator decision {decision_id}")
        row = rows[0]
        details = loads(row["details"]) if isinstance(row["details"], str) else row["details"]
        self._check_undoable(row, details or {}, moderator)
        details = details or {}
        item_id = str(details["item_id"])
        clip_id = row["clip_id"]
        reviewed = self._reviewed(details.get("reviewed_decision"))
        scan_id = reviewed["scan_id"] if reviewed else None
        clip = self.clips.find(clip_id) if clip_id else None
        creator_id = self._creator_of(clip_id) or self._subject_of(reviewed)
        creator = self.users.get(creator_id) if creator_id else None
        restored = (reviewed or {}).get("outcome") or "review"
        note = (reason or "").strip()[:MAX_REASON_CHARS]
        undone: dict[str, Any] = {}

        def before(tx: Any) -> None:
            # Inside the transaction: a second undo, or a decision made meanwhile, loses the race.
            if tx.execute(
                "SELECT 1 FROM decisions WHERE door = 'undo' "
                "AND json_extract_string(details, '$.undoes') = ?",
                [decision_id],
            ).fetchone():
                raise Conflict("this decision was already undone")
            if clip_id is not None:
                latest = tx.execute(
                    "SELECT id FROM decisions WHERE clip_id = ? ORDER BY created_at DESC, id DESC "
                    "LIMIT 1",
                    [clip_id],
                ).fetchone()
                if latest and latest[0] != decision_id:
                    raise Conflict(
                        "a later decision on this clip replaced this one; it cannot be undone"
                    )

        def also(tx: Any, recorded: RecordedDecision) -> dict[str, Any]:
            undone["items"] = queue_rows.reopen_resolved_by(tx, decision_id, moderator.id, item_id)
            undone.update(reopen_closed_by(tx, decision_id))
            undone["voided_strikes"] = void_strikes(tx, decision_id, moderator.id)
            undone["lifted_actions"] = [
                a["id"]
                for a in account_rows.lift_for_trigger(
                    tx, decision_id, moderator.id, f"the decision {decision_id} was undone"
                )
            ]
            tx.audit(
                DecisionUndone(
                    moderator.id,
                    decision_id=decision_id,
                    undo_decision_id=recorded.decision_id,
                    clip_id=clip_id,
                    reopened=dict(undone),
                )
            )
            return undone

        decided = self.path.decide(
            self._human_request(
                "undo",
                moderator,
                clip,
                creator,
                scan_id,
                Override(
                    outcome=restored,
                    reason=f"undo of {decision_id}" + (f": {note}" if note else ""),
                    decided_by=moderator.id,
                    status=details.get("clip_status_before"),
                    audience=details.get("audience_before"),
                    details={"undoes": decision_id, "undone_outcome": row["outcome"]},
                ),
                before=before,
                also=also,
            )
        )
        return {
            "decision_id": decided.decision_id,
            "undoes": decision_id,
            "outcome": restored,
            "clip_status": self._clip_status(clip_id),
            "item": self.item(item_id, evidence=False),
            "reopened": undone,
        }

    def _check_undoable(
        self, row: dict[str, Any], details: dict[str, Any], moderator: User
    ) -> None:
        if row["door"] not in UNDOABLE_DOORS or "item_id" not in details:
            raise Conflict("only a moderator's decision on a queue item can be undone")
        if row["decided_by"] != moderator.id:
            raise Conflict("only the moderator who made a decision can undo it")
        window = self.undo_window
        if window.total_seconds() <= 0:
            raise Conflict("undo is turned off on this server")
        at = self.clock()
        if at - as_aware(row["created_at"], at) > window:
            minutes = int(window.total_seconds() // 60)
            raise Conflict(
                f"the undo window ({minutes} min) has passed; the clip can be decided again "
                "through a report or an appeal"
            )
        banked = details.get("add_to_bank") or (
            details.get("category") == CHILD_SAFETY and row["outcome"] in BLOCKING
        )
        if banked:
            raise Conflict(
                "this decision added the clip's hashes to a bank and cannot be undone here; "
                "remove the entries from the bank and decide the clip again"
            )
        if "clip_status_before" not in details:
            raise Conflict("this decision predates undo and cannot be undone")

    def _human_request(
        self,
        door: str,
        moderator: User,
        clip: dict[str, Any] | None,
        creator: User | None,
        scan_id: str | None,
        override: Override,
        *,
        before: Callable[[Any], None],
        also: Callable[[Any, RecordedDecision], Any],
    ) -> DecisionRequest:
        """A human's decision (or its undo) over what the reviewed scan found, replayed."""
        view, stage = self.records.view_of_scan(scan_id) if scan_id else ({}, None)
        clip_id = clip["id"] if clip else None
        return DecisionRequest(
            door=door,
            scan=ScanInput(
                stage=stage or ("prompt" if clip_id is None else "upload"),  # type: ignore[arg-type]
                creator=creator,
                audience="teen" if creator is not None and creator.is_teen else "adult",
                prompt=clip["prompt"] if clip else None,
                clip_id=clip_id,
            ),
            actor=moderator,
            clip=clip,
            replay_view=view,
            replay_scan_id=scan_id,
            override=override,
            before=before,
            also=also,
        )

    def _clip_status(self, clip_id: str | None) -> str | None:
        if clip_id is None:
            return None
        rows = self.store.query("SELECT status FROM clips WHERE id = ?", [clip_id])
        return str(rows[0][0]) if rows else None

    def _close_origin(
        self,
        tx: Any,
        item: dict[str, Any],
        origin: dict[str, Any],
        decision_id: str,
        action: str,
        outcome: str,
        reason: str,
        moderator: User,
    ) -> dict[str, Any]:
        """Close what opened the item: reports, the appeal, the dispute (same transaction)."""
        clip_id = item["clip_id"]
        closed: dict[str, Any] = {}
        if origin["kind"] == "appeal":
            # Upheld: the appealed decision stands; anything else changed it.
            status = (
                "upheld" if action == "uphold" or outcome == self._contested(item) else "overturned"
            )
            decide_appeal(
                tx, origin["id"], origin["decision_id"], status, moderator.id, reason,
                decision_id, clip_id,
            )  # fmt: skip
            closed["appeal"] = {"id": origin["id"], "status": status}
            if status == "overturned":
                # The contested decision was wrong: its strikes stop counting and the
                # account actions it took end now.
                voided = void_strikes(tx, origin["decision_id"], moderator.id)
                lifted = account_rows.lift_for_decision(
                    tx, origin["decision_id"], moderator.id, f"appeal overturned: {reason}"
                )
                closed["appeal"].update(voided_strikes=voided, lifted_actions=lifted)
        elif origin["kind"] == "dispute":
            verdict = action if action in VERDICTS else (
                "uphold" if outcome == self._contested(item) else "overturn"
            )  # fmt: skip
            decide_dispute(
                tx, origin["id"], origin["character_id"], origin["decision_id"], verdict,
                moderator.id, reason, decision_id, clip_id,
            )  # fmt: skip
            closed["dispute"] = {"id": origin["id"], "status": "resolved", "outcome": verdict}
        if clip_id is not None and origin["kind"] == "reports":
            closed["reports"] = resolve_reports(tx, clip_id, decision_id, moderator.id)
            # The same reports may have opened a specialists' item too (and vice versa):
            # one decision answers them all, so those items resolve with it.
            others = tx.execute(
                "SELECT q.id FROM queue_items q LEFT JOIN decisions d ON d.id = q.decision_id "
                "LEFT JOIN scans s ON s.id = d.scan_id WHERE q.clip_id = ? AND q.id <> ? "
                "AND q.status IN ('open', 'claimed') AND (q.queue = ? OR s.stage = 'report')",
                [clip_id, item["id"], REPORTS_QUEUE],
            ).fetchall()
            for (other_id,) in others:
                queue_rows.resolve(
                    tx, other_id, moderator.id, decision_id,
                    {"superseded_by": item["id"], "decision_id": decision_id, "action": action},
                    "superseded",
                )  # fmt: skip
            closed["superseded_items"] = [str(o[0]) for o in others]
        return closed

    def _contested(self, item: dict[str, Any]) -> str | None:
        rows = self.store.query("SELECT outcome FROM decisions WHERE id = ?", [item["decision_id"]])
        return str(rows[0][0]) if rows else None

    def strikes(self, user_id: str) -> list[dict[str, Any]]:
        """A user's strikes, newest first (staff view)."""
        return self.store.query_dicts(
            "SELECT id, user_id, decision_id, clip_id, reason, category, created_by, created_at, "
            "voided_at FROM strikes WHERE user_id = ? ORDER BY created_at DESC, id",
            [str(user_id)[:64]],
        )

    def _add_to_bank(self, tx: Any, clip_id: str | None, bank: str, reason: str, who: User) -> None:
        if clip_id is None:
            raise ValueError("this item has no clip to add to a hash bank")
        self.banks.add_clip(tx, clip_id, bank, reason, who)

    # -- child safety: bank and hold, in the decision's transaction -------------------------

    def _child_safety_bank(self, tx: Any, moderator: User) -> str:
        """The bank sexual_minors takedowns feed: found by its category, created on first use."""
        row = tx.execute(
            "SELECT b.name FROM hash_banks b JOIN hash_bank_meta m ON m.bank_id = b.id "
            "WHERE m.category = ? ORDER BY (b.name = ?) DESC, b.created_at, b.name LIMIT 1",
            [CHILD_SAFETY_BANK_CATEGORY, CHILD_SAFETY_BANK],
        ).fetchone()
        if row is not None:
            return str(row[0])
        name = CHILD_SAFETY_BANK
        if tx.execute("SELECT 1 FROM hash_banks WHERE name = ?", [name]).fetchone():
            name = f"{CHILD_SAFETY_BANK}_{CHILD_SAFETY_BANK_CATEGORY}"  # the name was taken
        self.banks.repo.create(
            tx,
            name,
            description="Clips moderators removed for child sexual exploitation (automatic).",
            category=CHILD_SAFETY_BANK_CATEGORY,
            actor_id=moderator.id,
        )
        return name

    def _child_safety(
        self,
        tx: Any,
        clip_id: str,
        decision_id: str,
        item: dict[str, Any],
        reviewed: dict[str, Any] | None,
        reason: str,
        moderator: User,
    ) -> dict[str, Any]:
        """Bank the clip's hashes and hold the evidence (the moderator's decision is recorded)."""
        sha_row = tx.execute("SELECT media_sha256 FROM clips WHERE id = ?", [clip_id]).fetchone()
        sha = str(sha_row[0]) if sha_row and sha_row[0] else None
        banked: dict[str, Any] = {"bank": None, "added": 0, "skipped": "no stored media"}
        if sha is not None and self.banks.blobs.exists(sha):
            bank = self._child_safety_bank(tx, moderator)
            added = self.banks.add_clip(tx, clip_id, bank, reason, moderator, severity="critical")
            banked = {
                "bank": bank,
                "added": added.get("added", 0),
                "low_quality_frames": added.get("low_quality_frames", 0),
            }
        hold = self.evidence.hold(
            tx,
            clip_id=clip_id,
            decision_id=decision_id,
            category=CHILD_SAFETY,
            evidence=self._snapshot(tx, clip_id, decision_id, item, reviewed, banked),
            reason=reason,
            actor_id=moderator.id,
        )
        return {"banked": banked, "evidence_hold": hold["id"]}

    def _snapshot(
        self,
        tx: Any,
        clip_id: str,
        decision_id: str,
        item: dict[str, Any],
        reviewed: dict[str, Any] | None,
        banked: dict[str, Any],
    ) -> dict[str, Any]:
        """What the hold keeps: the clip row, every decision on it with its signals, the banking."""

        def rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
            cursor = tx.execute(sql, params)
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

        clip = rows(
            "SELECT id, creator_id, prompt, origin, parent_clip_id, status, media_sha256, "
            "audience, created_at, updated_at FROM clips WHERE id = ?",
            [clip_id],
        )
        decisions = rows(
            "SELECT id, scan_id, door, outcome, rules, details, policy_version, reason, "
            "decided_by, created_at FROM decisions WHERE clip_id = ? ORDER BY created_at",
            [clip_id],
        )
        for d in decisions:
            d["rules"], d["details"] = loads(d["rules"]), loads(d["details"])
        scan_ids = sorted({str(d["scan_id"]) for d in decisions if d["scan_id"]})
        signals: list[dict[str, Any]] = []
        if scan_ids:
            marks = ", ".join("?" for _ in scan_ids)
            signals = [
                {"scan_id": r["scan_id"], **(loads(r["data"]) or {})}
                for r in rows(
                    f"SELECT scan_id, data FROM signals WHERE scan_id IN ({marks}) ORDER BY id",
                    scan_ids,
                )
            ]
        return {
            "clip": clip[0] if clip else {"id": clip_id},
            "queue_item": {"id": item["id"], "queue": item["queue"]},
            "reviewed_decision": (reviewed or {}).get("id"),
            "decision_id": decision_id,
            "decisions": decisions,
            "signals": signals,
            "banked": banked,
        }

    # -- held evidence ----------------------------------------------------------------------

    def evidence_holds(self, clip_id: str) -> list[dict[str, Any]]:
        """A clip's evidence holds (who placed them, when, why); no contents, not logged."""
        return self.evidence.for_clip(clip_id)

    def open_evidence(self, hold_id: str, viewer: User, purpose: str) -> dict[str, Any]:
        """Held evidence with its contents, for staff only; the access is logged first."""
        if viewer.role not in STAFF_ROLES:
            raise NotFound(f"no evidence hold {str(hold_id)[:64]}")
        return self.evidence.open(hold_id, viewer.id, purpose)
