"""Account actions and the strike history they are decided from: the ``account_actions`` table's home.

An account action (suspend generation, suspend uploads, ban) is taken by a
policy rule on the account's upheld strikes (:mod:`pipeline.accounts`) and
recorded here with the account decision it belongs to, audited in the same
transaction. :func:`require` is the one check every door that spends compute
or publishes runs: a restricted account gets :class:`AccountRestricted`,
which says what is restricted, until when, and which decision to appeal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from store.db import Conflict, NotFound, StoreError, Tx, as_aware, new_id, now
from store.events import AccountActionLifted, AccountActionTaken

if TYPE_CHECKING:
    from store.db import Store
    from store.users import User

KINDS: tuple[str, ...] = ("suspend_generation", "suspend_uploads", "ban")
# What each capability is stopped by: a ban stops everything an account does to others.
CAPABILITIES: Mapping[str, frozenset[str]] = {
    "generate": frozenset({"suspend_generation", "ban"}),
    "upload": frozenset({"suspend_uploads", "ban"}),
    "report": frozenset({"ban"}),
}
STRIKE_WINDOW = timedelta(days=90)
MAX_LIFT_REASON_CHARS = 2000

_WHAT = {
    "suspend_generation": "generating videos",
    "suspend_uploads": "posting and remixing clips",
    "ban": "this account",
}


class AccountRestricted(StoreError):
    """An account action forbids what was asked; the message is the sentence for the holder."""

    def __init__(self, action: Mapping[str, Any]) -> None:
        self.action = dict(action)
        super().__init__(sentence(action))


def sentence(action: Mapping[str, Any]) -> str:
    """What the account holder reads: what is stopped, until when, why, and how to appeal."""
    kind = str(action["kind"])
    ends = action.get("ends_at")
    until = f"until {_iso(ends)}" if ends else "until an appeal succeeds"
    head = (
        "This account is banned"
        if kind == "ban"
        else f"{_WHAT.get(kind, kind).capitalize()} is suspended for this account"
    )
    return (
        f"{head} {until} ({action.get('reason') or action.get('rule_id')}). "
        f"You can appeal decision {action['decision_id']}."
    )


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _shape(row: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    ends = as_aware(row["ends_at"], at) if row.get("ends_at") else None
    lifted = row.get("lifted_at")
    active = lifted is None and (ends is None or ends > at)
    out = {
        "id": row["id"],
        "kind": row["kind"],
        "rule_id": row["rule_id"],
        "reason": row["reason"],
        "decision_id": row["decision_id"],
        "trigger_decision_id": row.get("trigger_decision_id"),
        "starts_at": _iso(row["starts_at"]),
        "ends_at": _iso(ends) if ends else None,
        "lifted_at": _iso(lifted) if lifted else None,
        "lift_reason": row.get("lift_reason"),
        "active": active,
    }
    out["sentence"] = sentence(out)
    return out


def strike_summary(store: Store | Tx, user_id: str, at: datetime | None = None) -> dict[str, Any]:
    """Upheld (not voided) strikes: all time, in the last 90 days, and by reason category."""
    since = (at or now()) - STRIKE_WINDOW
    sql = "SELECT category, created_at FROM strikes WHERE user_id = ? AND voided_at IS NULL"
    if isinstance(store, Tx):
        rows = store.execute(sql, [user_id]).fetchall()
    else:
        # Every decision reads its user's strikes: kept until a commit writes strikes.
        rows = store.cached(("strikes", user_id), ("strikes",), lambda: store.query(sql, [user_id]))
    categories: dict[str, int] = {}
    recent = 0
    for category, created_at in rows:
        if created_at is not None and created_at >= since:
            recent += 1
            name = str(category or "other")
            categories[name] = categories.get(name, 0) + 1
    return {"strikes": len(rows), "strikes_90d": recent, "strike_categories": categories}


def _rows(store: Store | Tx, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    if isinstance(store, Tx):
        cursor = store.execute(sql, params)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return store.query_dicts(sql, params)


def actions_of(
    store: Store | Tx, user_id: str, *, active_only: bool = False
) -> list[dict[str, Any]]:
    """An account's actions, newest first, each with whether it is in force and its sentence."""
    at = now()
    rows = _rows(
        store,
        "SELECT * FROM account_actions WHERE user_id = ? ORDER BY created_at DESC, id",
        [user_id],
    )
    shaped = [_shape(r, at) for r in rows]
    return [a for a in shaped if a["active"]] if active_only else shaped


def require(store: Store, user: User, capability: str) -> None:
    """Raise :class:`AccountRestricted` when an action in force stops ``capability``."""
    stopped_by = CAPABILITIES[capability]
    for action in actions_of(store, user.id, active_only=True):
        if action["kind"] in stopped_by:
            raise AccountRestricted(action)


def add_action(
    tx: Tx,
    *,
    user_id: str,
    kind: str,
    rule_id: str,
    reason: str,
    decision_id: str,
    trigger_decision_id: str | None,
    days: int | None,
) -> dict[str, Any] | None:
    """Record an action unless the same kind is already in force for at least as long.

    Returns the new action, or None when an action in force already covers it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown account action {kind!r}; one of: {', '.join(KINDS)}")
    at = now()
    ends = at + timedelta(days=days) if days is not None else None
    for have in actions_of(tx, user_id, active_only=True):
        if have["kind"] != kind:
            continue
        have_end = have["ends_at"]
        if have_end is None or (ends is not None and datetime.fromisoformat(have_end) >= ends):
            return None
    action_id = new_id("act")
    tx.execute(
        "INSERT INTO account_actions (id, user_id, kind, rule_id, reason, decision_id, "
        "trigger_decision_id, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [action_id, user_id, kind, rule_id, reason, decision_id, trigger_decision_id, at, ends, at],
    )
    tx.audit(
        AccountActionTaken(
            None,
            user_id=user_id,
            action_id=action_id,
            kind=kind,
            rule_id=rule_id,
            decision_id=decision_id,
            trigger_decision_id=trigger_decision_id,
            ends_at=ends.isoformat() if ends else None,
        )
    )
    return _shape(
        {
            "id": action_id,
            "kind": kind,
            "rule_id": rule_id,
            "reason": reason,
            "decision_id": decision_id,
            "trigger_decision_id": trigger_decision_id,
            "starts_at": at,
            "ends_at": ends,
        },
        at,
    )


def lift(tx: Tx, action_id: str, by: str | None, reason: str) -> dict[str, Any]:
    """End an action in force now (staff, an overturned appeal, or the CLI: ``by`` None); audited."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("lifting an account action needs a reason")
    if len(reason) > MAX_LIFT_REASON_CHARS:
        raise ValueError(f"the reason is longer than {MAX_LIFT_REASON_CHARS} characters")
    rows = _rows(tx, "SELECT * FROM account_actions WHERE id = ?", [action_id])
    if not rows:
        raise NotFound(f"no account action {action_id}")
    row = rows[0]
    at = now()
    if not _shape(row, at)["active"]:
        raise Conflict(f"account action {action_id} is not in force")
    tx.execute(
        "UPDATE account_actions SET lifted_at = ?, lifted_by = ?, lift_reason = ? WHERE id = ?",
        [at, by, reason, action_id],
    )
    tx.audit(
        AccountActionLifted(
            by,
            user_id=str(row["user_id"]),
            action_id=action_id,
            kind=str(row["kind"]),
            reason=reason,
        )
    )
    return _shape({**row, "lifted_at": at, "lifted_by": by, "lift_reason": reason}, at)


def _lift_in_force(
    tx: Tx, column: str, decision_id: str, by: str, reason: str
) -> list[dict[str, Any]]:
    at = now()
    rows = _rows(
        tx,
        f"SELECT * FROM account_actions WHERE {column} = ? AND lifted_at IS NULL",
        [decision_id],
    )
    return [lift(tx, str(r["id"]), by, reason) for r in rows if _shape(r, at)["active"]]


def lift_for_decision(tx: Tx, decision_id: str, by: str, reason: str) -> list[dict[str, Any]]:
    """Lift every action in force that an (overturned) account decision took."""
    return _lift_in_force(tx, "decision_id", decision_id, by, reason)


def lift_for_trigger(
    tx: Tx, trigger_decision_id: str, by: str, reason: str
) -> list[dict[str, Any]]:
    """Lift every action in force that a (now undone) moderator's decision triggered."""
    return _lift_in_force(tx, "trigger_decision_id", trigger_decision_id, by, reason)


def user_of_action(store: Store, action_id: str) -> str:
    rows = store.query("SELECT user_id FROM account_actions WHERE id = ?", [action_id])
    if not rows:
        raise NotFound(f"no account action {action_id}")
    return str(rows[0][0])
