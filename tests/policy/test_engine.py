"""Evaluation semantics: outcome order, overrides, sexual_minors, thresholds, shadow rules, failures, versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from policies.engine import ERROR_QUEUE, PolicySet
from policies.errors import PolicyError, SignalError
from policies.schema import OUTCOME_ORDER

Writer = Callable[..., Path]

LADDER = """
rules:
""" + "".join(
    f"""
  - id: r_{name}
    condition: 'prompt.categories.violence >= {0.1 * (i + 1):.1f}'
    outcome: {name}
    reason: r_{name}
    queue: {"q_" + name if name == "review" else "null"}
"""
    for i, name in enumerate(reversed(OUTCOME_ORDER))
)


def test_most_restrictive_outcome_wins(write_policy: Writer) -> None:
    policy = PolicySet.from_dir(write_policy(ladder=LADDER))
    # allow < label < age_restrict < review < block < takedown; each score adds one rung.
    for rung, expected in enumerate(reversed(OUTCOME_ORDER)):
        score = 0.1 * (rung + 1) + 0.01
        decision = policy.evaluate({"prompt": {"categories": {"violence": score}}}, {})
        assert decision.outcome == expected
        assert len(decision.rules) == rung + 1


def test_no_rule_means_allow(default_policy: PolicySet) -> None:
    decision = default_policy.evaluate({}, {})
    assert decision.outcome == "allow" and decision.rules == [] and decision.queue is None
    assert decision.version == default_policy.version


def test_fired_rules_record_the_values_they_read(default_policy: PolicySet) -> None:
    signals = {"nudity": {"max_score": 0.7}}
    decision = default_policy.evaluate(signals, {"audience": "adult"})
    (rule,) = decision.rules
    assert rule.id == "nudity_adult_review"
    assert rule.values["nudity.max_score"] == 0.7
    assert rule.values["context.audience"] == "adult"
    assert rule.values["thresholds.nudity"] == 0.6
    assert rule.values["thresholds.nudity_explicit"] == 0.85


def test_overrides_waive_and_are_recorded(write_policy: Writer) -> None:
    policy = PolicySet.from_dir(
        write_policy(
            p="""
            rules:
              - id: strict
                condition: nudity.max_score > 0.5
                outcome: block
                reason: nudity
              - id: exception
                condition: context.creator.verified
                outcome: allow
                reason: partner
                overrides: [strict]
            """
        )
    )
    decision = policy.evaluate({"nudity": {"max_score": 0.9}}, {"creator": {"verified": True}})
    assert decision.outcome == "allow"
    assert [r.id for r in decision.overridden] == ["strict"]
    assert decision.overridden[0].overridden_by == "exception"
    assert policy.evaluate({"nudity": {"max_score": 0.9}}, {}).outcome == "block"


def test_sexual_minors_block_is_never_overridden(write_policy: Writer) -> None:
    # Validation refuses a rule that names it in overrides ...
    with pytest.raises(PolicyError, match="can never be overridden"):
        PolicySet.from_dir(
            write_policy(
                p="""
                rules:
                  - id: csam
                    condition: minor.worst_band == "likely_minor"
                    outcome: block
                    reason: sexual_minors
                  - id: vip
                    condition: context.creator.verified
                    outcome: allow
                    reason: vip
                    overrides: [csam]
                """
            )
        )


def test_sexual_minors_queue_beats_more_restrictive_outcomes(default_policy: PolicySet) -> None:
    signals = {
        "minor": {"faces": [{"age": 12.0, "band": "likely_minor"}]},
        "nudity": {"max_score": 0.5},
        "hash": [{"bank": "b", "distance": 0, "severity": "critical"}],
    }
    decision = default_policy.evaluate(signals, {"stage": "report", "published": True})
    assert decision.outcome == "takedown"  # hash_bank_match_published
    assert "minor_sexual" in decision.rule_ids
    assert (decision.queue, decision.priority) == ("child_safety", 100)
    assert decision.preserve_evidence
    assert decision.reasons[0] == "sexual_minors" or "sexual_minors" in decision.reasons


def test_thresholds_per_audience_and_model(default_policy: PolicySet) -> None:
    assert default_policy.threshold("nudity", "adult") == 0.6
    assert default_policy.threshold("nudity", "teen") == 0.3
    assert default_policy.threshold("likeness_match", "adult", "dlib-resnet-v1") == 0.955
    assert default_policy.threshold("likeness_match", "teen", "dlib-resnet-v1") == 0.95
    assert default_policy.threshold("likeness_match", "adult", "unknown-model") == 0.5
    assert default_policy.threshold("likeness_match", "teen", "unknown-model") == 0.45
    weak = {"likeness": [{"kind": "protected", "similarity": 0.952, "model": "dlib-resnet-v1"}]}
    assert default_policy.evaluate(weak, {"audience": "teen"}).outcome == "block"
    assert default_policy.evaluate(weak, {"audience": "adult"}).outcome == "allow"
    other = {"likeness": [{"kind": "protected", "similarity": 0.6, "model": "unknown-model"}]}
    assert default_policy.evaluate(other, {"audience": "adult"}).outcome == "block"
    values = default_policy.evaluate(weak, {"audience": "teen"}).rules[0].values
    assert values["threshold(likeness_match)"]["dlib-resnet-v1"] == 0.95


def test_shadow_rules_are_recorded_not_enforced(default_policy: PolicySet) -> None:
    signals = {"minor": {"faces": [{"age": 10.0, "band": "likely_minor"}]}}
    decision = default_policy.evaluate(signals, {"stage": "upload"})
    assert decision.outcome == "allow"
    assert [r.id for r in decision.shadow] == ["likely_minor_upload_review"]
    assert decision.shadow[0].status == "shadow"
    assert decision.shadow_outcome == "review"
    assert "likely_minor_upload_review" not in decision.rule_ids


def test_missing_signals_default_to_neutral(default_policy: PolicySet) -> None:
    decision = default_policy.evaluate(
        {"minor": {}, "likeness": None, "prompt": {}}, {"stage": "output"}
    )
    assert decision.outcome == "allow" and not decision.errors


def test_minor_summary_is_derived_from_faces(default_policy: PolicySet) -> None:
    signals = {
        "minor": {
            "faces": [{"age": 30.0, "band": "adult"}, {"age": 15.0, "band": "possible_minor"}]
        }
    }
    decision = default_policy.evaluate({**signals, "nudity": {"max_score": 0.5}}, {})
    assert "minor_sexual" in decision.rule_ids
    assert decision.rules[0].values["minor.worst_band"] == "possible_minor"


def test_malformed_signals_fail_safe_or_raise_when_strict(default_policy: PolicySet) -> None:
    bad = {"nudity": {"max_score": "very"}}
    with pytest.raises(SignalError, match=r"nudity\.max_score"):
        default_policy.evaluate(bad, {}, strict=True)
    decision = default_policy.evaluate(bad, {})
    assert decision.outcome == "review" and decision.queue == ERROR_QUEUE
    assert "nudity.max_score" in decision.errors[0].message
    with pytest.raises(SignalError, match="audience"):
        default_policy.evaluate({}, {"audience": "toddler"}, strict=True)
    with pytest.raises(SignalError):
        default_policy.evaluate([], {}, strict=True)  # type: ignore[arg-type]


def test_a_rule_failing_at_evaluation_is_recorded_and_falls_back_to_review(
    write_policy: Writer,
) -> None:
    # Division by zero cannot be seen by type checks; it fails only on this input.
    policy = PolicySet.from_dir(
        write_policy(
            p="""
            rules:
              - id: overflow
                condition: 100 / (context.report.count - 3) > 1
                outcome: label
                reason: x
              - id: fine
                condition: nudity.max_score > 0.5
                outcome: label
                reason: y
            """
        )
    )
    decision = policy.evaluate({"nudity": {"max_score": 0.9}}, {"report": {"count": 3}})
    assert [e.id for e in decision.errors] == ["overflow"]
    assert decision.rule_ids == ["fine"]
    assert decision.outcome == "review" and decision.queue == ERROR_QUEUE


def test_version_is_a_content_hash_and_bundles_round_trip(
    default_policy: PolicySet, write_policy: Writer
) -> None:
    bundle = default_policy.to_bundle()
    again = PolicySet.from_bundle(bundle)
    assert again.version == default_policy.version
    assert [r.spec.id for r in again.rules] == [r.spec.id for r in default_policy.rules]
    # Comments do not change the version; a threshold does.
    commented = dict(bundle["files"])
    commented["content.yaml"] = "# a comment\n" + commented["content.yaml"]
    assert PolicySet.from_texts(commented).version == default_policy.version
    changed = dict(bundle["files"])
    changed["content.yaml"] = changed["content.yaml"].replace("value: 0.85", "value: 0.8")
    assert PolicySet.from_texts(changed).version != default_policy.version
    with pytest.raises(PolicyError, match="hashes to"):
        PolicySet.from_bundle({**bundle, "files": changed})


def test_shipped_defaults_cover_the_required_cases(default_policy: PolicySet) -> None:
    reasons = {r.spec.reason for r in default_policy.rules}
    for reason in (
        "cameo_no_consent",
        "cameo_revoked",
        "character_blocked",
        "character_review",
        "sexual_minors",
        "nudity_teen",
        "hash_bank_match",
        "provenance_invalid",
        "provenance_other_generator",
        "public_figure_no_cameo",
        "user_reports",
    ):
        assert reason in reasons
