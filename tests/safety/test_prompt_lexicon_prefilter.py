"""The lexicon's one-scan pre-check (issue 12) never changes a prompt-safety answer.

Per category and text variant, one pattern joining every term's pattern is asked first
whether any term occurs at all; only then does each term run on its own. This compares the
classifier with the pre-check against the same classifier with it turned off, on the
labelled prompt set, obfuscations, long prompts, and work budgets small enough to run out
part-way: the findings, their evidence and the budget's steps and reason must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detectors.prompt_safety import PromptFindings, PromptSafetyClassifier

PROMPTS_TSV = Path(__file__).resolve().parents[2] / "bench" / "data" / "safety_prompts.tsv"
EXTRA = [
    "s.e.x with a k1d",
    "seeexxx",
    "a killer workout",
    "the kids' menu",
    "13 year old girl, sexy",
    "Ѕеху teen",
    "x" * 3900,
    "a " * 1900,
    "kill " * 700,
    "s e x " * 600,
]


def _prompts() -> list[str]:
    rows = [
        line.rstrip("\n").split("\t")
        for line in PROMPTS_TSV.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [r[-1] for r in rows] + EXTRA


def _answer(found: PromptFindings) -> str:
    return json.dumps(
        {"findings": [f.to_dict() for f in found], "budget": found.budget},
        sort_keys=True,
        default=str,
    )


def _pair(**kwargs: Any) -> tuple[PromptSafetyClassifier, PromptSafetyClassifier]:
    quick = PromptSafetyClassifier(semantic=False, **kwargs)
    exact = PromptSafetyClassifier(semantic=False, **kwargs)
    # Without the joined patterns every term runs on its own, as before the pre-check.
    exact._any_term = dict.fromkeys(exact._any_term)
    assert any(quick._any_term.values())
    return quick, exact


@pytest.mark.parametrize("budget", [None, 1_000, 5_000, 20_000, 100_000])
def test_the_pre_check_gives_the_same_answers_and_counts_the_same_work(
    budget: int | None,
) -> None:
    quick, exact = _pair(**({"work_budget": budget} if budget else {}))
    prompts = _prompts()
    flagged = 0
    for prompt in prompts:
        a, b = quick.check(prompt), exact.check(prompt)
        assert _answer(a) == _answer(b), prompt[:80]
        flagged += bool(list(a))
    # The set exercises both sides: prompts with findings and prompts without.
    assert 0 < flagged < len(prompts)
