"""Linear-time text helpers for the prompt matchers, and the per-call work budget they share.

Every prompt door reaches the text matchers, so their cost must grow with the
prompt's length and nothing faster. The helpers here do their job in one pass
(no pattern that can backtrack over a run of characters more than once), and
:class:`WorkBudget` bounds what one call may do: a matcher charges it for the
work it does, and when it runs out the matcher stops and marks its result
(:class:`BudgetedResult`) as cut short instead of passing the prompt unseen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from detectors.base import DetectorError

T = TypeVar("T")

# Maximal runs only: a run is matched once, from its first character to its
# last, so this never retries inside a run.
_NON_SPACE_RUN = re.compile(r"\S+")
_ASCII_LETTER = re.compile(r"[a-z]")


def translate_lettered_tokens(text: str, table: dict[int, Any]) -> str:
    """``table`` applied to each whitespace-separated token that holds a letter a-z; others kept as they are.

    Used for leetspeak: "k1ll" becomes "kill" while "13" stays a number. One
    pass over the text (each token is read twice: the letter test, then the
    translation).
    """

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        return token.translate(table) if _ASCII_LETTER.search(token) else token

    return _NON_SPACE_RUN.sub(one, text)


def cut_at_space(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last space when there is one.

    A cut in the middle of a word could make a new word ("sextant" cut to
    "sex"), so the cut falls between words when it can.
    """
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return head[:space] if space > 0 else head


class BudgetExhausted(Exception):
    """Raised by :meth:`WorkBudget.spend` when the budget runs out; matchers catch it and flag the result."""


class WorkBudgetExhausted(DetectorError):
    """A prompt check was cut short by its work budget; a caller raises it to force a human review."""


class WorkBudget:
    """A deterministic count of the work one call has done, against a ceiling.

    Counted in steps (characters scanned, index look-ups), not seconds: the
    same prompt costs the same on an idle laptop and on a busy two-core CI
    box, so whether a check was cut short is reproducible and testable.
    """

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a work budget must be positive")
        self.limit = limit
        self.steps = 0
        self.exhausted = False
        self.reasons: list[str] = []
        self._spent = False

    def spend(self, steps: int, what: str) -> None:
        """Count ``steps`` of work about to be done on ``what``; raise BudgetExhausted instead past the limit."""
        if self._spent or self.steps + steps > self.limit:
            if not self._spent:
                self._spent = True
                self.stop(f"work budget of {self.limit} steps used up while {what}")
            raise BudgetExhausted(self.reasons[-1])
        self.steps += steps

    def fits(self, steps: int) -> bool:
        """Whether :meth:`spend` of ``steps`` would succeed now (nothing is counted)."""
        return not self._spent and self.steps + steps <= self.limit

    def stop(self, reason: str) -> None:
        """Mark the check as not complete (a cap was hit) without ending it."""
        self.exhausted = True
        self.reasons.append(reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "limit": self.limit,
            "exhausted": self.exhausted,
            "reason": "; ".join(self.reasons),
        }


class BudgetedResult(list[T]):
    """A matcher's findings (a plain list to old callers) plus whether the whole prompt was examined.

    ``budget_exhausted`` True means the matcher stopped early or examined only
    part of the prompt: the findings are what it saw, and the absence of a
    finding proves nothing. The caller should send the prompt to a person
    (:meth:`raise_if_exhausted` turns it into an error the gate treats as a
    failed source, which forces review).
    """

    def __init__(
        self, items: Iterable[T] = (), budget: WorkBudget | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(items)
        if isinstance(budget, WorkBudget):
            self.budget: dict[str, Any] = budget.to_dict()
        elif budget is not None:
            self.budget = dict(budget)  # another result's record, passed on
        else:
            self.budget = {"steps": 0, "limit": 0, "exhausted": False, "reason": ""}

    @property
    def budget_exhausted(self) -> bool:
        return bool(self.budget["exhausted"])

    @property
    def budget_reason(self) -> str:
        return str(self.budget["reason"])

    def raise_if_exhausted(self, what: str = "prompt check") -> None:
        if self.budget_exhausted:
            raise WorkBudgetExhausted(
                f"{what} incomplete: {self.budget_reason}; needs a human review"
            )


# Code points of combining class 0 whose NFKD starts with a combining mark (so a
# run of them is a run of marks once decomposed). Computed from the whole of
# Unicode by tests/safety/test_prompt_linear.py, which fails if the Python
# Unicode database ever adds one.
LEADING_NON_STARTERS = frozenset("\u0f73\u0f75\u0f81\uff9e\uff9f")
# UAX #15 "stream-safe text": no real text stacks more than 30 marks on a letter.
MAX_COMBINING_RUN = 30


def cap_combining_runs(text: str, limit: int = MAX_COMBINING_RUN) -> str:
    """``text`` with every run of combining marks cut to ``limit`` marks.

    CPython's ``unicodedata.normalize`` puts a run of marks in canonical order
    with an insertion sort, so 4,000 alternating marks cost as much as 16
    million steps. Both normalisers drop every mark after NFKD anyway (accents
    off), so marks past the 30th of a run cannot change what is matched.
    Format characters (zero-width space and the like) do not end a run:
    the normalisers delete them before decomposing, which joins the runs
    around them.
    """
    if text.isascii():
        return text
    out: list[str] = []
    run = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in LEADING_NON_STARTERS:
            run += 1
            if run > limit:
                continue
        elif unicodedata.category(ch) != "Cf":
            run = 0
        out.append(ch)
    return "".join(out)
