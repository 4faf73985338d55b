"""Account standing: strikes judged by the policy's account rules, and the actions that follow.

When a moderator counts a strike, :meth:`AccountStanding.evaluate` sends the
account through the one decision path at the ``account`` door: no signal
source runs; the policy sees the creator's upheld strikes (all time, in 90
days, by category) at ``context.stage == "account"``, and each fired rule
with an ``account_action`` (suspend generation, suspend uploads, ban) is
recorded with the decision in the same transaction. The decision is the
account holder's to see (:meth:`standing`) and to appeal; an overturned
appeal lifts the actions it took (:mod:`pipeline.review`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.decide import DecisionRequest
from pipeline.sources import ScanInput
from store import accounts as account_rows
from store.decisions import RecordedDecision

if TYPE_CHECKING:
    from pipeline.decide import DecisionPath
    from store.db import Store, Tx
    from store.users import User, Users

ACCOUNT_DOOR = "account"


class AccountStanding:
    """Judges an account's strikes and answers what the account may do."""

    def __init__(self, store: Store, users: Users, path: DecisionPath) -> None:
        self.store = store
        self.users = users
        self.path = path

    def evaluate(
        self, user_id: str, trigger_decision_id: str | None, actor: User | None
    ) -> dict[str, Any]:
        """Judge the account now; record the account decision and any action it takes."""
        user = self.users.get(user_id)

        def also(tx: Tx, recorded: RecordedDecision) -> list[dict[str, Any]]:
            taken = []
            for rule in recorded.rules:
                spec = rule.get("account_action")
                if not spec:
                    continue
                action = account_rows.add_action(
                    tx,
                    user_id=user.id,
                    kind=str(spec["kind"]),
                    rule_id=str(rule["id"]),
                    reason=str(rule.get("reason") or rule["id"]),
                    decision_id=recorded.decision_id,
                    trigger_decision_id=trigger_decision_id,
                    days=spec.get("days"),
                )
                if action is not None:
                    taken.append(action)
            return taken

        decided = self.path.decide(
            DecisionRequest(
                door=ACCOUNT_DOOR,
                scan=ScanInput(
                    stage="account",
                    creator=user,
                    audience="teen" if user.is_teen else "adult",
                ),
                actor=actor,
                live_sources=False,
                context={"trigger_decision_id": trigger_decision_id or ""},
                also=also,
            )
        )
        return {
            "decision_id": decided.decision_id,
            "outcome": decided.decision["outcome"],
            "rules": [r["id"] for r in decided.decision["rules"]],
            "actions": decided.extra or [],
        }

    def standing(self, user: User) -> dict[str, Any]:
        """What the account holder sees: upheld strikes, actions in force and past, each appealable."""
        actions = account_rows.actions_of(self.store, user.id)
        for action in actions:
            appeal = self.store.query_dicts(
                "SELECT id, status, created_at FROM appeals WHERE decision_id = ? "
                "ORDER BY created_at DESC LIMIT 1",
                [action["decision_id"]],
            )
            action["appeal"] = (
                {"id": appeal[0]["id"], "status": appeal[0]["status"]} if appeal else None
            )
        return {
            **account_rows.strike_summary(self.store, user.id),
            "actions": actions,
            "restricted": sorted({a["kind"] for a in actions if a["active"]}),
        }

    def require(self, user: User, capability: str) -> None:
        """Refuse (:class:`store.accounts.AccountRestricted`) what an action in force stops."""
        account_rows.require(self.store, user, capability)

    def lift(self, action_id: str, staff: User, reason: str) -> dict[str, Any]:
        """Staff end an action early, with a reason (audited)."""
        with self.store.transaction() as tx:
            return account_rows.lift(tx, str(action_id)[:64], staff.id, reason)
