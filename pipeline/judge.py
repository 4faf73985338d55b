"""Judging one merged signal view: the policy part of the decision path, pure so backtests replay it.

The active version decides; the shadow version is evaluated and compared,
never enforced; a failed detector source forces at least ``review`` (a clip is
never published because a detector crashed); an adult's clip is judged again
for a teen audience to decide whether it is shown to teens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from policies.engine import Decision, PolicySet
from policies.schema import OUTCOME_RANK
from policies.shadow import Record, compare

SOURCE_ERROR_QUEUE = "scan_errors"
SOURCE_ERROR_PRIORITY = 50


@dataclass
class Judgement:
    """The policy's answer for one merged view: the decision document plus the clip audience."""

    decision: dict[str, Any]
    audience: str  # the clip's audience: everyone or adults
    teen_check: dict[str, Any] | None


def with_forced_review(
    decision: Decision, source_errors: Sequence[Mapping[str, str]]
) -> tuple[Decision, bool]:
    """The decision raised to ``review`` (with a queue) when a source failed; and whether it was."""
    if not source_errors:
        return decision, False
    if OUTCOME_RANK[decision.outcome] < OUTCOME_RANK["review"]:
        return replace(
            decision,
            outcome="review",
            queue=SOURCE_ERROR_QUEUE,
            priority=SOURCE_ERROR_PRIORITY,
        ), True
    if decision.queue is None:
        return replace(decision, queue=SOURCE_ERROR_QUEUE, priority=SOURCE_ERROR_PRIORITY), True
    return decision, False


def judge(
    active: PolicySet,
    shadow_set: PolicySet | None,
    view: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    source_errors: Sequence[Mapping[str, str]] = (),
    stage: str,
) -> Judgement:
    """Active version, shadow comparison, forced review on a failed source, the teen-audience check."""
    evaluated = active.evaluate(view, context)
    decision, forced = with_forced_review(evaluated, source_errors)
    doc = decision.to_dict()
    shadow_doc: dict[str, Any] = {
        "rules": doc["shadow"],
        "outcome": doc["shadow_outcome"],
        "version": None,
        "comparison": None,
    }
    if shadow_set is not None and shadow_set.version != active.version:
        other, _ = with_forced_review(shadow_set.evaluate(view, context), source_errors)
        shadow_doc["version"] = shadow_set.version
        shadow_doc["comparison"] = compare(decision.outcome, decision.rule_ids, other).to_dict()
        shadow_doc["version_rules"] = [r.to_dict() for r in other.rules]
    doc["shadow"] = shadow_doc
    doc["forced_review"] = forced
    audience = "everyone"
    teen_check: dict[str, Any] | None = None
    if stage != "prompt" and context.get("audience") == "adult":
        teen = active.evaluate(view, {**context, "audience": "teen"})
        teen_check = {"outcome": teen.outcome, "rules": teen.rule_ids}
        if OUTCOME_RANK[teen.outcome] > OUTCOME_RANK["label"]:
            audience = "adults"
    elif stage != "prompt":
        teen_check = {"outcome": doc["outcome"], "rules": [r["id"] for r in doc["rules"]]}
    if doc["outcome"] == "age_restrict":
        audience = "adults"
    return Judgement(doc, audience, teen_check)


def replay(policy: PolicySet, record: Record) -> Decision:
    """A stored decision's inputs judged again by ``policy`` the way the decision path judges them."""
    decision, _ = with_forced_review(
        policy.evaluate(record.signals, record.context), record.source_errors
    )
    return decision
