"""The shipped policy tests (``policies/tests/*.yaml``), one pytest case each, plus the runner itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.engine import PolicySet
from policies.loader import DEFAULT_TESTS_DIR
from policies.testing import Case, check_case, load_cases, run_tests

CASES = load_cases(DEFAULT_TESTS_DIR)


def test_there_are_shipped_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    ("file", "case", "policy"), CASES, ids=[f"{f}:{c.name}" for f, c, _ in CASES]
)
def test_shipped_case(file: str, case: Case, policy: str, default_policy: PolicySet) -> None:
    assert policy == "default"
    decision = default_policy.evaluate(case.signals, case.context, strict=True)
    assert check_case(decision, case.expect) == []


def test_runner_reports_failures(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        """
cases:
  - name: wrong on purpose
    signals: {nudity: {max_score: 0.9}}
    expect: {outcome: allow, rules: [nudity_teen_audience], queue: somewhere}
  - name: right
    expect: {outcome: allow}
  - name: bad signals
    signals: {nudity: {max_score: [1]}}
    expect: {outcome: allow}
""",
        encoding="utf-8",
    )
    (tmp_path / "broken.yaml").write_text("cases: [", encoding="utf-8")
    report = run_tests(tmp_path)
    assert (report.passed, report.failed) == (1, 3)
    by_case = {f.case: f.problems for f in report.failures}
    problems = " ".join(by_case["wrong on purpose"])
    assert "outcome block, expected allow" in problems
    assert "did not fire" in problems and "queue" in problems
    assert "invalid signals" in by_case["bad signals"][0]
    assert "cannot run this file" in by_case[""][0]
