"""Shadow versions and backtests: differences counted per outcome and rule, nothing enforced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from policies.engine import PolicySet
from policies.shadow import Record, backtest, evaluate_with_shadow, shadow_tally

Writer = Callable[..., Path]


@pytest.fixture()
def stricter(default_policy: PolicySet) -> PolicySet:
    """The default set with explicit nudity blocked from 0.7 instead of 0.85."""
    files = dict(default_policy.to_bundle()["files"])
    files["content.yaml"] = files["content.yaml"].replace("value: 0.85", "value: 0.7")
    return PolicySet.from_texts(files, name="stricter")


RECORDS = [
    Record("clip-a", {"nudity": {"max_score": 0.75}}, {"stage": "output"}),
    Record("clip-b", {"nudity": {"max_score": 0.95}}, {"stage": "output"}),
    Record("clip-c", {}, {"stage": "output"}),
    Record("clip-d", {"nudity": {"max_score": 0.72}}, {"stage": "upload"}),
]


def test_evaluate_with_shadow_enforces_only_the_active_set(
    default_policy: PolicySet, stricter: PolicySet
) -> None:
    decision, (comparison,) = evaluate_with_shadow(
        default_policy, [stricter], {"nudity": {"max_score": 0.75}}, {}
    )
    assert decision.outcome == "review" and decision.version == default_policy.version
    assert comparison.version == stricter.version
    assert comparison.outcome == "block" and comparison.changed
    assert comparison.rules_added == ("nudity_explicit",)
    assert comparison.rules_removed == ("nudity_adult_review",)


def test_backtest_counts_per_outcome_rule_and_examples(
    default_policy: PolicySet, stricter: PolicySet
) -> None:
    report = backtest(stricter, RECORDS, baseline=default_policy).to_dict()
    assert report["records"] == 4
    assert report["outcome_changed"] == 2
    assert report["transitions"] == {"review->block": 2}
    assert report["examples"]["review->block"] == ["clip-a", "clip-d"]
    assert report["outcomes"]["block"] == {"baseline": 1, "candidate": 3}
    assert report["outcomes"]["review"] == {"baseline": 2, "candidate": 0}
    assert report["rules"]["nudity_explicit"] == {
        "baseline": 1,
        "candidate": 3,
        "added": 2,
        "removed": 0,
    }
    assert report["baseline_version"] == default_policy.version


def test_backtest_against_recorded_decisions(stricter: PolicySet) -> None:
    records = [
        Record("x", {"nudity": {"max_score": 0.75}}, {}, {"outcome": "allow", "rules": []}),
        Record("y", {}, {}, {"outcome": "allow", "rules": [{"id": "old_rule"}]}),
    ]
    report = backtest(stricter, records).to_dict()
    assert report["baseline_version"] == "recorded"
    assert report["transitions"] == {"allow->block": 1}
    assert report["rules"]["old_rule"]["removed"] == 1
    assert report["changed"] == 2
    with pytest.raises(ValueError, match="no stored decision"):
        backtest(stricter, [Record("z", {}, {})])


def test_backtest_changes_nothing(default_policy: PolicySet, stricter: PolicySet) -> None:
    before = default_policy.to_bundle()
    backtest(stricter, RECORDS, baseline=default_policy)
    assert default_policy.to_bundle() == before
    assert default_policy.evaluate({"nudity": {"max_score": 0.75}}, {}).outcome == "review"


def test_shadow_tally_accumulates(default_policy: PolicySet, stricter: PolicySet) -> None:
    tally = shadow_tally(default_policy, stricter)
    for record in RECORDS:
        decision, _ = evaluate_with_shadow(
            default_policy, [stricter], record.signals, record.context
        )
        tally.add(
            decision.outcome,
            decision.rule_ids,
            stricter.evaluate(record.signals, record.context),
            record.clip_id,
        )
    assert tally.to_dict()["transitions"] == {"review->block": 2}


def test_records_are_validated() -> None:
    with pytest.raises(ValueError, match="record 1"):
        Record.from_dict({"signals": []}, 0)
    record = Record.from_dict({"clip_id": "c", "signals": {}, "context": {}}, 0)
    assert record.clip_id == "c" and record.decision is None


def test_diff_versions(default_policy: PolicySet, stricter: PolicySet) -> None:
    from policies.shadow import diff_versions

    diff = diff_versions(default_policy, stricter)
    assert diff["thresholds_changed"] == ["nudity_explicit"]
    assert diff["rules_changed"] == [] and diff["rules_added"] == []
    assert diff_versions(default_policy, default_policy)["thresholds_changed"] == []


def test_validate_texts(default_policy: PolicySet) -> None:
    from policies.engine import validate_texts

    assert validate_texts(default_policy.to_bundle()["files"]) == []
    (issue,) = validate_texts(
        {"x.yaml": "rules: [{id: r, condition: 'x > 1', outcome: block, reason: y}]"}
    )
    assert (issue.file, issue.rule, issue.field) == ("x.yaml", "r", "condition")
