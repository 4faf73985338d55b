"""Comparing policy versions without enforcing them: shadow evaluation and backtests.

``evaluate_with_shadow`` decides with the active set and re-decides with each
shadow set, reporting what would differ; :class:`DiffTally` counts those
differences per outcome and per rule over many decisions; :func:`backtest`
runs a candidate over stored (signals, context) records. Nothing here writes
anything: the caller stores what it wants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.engine import Decision, PolicySet

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Comparison:
    """How one other policy version would have decided the same input."""

    version: str
    outcome: str
    baseline_outcome: str
    rules_added: tuple[str, ...]
    rules_removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.outcome != self.baseline_outcome or bool(self.rules_added or self.rules_removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "outcome": self.outcome,
            "baseline_outcome": self.baseline_outcome,
            "changed": self.changed,
            "rules_added": list(self.rules_added),
            "rules_removed": list(self.rules_removed),
        }


def compare(baseline_outcome: str, baseline_rules: Iterable[str], other: Decision) -> Comparison:
    base = set(baseline_rules)
    mine = set(other.rule_ids)
    return Comparison(
        version=other.version,
        outcome=other.outcome,
        baseline_outcome=baseline_outcome,
        rules_added=tuple(sorted(mine - base)),
        rules_removed=tuple(sorted(base - mine)),
    )


def evaluate_with_shadow(
    active: PolicySet,
    shadow_sets: Sequence[PolicySet],
    signals: Mapping[str, Any],
    context: Mapping[str, Any],
) -> tuple[Decision, list[Comparison]]:
    """The enforced decision (from ``active``) and, per shadow set, how it would differ."""
    decision = active.evaluate(signals, context)
    comparisons = [
        compare(decision.outcome, decision.rule_ids, shadow.evaluate(signals, context))
        for shadow in shadow_sets
    ]
    return decision, comparisons


@dataclass
class DiffTally:
    """Difference counts between a baseline and a candidate over many decisions."""

    candidate_version: str
    baseline_version: str
    records: int = 0
    changed: int = 0
    errors: int = 0
    baseline_outcomes: Counter[str] = field(default_factory=Counter)
    candidate_outcomes: Counter[str] = field(default_factory=Counter)
    transitions: Counter[str] = field(default_factory=Counter)
    baseline_rules: Counter[str] = field(default_factory=Counter)
    candidate_rules: Counter[str] = field(default_factory=Counter)
    rules_added: Counter[str] = field(default_factory=Counter)
    rules_removed: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(
        self,
        baseline_outcome: str,
        baseline_rules: Iterable[str],
        candidate: Decision,
        clip_id: str | None = None,
    ) -> Comparison:
        base_rules = list(baseline_rules)
        comparison = compare(baseline_outcome, base_rules, candidate)
        self.records += 1
        self.errors += bool(candidate.errors)
        self.baseline_outcomes[baseline_outcome] += 1
        self.candidate_outcomes[candidate.outcome] += 1
        self.baseline_rules.update(base_rules)
        self.candidate_rules.update(candidate.rule_ids)
        self.rules_added.update(comparison.rules_added)
        self.rules_removed.update(comparison.rules_removed)
        if comparison.changed:
            self.changed += 1
        if comparison.outcome != comparison.baseline_outcome:
            key = f"{baseline_outcome}->{candidate.outcome}"
            self.transitions[key] += 1
            bucket = self.examples.setdefault(key, [])
            if clip_id is not None and len(bucket) < MAX_EXAMPLES:
                bucket.append(clip_id)
        return comparison

    def to_dict(self) -> dict[str, Any]:
        outcomes = sorted(set(self.baseline_outcomes) | set(self.candidate_outcomes))
        rules = sorted(set(self.baseline_rules) | set(self.candidate_rules))
        return {
            "candidate_version": self.candidate_version,
            "baseline_version": self.baseline_version,
            "records": self.records,
            "changed": self.changed,
            "outcome_changed": sum(self.transitions.values()),
            "errors": self.errors,
            "outcomes": {
                o: {"baseline": self.baseline_outcomes[o], "candidate": self.candidate_outcomes[o]}
                for o in outcomes
            },
            "transitions": dict(sorted(self.transitions.items())),
            "rules": {
                r: {
                    "baseline": self.baseline_rules[r],
                    "candidate": self.candidate_rules[r],
                    "added": self.rules_added[r],
                    "removed": self.rules_removed[r],
                }
                for r in rules
            },
            "examples": self.examples,
        }


@dataclass(frozen=True)
class Record:
    """Stored inputs of one past decision; ``decision`` holds what was decided then, if known."""

    clip_id: str
    signals: Mapping[str, Any]
    context: Mapping[str, Any]
    decision: Mapping[str, Any] | None = None
    # Detector sources that failed when it was decided (the decision path forces review then).
    source_errors: tuple[Mapping[str, str], ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], index: int = 0) -> Record:
        if not isinstance(raw, Mapping):
            raise ValueError(f"record {index + 1}: expected an object")
        signals = raw.get("signals")
        context = raw.get("context")
        signals = {} if signals is None else signals
        context = {} if context is None else context
        decision = raw.get("decision")
        if not isinstance(signals, Mapping) or not isinstance(context, Mapping):
            raise ValueError(f"record {index + 1}: signals and context must be objects")
        if decision is not None and not (
            isinstance(decision, Mapping) and isinstance(decision.get("outcome"), str)
        ):
            raise ValueError(f"record {index + 1}: decision must be an object with an outcome")
        return cls(str(raw.get("clip_id") or f"record-{index + 1}"), signals, context, decision)


def _recorded_rules(decision: Mapping[str, Any]) -> list[str]:
    rules = decision.get("rules") or []
    return [r["id"] if isinstance(r, Mapping) else str(r) for r in rules]


Judge = Callable[[PolicySet, Record], Decision]


def _plain(policy: PolicySet, record: Record) -> Decision:
    return policy.evaluate(record.signals, record.context)


def backtest(
    candidate: PolicySet,
    records: Iterable[Record],
    baseline: PolicySet | None = None,
    judge: Judge = _plain,
) -> DiffTally:
    """Re-decide ``records`` with ``candidate`` and count what changes; changes nothing.

    The baseline is ``baseline`` re-evaluated on the same inputs when given,
    otherwise each record's stored decision (a record without one is an error).
    """
    tally = DiffTally(
        candidate_version=candidate.version,
        baseline_version=baseline.version if baseline is not None else "recorded",
    )
    for index, record in enumerate(records):
        if baseline is not None:
            before = judge(baseline, record)
            base_outcome, base_rules = before.outcome, before.rule_ids
        elif record.decision is not None:
            base_outcome = str(record.decision["outcome"])
            base_rules = _recorded_rules(record.decision)
        else:
            raise ValueError(
                f"record {index + 1} ({record.clip_id}) has no stored decision; give a baseline policy"
            )
        tally.add(
            base_outcome,
            base_rules,
            judge(candidate, record),
            record.clip_id,
        )
    return tally


def shadow_tally(active: PolicySet, shadow: PolicySet) -> DiffTally:
    """An empty tally for counting a shadow set against the active one (see :meth:`DiffTally.add`)."""
    return DiffTally(candidate_version=shadow.version, baseline_version=active.version)


def diff_versions(old: PolicySet, new: PolicySet) -> dict[str, Any]:
    """What an author changed between two versions: rules and thresholds added, removed, changed."""
    old_rules = {r.spec.id: r.spec.model_dump(mode="json") for r in old.rules}
    new_rules = {r.spec.id: r.spec.model_dump(mode="json") for r in new.rules}
    old_t = {k: v.model_dump(mode="json") for k, v in old.thresholds.items()}
    new_t = {k: v.model_dump(mode="json") for k, v in new.thresholds.items()}

    def changed(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
        return sorted(k for k in a.keys() & b.keys() if a[k] != b[k])

    return {
        "from_version": old.version,
        "to_version": new.version,
        "rules_added": sorted(new_rules.keys() - old_rules.keys()),
        "rules_removed": sorted(old_rules.keys() - new_rules.keys()),
        "rules_changed": changed(old_rules, new_rules),
        "thresholds_added": sorted(new_t.keys() - old_t.keys()),
        "thresholds_removed": sorted(old_t.keys() - new_t.keys()),
        "thresholds_changed": changed(old_t, new_t),
    }
