"""Policy tests as data: YAML cases (signals + context -> expected outcome and rules) run against a policy set.

A test file (``policies/tests/*.yaml``)::

    policy: default          # optional; "default" or a directory relative to this file
    cases:
      - name: cameo without consent is blocked at the prompt
        signals: {likeness: [{kind: cameo, consent: denied, similarity: 0.97}]}
        context: {stage: prompt}
        expect:
          outcome: block
          rules: [cameo_no_consent_prompt]   # must fire (others may too)
          not_rules: [own_cameo]             # must not fire
          queue: null                        # optional checks: queue, priority,
                                             # shadow, overridden, preserve_evidence

Used by ``greenroom policy test`` and by the project's pytest suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policies.engine import Decision, PolicySet
from policies.errors import PolicyError, SignalError
from policies.loader import DEFAULT_MAX_FILE_BYTES, parse_yaml
from policies.schema import Outcome

_UNSET: Any = object()


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    rules: list[str] = Field(default_factory=list)
    not_rules: list[str] = Field(default_factory=list)
    queue: str | None = _UNSET
    priority: int | None = _UNSET
    shadow: list[str] | None = None
    overridden: list[str] | None = None
    preserve_evidence: bool | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    signals: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation


class TestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str = "default"
    cases: list[Case]


@dataclass
class Failure:
    file: str
    case: str
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "case": self.case, "problems": self.problems}


@dataclass
class TestReport:
    passed: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "failures": [f.to_dict() for f in self.failures],
        }


def check_case(decision: Decision, expect: Expectation) -> list[str]:
    """What differs between a decision and the expectation (empty when the case passes)."""
    problems: list[str] = []
    fired = set(decision.rule_ids)
    if decision.outcome != expect.outcome:
        problems.append(f"outcome {decision.outcome}, expected {expect.outcome}")
    missing = [r for r in expect.rules if r not in fired]
    if missing:
        problems.append(f"rules did not fire: {missing} (fired: {sorted(fired)})")
    unexpected = [r for r in expect.not_rules if r in fired]
    if unexpected:
        problems.append(f"rules fired but should not: {unexpected}")
    if expect.queue is not _UNSET and decision.queue != expect.queue:
        problems.append(f"queue {decision.queue!r}, expected {expect.queue!r}")
    if expect.priority is not _UNSET and decision.priority != expect.priority:
        problems.append(f"priority {decision.priority!r}, expected {expect.priority!r}")
    if expect.shadow is not None:
        shadow = sorted(r.id for r in decision.shadow)
        if shadow != sorted(expect.shadow):
            problems.append(f"shadow rules {shadow}, expected {sorted(expect.shadow)}")
    if expect.overridden is not None:
        overridden = sorted(r.id for r in decision.overridden)
        if overridden != sorted(expect.overridden):
            problems.append(f"overridden rules {overridden}, expected {sorted(expect.overridden)}")
    if (
        expect.preserve_evidence is not None
        and decision.preserve_evidence != expect.preserve_evidence
    ):
        problems.append(
            f"preserve_evidence {decision.preserve_evidence}, expected {expect.preserve_evidence}"
        )
    if decision.errors:
        problems.append(
            "evaluation errors: " + "; ".join(f"{e.id}: {e.message}" for e in decision.errors)
        )
    return problems


def _policy_for(
    spec: str, base: Path, cache: dict[str, PolicySet], override: PolicySet | None
) -> PolicySet:
    if override is not None:
        return override
    key = "default" if spec == "default" else str((base / spec).resolve())
    if key not in cache:
        cache[key] = PolicySet.default() if spec == "default" else PolicySet.from_dir(Path(key))
    return cache[key]


def run_tests(
    path: Path,
    policy: PolicySet | None = None,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> TestReport:
    """Run every case in ``path`` (a directory of ``*.yaml`` or one file).

    With ``policy`` every file is run against it; otherwise each file's
    ``policy:`` key picks the set. A file that cannot be read counts as one failure.
    """
    if not path.exists():
        raise FileNotFoundError(2, "no such file or directory", str(path))
    files = sorted(p for p in path.glob("*.y*ml")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"no policy test files (*.yaml) in {path}")
    report = TestReport()
    cache: dict[str, PolicySet] = {}
    for file in files:
        name = file.name
        if file.stat().st_size > max_file_bytes:
            report.failed += 1
            report.failures.append(
                Failure(name, "", [f"file is larger than {max_file_bytes} bytes"])
            )
            continue
        raw, issues = parse_yaml(file.read_text(encoding="utf-8", errors="replace"), name)
        try:
            if issues:
                raise ValueError(str(issues[0]))
            suite = TestFile.model_validate(raw)
            target = _policy_for(suite.policy, file.parent, cache, policy)
        except (ValidationError, PolicyError, ValueError, OSError) as exc:
            report.failed += 1
            report.failures.append(Failure(name, "", [f"cannot run this file: {exc}"]))
            continue
        for case in suite.cases:
            try:
                decision = target.evaluate(case.signals, case.context, strict=True)
                problems = check_case(decision, case.expect)
            except SignalError as exc:
                problems = [f"invalid signals or context: {exc}"]
            if problems:
                report.failed += 1
                report.failures.append(Failure(name, case.name, problems))
            else:
                report.passed += 1
    return report


def load_cases(path: Path) -> list[tuple[str, Case, str]]:
    """(file name, case, policy spec) for every case; for parametrised pytest runs."""
    out: list[tuple[str, Case, str]] = []
    for file in sorted(path.glob("*.y*ml")):
        raw, issues = parse_yaml(file.read_text(encoding="utf-8"), file.name)
        if issues:
            raise ValueError(str(issues[0]))
        suite = TestFile.model_validate(raw if isinstance(raw, Mapping) else {})
        out += [(file.name, case, suite.policy) for case in suite.cases]
    return out
