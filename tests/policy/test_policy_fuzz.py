"""Property tests: whatever a policy author (or an attacker with the author role) uploads, the
engine answers with a PolicyError naming the problem, or a policy set that decides every input.

Generated YAML texts and structures (hypothesis) go through the same loader the server uses.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.engine import PolicySet
from policies.errors import PolicyError
from policies.loader import DEFAULT_DIR

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
RULE_KEYS = ("id", "description", "condition", "outcome", "severity", "reason", "queue", "priority")
CONDITIONS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "nudity.max_score >= ",
            "likeness.exists(m, m.similarity > 0.5)",
            'context.stage == "upload"',
            'size(character) > 0 && character.all(c, c.score > threshold("x", c.backend))',
            "1 / 0 == 1",
            "prompt.exists(p, p.name == 'violence')" * 3,
        ]
    ),
)
RULES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=20),
        "condition": CONDITIONS,
        "outcome": st.sampled_from(["allow", "block", "review", "takedown", "nope", ""]),
        "reason": st.text(max_size=20),
        "priority": st.one_of(st.integers(-5, 500), st.text(max_size=5)),
        "queue": st.one_of(st.none(), st.text(max_size=10)),
    },
)


def _shipped() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}


def _load(texts: dict[str, str]) -> PolicySet | None:
    try:
        return PolicySet.from_texts(texts, max_file_bytes=64 * 1024)
    except PolicyError as exc:
        assert exc.issues, "a refusal names at least one problem"
        for issue in exc.issues:
            assert isinstance(issue.message, str) and issue.message
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=300), max_size=3))
def test_arbitrary_text_files_are_refused_cleanly(texts: dict[str, str]) -> None:
    _load(texts)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(RULES, max_size=4), VALUES)
def test_arbitrary_rules_load_or_are_refused(rules: list[dict[str, Any]], extra: Any) -> None:
    texts = _shipped()
    doc = {"name": "fuzz", "rules": rules, "extra": extra}
    texts["fuzz.yaml"] = yaml.safe_dump(doc, allow_unicode=True)
    policy = _load(texts)
    if policy is not None:
        # Anything that loads decides: a malformed input is a review, never an exception.
        decision = policy.evaluate({}, {"stage": "upload", "audience": "adult"})
        assert decision.outcome in ("allow", "label", "age_restrict", "review", "block", "takedown")


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(VALUES, VALUES)
def test_shipped_policy_decides_any_signal_shape(signals: Any, context: Any) -> None:
    policy = _load(_shipped())
    assert policy is not None
    view = signals if isinstance(signals, dict) else {"nudity": signals}
    ctx = context if isinstance(context, dict) else {"stage": context}
    decision = policy.evaluate(view, ctx)
    assert decision.outcome in ("allow", "label", "age_restrict", "review", "block", "takedown")
