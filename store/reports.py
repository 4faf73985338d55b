"""Reports, appeals, dispute verdicts and strikes: the rows the review loops write, audited.

Each function writes in the caller's transaction, so a report is stored with
the decision it triggered and a verdict with the moderator's decision.
Nothing outside ``store/`` writes the ``reports``, ``appeals``,
``character_disputes`` (verdicts) or ``strikes`` tables.
"""

from __future__ import annotations

from typing import Any

from store.db import Conflict, Tx, new_id, now
from store.events import (
    AppealDecided,
    ClipReported,
    DecisionAppealed,
    DisputeDecided,
    ReportsResolved,
    StrikeAdded,
    StrikesVoided,
)
from store.jsondoc import loads


def open_reports(tx: Tx | Any, clip_id: str) -> list[tuple[str, str]]:
    """(reporter id, reason) of a clip's open reports."""
    return [
        (str(r[0]), str(r[1]))
        for r in tx.execute(
            "SELECT reporter_id, reason FROM reports WHERE clip_id = ? AND status = 'open'",
            [clip_id],
        ).fetchall()
    ]


def insert_report(tx: Tx, clip_id: str, reporter_id: str, reason: str, details: str | None) -> str:
    """A new open report; a second open report by the same person is refused."""
    if tx.execute(
        "SELECT 1 FROM reports WHERE clip_id = ? AND reporter_id = ? AND status = 'open'",
        [clip_id, reporter_id],
    ).fetchone():
        raise Conflict("you have already reported this clip; it is waiting for review")
    report_id = new_id("rep")
    tx.execute(
        "INSERT INTO reports (id, clip_id, reporter_id, reason, details, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'open', ?)",
        [report_id, clip_id, reporter_id, reason, details, now()],
    )
    return report_id


def audit_report(
    tx: Tx,
    reporter_id: str,
    report_id: str,
    clip_id: str,
    reason: str,
    count: int,
    item_id: str,
    decision_id: str,
) -> None:
    tx.audit(
        ClipReported(
            reporter_id,
            report_id=report_id,
            clip_id=clip_id,
            reason=reason,
            count=count,
            queue_item_id=item_id,
            decision_id=decision_id,
        )
    )


def resolve_reports(tx: Tx, clip_id: str, decision_id: str, actor_id: str) -> int:
    n = int(
        tx.execute(
            "SELECT count(*) FROM reports WHERE clip_id = ? AND status = 'open'", [clip_id]
        ).fetchone()[0]
    )
    if n:
        tx.execute(
            "UPDATE reports SET status = 'resolved', resolution_decision_id = ? "
            "WHERE clip_id = ? AND status = 'open'",
            [decision_id, clip_id],
        )
        tx.audit(ReportsResolved(actor_id, clip_id=clip_id, decision_id=decision_id, reports=n))
    return n


def insert_appeal(
    tx: Tx,
    decision_id: str,
    clip_id: str | None,
    appellant_id: str,
    message: str,
    item_id: str,
) -> str:
    if tx.execute(
        "SELECT 1 FROM appeals WHERE decision_id = ? AND status = 'open'", [decision_id]
    ).fetchone():
        raise Conflict("this decision already has an open appeal")
    appeal_id = new_id("apl")
    tx.execute(
        "INSERT INTO appeals (id, decision_id, clip_id, appellant_id, message, status, "
        "created_at) VALUES (?, ?, ?, ?, ?, 'open', ?)",
        [appeal_id, decision_id, clip_id, appellant_id, message, now()],
    )
    tx.audit(
        DecisionAppealed(
            appellant_id,
            appeal_id=appeal_id,
            decision_id=decision_id,
            clip_id=clip_id,
            queue_item_id=item_id,
        )
    )
    return appeal_id


def decide_appeal(
    tx: Tx,
    appeal_id: str,
    appealed_decision_id: str,
    status: str,
    moderator_id: str,
    reason: str,
    decision_id: str,
    clip_id: str | None,
) -> None:
    tx.execute(
        "UPDATE appeals SET status = ?, decided_by = ?, decided_at = ?, "
        "decision_reason = ?, resolution_decision_id = ? WHERE id = ?",
        [status, moderator_id, now(), reason, decision_id, appeal_id],
    )
    tx.audit(
        AppealDecided(
            moderator_id,
            appeal_id=appeal_id,
            appealed_decision_id=appealed_decision_id,
            decision_id=decision_id,
            clip_id=clip_id,
            status=status,
        )
    )


def decide_dispute(
    tx: Tx,
    dispute_id: str,
    character_id: str,
    disputed_decision_id: str | None,
    verdict: str,
    moderator_id: str,
    reason: str,
    decision_id: str,
    clip_id: str | None,
) -> None:
    tx.execute(
        "UPDATE character_disputes SET status = 'resolved', resolved_at = ?, outcome = ?, "
        "decided_by = ?, decision_reason = ?, resolution_decision_id = ? WHERE id = ?",
        [now(), verdict, moderator_id, reason, decision_id, dispute_id],
    )
    tx.audit(
        DisputeDecided(
            moderator_id,
            dispute_id=dispute_id,
            character_id=character_id,
            disputed_decision_id=disputed_decision_id,
            decision_id=decision_id,
            clip_id=clip_id,
            outcome=verdict,
        )
    )


def add_strike(
    tx: Tx,
    user_id: str,
    decision_id: str,
    clip_id: str | None,
    reason: str,
    moderator_id: str,
    category: str | None = None,
) -> dict[str, Any]:
    strike_id = new_id("strk")
    tx.execute(
        "INSERT INTO strikes (id, user_id, decision_id, clip_id, reason, category, created_by, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [strike_id, user_id, decision_id, clip_id, reason, category, moderator_id, now()],
    )
    count = int(
        tx.execute(
            "SELECT count(*) FROM strikes WHERE user_id = ? AND voided_at IS NULL", [user_id]
        ).fetchone()[0]
    )
    tx.audit(
        StrikeAdded(
            moderator_id,
            user_id=user_id,
            strike_id=strike_id,
            decision_id=decision_id,
            clip_id=clip_id,
            reason=reason[:500],
            category=category,
            strikes=count,
        )
    )
    return {"id": strike_id, "user_id": user_id, "strikes": count, "category": category}


def void_strikes(tx: Tx, decision_id: str, moderator_id: str) -> list[str]:
    """Void the strikes a decision counted (its appeal was overturned); their ids."""
    rows = tx.execute(
        "SELECT id, user_id FROM strikes WHERE decision_id = ? AND voided_at IS NULL",
        [decision_id],
    ).fetchall()
    if not rows:
        return []
    tx.execute(
        "UPDATE strikes SET voided_at = ?, voided_by = ? WHERE decision_id = ? "
        "AND voided_at IS NULL",
        [now(), moderator_id, decision_id],
    )
    ids = [str(r[0]) for r in rows]
    tx.audit(
        StrikesVoided(
            moderator_id, user_id=str(rows[0][1]), decision_id=decision_id, strike_ids=ids
        )
    )
    return ids


def overturned_prompt_appeal(store: Any, user_id: str, digest: str) -> dict[str, Any] | None:
    """The latest overturned appeal of a block of this user's prompt (by prompt digest), if any.

    ``reasons`` are the reasons the overturned decision gave: what the moderator cleared.
    """
    rows = store.query_dicts(
        "SELECT a.id AS appeal_id, a.decision_id, d.rules FROM appeals a "
        "JOIN decisions d ON d.id = a.decision_id JOIN scans s ON s.id = d.scan_id "
        "WHERE a.appellant_id = ? AND a.status = 'overturned' AND a.clip_id IS NULL "
        "AND s.stage = 'prompt' AND json_extract_string(s.context, '$.prompt_digest') = ? "
        "ORDER BY a.decided_at DESC LIMIT 1",
        [user_id, digest],
    )
    if not rows:
        return None
    row = rows[0]
    rules = loads(row["rules"]) if isinstance(row["rules"], str) else row["rules"]
    return {
        "appeal_id": row["appeal_id"],
        "decision_id": row["decision_id"],
        "reasons": sorted({str(r.get("reason")) for r in rules or [] if r.get("reason")}),
    }


def reopen_closed_by(tx: Tx, decision_id: str) -> dict[str, Any]:
    """Open again what a (now undone) decision closed: its reports, appeal and dispute.

    Writes no audit row of its own: the undo's ``decision.undone`` event lists
    what was reopened, in the same transaction.
    """
    reports = int(
        tx.execute(
            "SELECT count(*) FROM reports WHERE resolution_decision_id = ?", [decision_id]
        ).fetchone()[0]
    )
    if reports:
        tx.execute(
            "UPDATE reports SET status = 'open', resolution_decision_id = NULL "
            "WHERE resolution_decision_id = ?",
            [decision_id],
        )
    appeals = [
        str(r[0])
        for r in tx.execute(
            "SELECT id FROM appeals WHERE resolution_decision_id = ?", [decision_id]
        ).fetchall()
    ]
    if appeals:
        tx.execute(
            "UPDATE appeals SET status = 'open', decided_by = NULL, decided_at = NULL, "
            "decision_reason = NULL, resolution_decision_id = NULL WHERE resolution_decision_id = ?",
            [decision_id],
        )
    disputes = [
        str(r[0])
        for r in tx.execute(
            "SELECT id FROM character_disputes WHERE resolution_decision_id = ?", [decision_id]
        ).fetchall()
    ]
    if disputes:
        tx.execute(
            "UPDATE character_disputes SET status = 'open', resolved_at = NULL, outcome = NULL, "
            "decided_by = NULL, decision_reason = NULL, resolution_decision_id = NULL "
            "WHERE resolution_decision_id = ?",
            [decision_id],
        )
    return {"reports": reports, "appeals": appeals, "disputes": disputes}


def for_clip(store: Any, clip_id: str) -> dict[str, list[dict[str, Any]]]:
    """A clip's reports (with reporter handles) and appeals (with appellant handles), oldest first."""
    reports = store.query_dicts(
        "SELECT r.id, r.reason, r.details, r.status, r.created_at, r.resolution_decision_id, "
        "u.handle AS reporter FROM reports r LEFT JOIN users u ON u.id = r.reporter_id "
        "WHERE r.clip_id = ? ORDER BY r.created_at, r.id",
        [clip_id],
    )
    appeals = store.query_dicts(
        "SELECT a.id, a.decision_id, a.message, a.status, a.created_at, a.decided_at, "
        "a.decision_reason, a.resolution_decision_id, u.handle AS appellant FROM appeals a "
        "LEFT JOIN users u ON u.id = a.appellant_id WHERE a.clip_id = ? "
        "ORDER BY a.created_at, a.id",
        [clip_id],
    )
    return {"reports": reports, "appeals": appeals}
