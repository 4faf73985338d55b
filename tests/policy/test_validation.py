"""Bad policy files: every class of mistake is an error that names the file, rule and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from policies.engine import PolicySet
from policies.errors import PolicyError, PolicyIssue

Writer = Callable[..., Path]


def issues_for(folder: Path, **kwargs: int) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        PolicySet.from_dir(folder, **kwargs)
    assert caught.value.issues, "a PolicyError must carry issues"
    return caught.value.issues


def one_rule(condition: str, extra: str = "") -> str:
    return f"""
    rules:
      - id: r1
        condition: '{condition}'
        outcome: block
        reason: test{extra}
    """


def test_malformed_yaml_names_file_and_line(write_policy: Writer) -> None:
    folder = write_policy(broken="rules:\n  - id: r1\n    condition: [unclosed\n")
    (issue,) = issues_for(folder)
    assert issue.file == "broken.yaml"
    assert "malformed YAML" in issue.message and "line" in issue.message


def test_yaml_aliases_are_refused(write_policy: Writer) -> None:
    folder = write_policy(bomb="a: &a [x, x]\nb: [*a, *a]\n")
    (issue,) = issues_for(folder)
    assert "aliases" in issue.message


def test_deeply_nested_yaml_is_an_error(write_policy: Writer) -> None:
    (issue,) = issues_for(write_policy(deep="rules: " + "[" * 50_000 + "]" * 50_000 + "\n"))
    assert "malformed YAML" in issue.message


def test_cel_syntax_error(write_policy: Writer) -> None:
    (issue,) = issues_for(write_policy(p=one_rule("nudity.max_score >")))
    assert (issue.file, issue.rule, issue.field) == ("p.yaml", "r1", "condition")
    assert "syntax" in issue.message.lower()


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("nudity.maximum > 0.5", "unknown field 'maximum'"),
        ("likeness.exists(m, m.simlarity > 0.5)", "unknown field 'simlarity'"),
        ("faces.size() > 0", "unknown name 'faces'"),
        ("prompt.categories.cooking > 0.5", "unknown key 'cooking'"),
        ("likeness.similarity > 0.5", "is a list"),
        ("thresholds.nope > 0.5", "unknown threshold 'nope'"),
        ('context.stage == "pubish"', "can never match"),
        ("frobnicate(nudity.max_score)", "unknown function"),
        ("false && nudity.bogus > 1.0", "unknown field 'bogus'"),
        ("likeness.exists(nudity, nudity.similarity > 0.5)", "hides the signal"),
        ("has(nudity.max_score)", "has() is not needed"),
    ],
)
def test_unknown_fields_are_errors_not_silent_false(
    write_policy: Writer, condition: str, expected: str
) -> None:
    issues = issues_for(write_policy(p=one_rule(condition)))
    assert any(
        expected in i.message and i.rule == "r1" and i.field == "condition" for i in issues
    ), issues


@pytest.mark.parametrize(
    "condition",
    [
        'nudity.max_score > "high"',  # double vs string
        "nudity.max_score",  # not a boolean
        'context.report.count + "x" == "1x"',
    ],
)
def test_type_errors_found_by_typed_samples(write_policy: Writer, condition: str) -> None:
    issues = issues_for(write_policy(p=one_rule(condition)))
    assert any(i.field == "condition" and i.rule == "r1" for i in issues), issues


def test_schema_errors_name_rule_and_field(write_policy: Writer) -> None:
    folder = write_policy(
        p="""
        rules:
          - id: r1
            condition: nudity.max_score > 0.5
            outcome: obliterate
            reason: x
          - id: r2
            condition: nudity.max_score > 0.5
            outcome: block
            reason: x
            colour: red
          - id: r3
            condition: nudity.max_score > 0.5
            outcome: review
            reason: x
        """
    )
    issues = issues_for(folder)
    located = {(i.rule, i.field) for i in issues}
    assert ("r1", "outcome") in located
    assert ("r2", "colour") in located
    assert ("r3", "queue") in located  # review needs a queue


def test_duplicate_ids_across_files(write_policy: Writer) -> None:
    folder = write_policy(
        a=one_rule("nudity.max_score > 0.5"), b=one_rule("nudity.max_score > 0.9")
    )
    issues = issues_for(folder)
    assert any(i.field == "id" and i.file == "b.yaml" and "a.yaml" in i.message for i in issues)


def test_override_cycles_unknown_targets_and_sexual_minors(write_policy: Writer) -> None:
    folder = write_policy(
        p="""
        rules:
          - id: a
            condition: nudity.max_score > 0.5
            outcome: allow
            reason: x
            overrides: [b]
          - id: b
            condition: nudity.max_score > 0.5
            outcome: block
            reason: y
            overrides: [a]
          - id: c
            condition: nudity.max_score > 0.5
            outcome: allow
            reason: z
            overrides: [ghost, csam]
          - id: csam
            condition: minor.worst_band == "likely_minor"
            outcome: block
            reason: sexual_minors
        """
    )
    messages = [i.message for i in issues_for(folder)]
    assert any("cycle" in m for m in messages)
    assert any("unknown rule 'ghost'" in m for m in messages)
    assert any("can never be overridden" in m for m in messages)


def test_conflicting_rules_with_the_same_condition(write_policy: Writer) -> None:
    folder = write_policy(
        p="""
        rules:
          - id: a
            condition: nudity.max_score > 0.5
            outcome: label
            reason: x
          - id: b
            condition: "nudity.max_score  >  0.5"
            outcome: block
            reason: y
        """
    )
    (issue,) = issues_for(folder)
    assert (issue.rule, issue.field) == ("b", "condition") and "conflicts" in issue.message


def test_teen_threshold_must_be_stricter(write_policy: Writer) -> None:
    folder = write_policy(
        p="""
        thresholds:
          nudity: {value: 0.5, audience: {teen: 0.7}}
        rules: []
        """
    )
    (issue,) = issues_for(folder)
    assert issue.field == "thresholds.nudity.audience.teen"


def test_enormous_files_are_refused_before_parsing(write_policy: Writer) -> None:
    folder = write_policy(big="# padding\n" * 5000 + "rules: []\n")
    (issue,) = issues_for(folder, max_file_bytes=10_000)
    assert issue.file == "big.yaml" and "limit" in issue.message


def test_deep_nesting_is_an_error_not_a_crash(write_policy: Writer) -> None:
    condition = "(" * 500 + "true" + ")" * 500
    issues = issues_for(write_policy(p=one_rule(condition)))
    assert issues[0].field == "condition"


def test_many_issues_reported_at_once(write_policy: Writer) -> None:
    folder = write_policy(
        a=one_rule("nudity.nope > 1.0"),
        b="""
        rules:
          - id: r2
            condition: 'nudity.max_score > "x"'
            outcome: block
            reason: t
        """,
    )
    files = {i.file for i in issues_for(folder)}
    assert files == {"a.yaml", "b.yaml"}


def test_missing_directory_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PolicySet.from_dir(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError):
        PolicySet.from_dir(tmp_path / "empty")
