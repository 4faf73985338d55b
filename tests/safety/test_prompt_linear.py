"""Prompt safety costs time linear in the prompt (issue 11), has a work budget, and keeps its answers.

The fuzz part checks long runs (4,000 characters, the prompt limit, and
20,000) of every character class that the normaliser treats specially. The
lexicon runs on Python's ``re``, whose backtracking no counter can see, so
growth is judged on CPU time (``time.process_time``: other processes on a busy
CI box do not count) against the same class at 250 characters, with a generous
factor: linear growth passes with a wide margin, quadratic or worse fails by
orders of magnitude (the pattern this replaced took 12 s on 1,500 "4"s and 243
s on 4,000). The step counter of the work budget is checked exactly.
"""

from __future__ import annotations

import re
import sys
import time
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.base import DetectorError
from detectors.prompt_safety import (
    DEFAULT_MAX_CHARS,
    Normaliser,
    PromptFindings,
    PromptSafetyClassifier,
    _term_regex,
)
from detectors.text_normalise import (
    LEADING_NON_STARTERS,
    MAX_COMBINING_RUN,
    WorkBudgetExhausted,
    cap_combining_runs,
)

LONG = 20_000
BASE_N = 250
# Allowed growth over linear from BASE_N characters to n: linear code stays
# near 1x; the quadratic and cubic code this guards against reaches 16x
# (n=4,000) to 80x (n=20,000) and far beyond.
GROWTH_FACTOR = 8.0
# Added to every allowance: below ~50 ms, interpreter noise dominates.
SLACK_S = 0.05

# One entry per character class: the repeated unit. Runs are cut to length.
CLASSES: dict[str, str] = {
    "digits": "0123456789",
    "leet_digit_4": "4",  # the issue's prompt
    "leet_digits_mixed": "43105789",
    "letters": "a",
    "letter_words": "abc def ",
    "look_alike_cyrillic": "\u0430\u0435\u043e",  # Cyrillic a, ie, o
    "look_alike_math_bold": "\U0001d427\U0001d42e\U0001d41d\U0001d41e",  # 𝐧𝐮𝐝𝐞
    "look_alike_fullwidth": "\uff53\uff45\uff58",  # ｓｅｘ
    "combining_marks_alternating": "\u0301\u0316",  # classes 230/220: worst for normalisation
    "combining_on_letters": "a\u0301",
    "leading_non_starters": "\u0f73\uff9e",
    "zero_width": "\u200b\u200c\u200d\u2060\ufeff",
    "zero_width_between_marks": "\u0301\u200b\u0316",
    "punctuation": ".,;:!?'\"()[]{}",
    "leet_punctuation": "@$!|+\u20ac",
    "separators_spaced": ". ",
    "pipes": "| ",
    "plus_dot": "+.",
    "whitespace": " \t\n\r\x0b\x0c\u00a0\u3000",
    "emoji": "\U0001f600",
    "emoji_zwj_family": "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "emoji_skin_tone": "\U0001f44d\U0001f3fd",
    "alternation_4a": "4a",
    "alternation_a4_space": "a4 ",
    "alternation_1l": "1l",
    "spaced_letters": "s e x ",
    "dotted_letters": "k.1.l.l.",
    "stretched_letters": "seeexxx ",
    "innocent_repeated": "kill time ",
    "age_phrases": "13 year old ",
    "nfkc_expander": "\ufdfa",  # one character, 18 after NFKC
}


@pytest.fixture(scope="module")
def clf() -> PromptSafetyClassifier:
    # The lexicon is what the issue is about; the model's cost does not grow
    # with the prompt (it reads at most 16 pieces of at most 256 tokens).
    return PromptSafetyClassifier(semantic=False, max_chars=LONG)


@pytest.fixture(scope="module")
def clf_default() -> PromptSafetyClassifier:
    return PromptSafetyClassifier(semantic=False)


def _run(unit: str, n: int) -> str:
    text = (unit * (n // len(unit) + 1))[:n]
    # A run of nothing but marks, spaces or invisible characters is an empty
    # prompt; a letter in front keeps it a prompt without changing what it stresses.
    return text if _shared_lexicon().normaliser.base(text[:50]) else "x" + text[1:]


def _cpu(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _check_or_empty(clf: PromptSafetyClassifier, text: str) -> PromptFindings | None:
    try:
        return clf.check(text)
    except DetectorError as exc:
        assert "empty" in str(exc)
        return None


def _assert_linear(cls: str, what: str, fn: Callable[[str], object]) -> None:
    unit = CLASSES[cls]
    base_text = _run(unit, BASE_N)
    base = _cpu(lambda: fn(base_text), repeat=3)
    # 1,000 first: cubic code fails here in about a second instead of running
    # for minutes on the longer inputs.
    for n in (1000, DEFAULT_MAX_CHARS, LONG):
        text = _run(unit, n)

        def one(text: str = text) -> None:
            fn(text)

        took = _cpu(one, repeat=2 if n < LONG else 1)
        allowed = GROWTH_FACTOR * (n / BASE_N) * base + SLACK_S
        assert took <= allowed, (
            f"{cls}, {what}: {n} characters took {took:.3f} s of CPU; {BASE_N} took "
            f"{base:.4f} s, so linear growth allows {allowed:.3f} s"
        )


@pytest.mark.parametrize("cls", list(CLASSES))
def test_normalising_long_runs_of_every_character_class_takes_linear_time(
    clf: PromptSafetyClassifier, cls: str
) -> None:
    # On its own: a whole check's fixed cost (hundreds of patterns) would hide
    # a normalisation step that is quadratic with a small constant.
    _assert_linear(cls, "normalising", clf.normaliser.variants)


@pytest.mark.parametrize("cls", list(CLASSES))
def test_checking_long_runs_of_every_character_class_takes_linear_time(
    clf: PromptSafetyClassifier, cls: str
) -> None:
    _assert_linear(cls, "checking", clf.check)


@pytest.mark.parametrize("cls", list(CLASSES))
def test_work_is_counted_per_character_and_fits_the_budget(
    clf: PromptSafetyClassifier, clf_default: PromptSafetyClassifier, cls: str
) -> None:
    unit = CLASSES[cls]
    short = clf.check(_run(unit, DEFAULT_MAX_CHARS))
    long = clf.check(_run(unit, LONG))
    assert isinstance(short, PromptFindings) and isinstance(long, PromptFindings)
    # Deterministic: the same prompt costs the same steps every time.
    assert clf.check(_run(unit, DEFAULT_MAX_CHARS)).budget == short.budget
    if not long.budget_exhausted:
        # Steps grow with the length, never faster (5x the text, at most ~5x the work).
        assert long.budget["steps"] <= 5.2 * short.budget["steps"]
    # At the real prompt limit, only a text that NFKC multiplies runs out of room.
    at_limit = clf_default.check(_run(unit, DEFAULT_MAX_CHARS))
    expands = len(clf.normaliser.base(_run(unit, DEFAULT_MAX_CHARS))) > 4 * DEFAULT_MAX_CHARS
    assert at_limit.budget_exhausted == expands, at_limit.budget
    if not expands:
        # Headroom: an ordinary limit-length prompt uses a fraction of the budget.
        assert at_limit.budget["steps"] < clf_default.work_budget / 4


def test_the_issue_prompt_is_fast_and_finds_nothing(clf_default: PromptSafetyClassifier) -> None:
    base = _cpu(lambda: clf_default.check("4" * BASE_N), repeat=3)
    took = _cpu(lambda: clf_default.check("4" * 4000), repeat=2)
    assert took <= GROWTH_FACTOR * 16 * base + SLACK_S
    found = clf_default.check("4" * 4000)
    assert found == [] and not found.budget_exhausted


def test_a_text_that_normalises_past_the_cap_is_flagged(
    clf_default: PromptSafetyClassifier,
) -> None:
    found = clf_default.check("\ufdfa" * 4000)  # 72,000 characters after NFKC
    assert found.budget_exhausted
    assert "normalises to" in found.budget["reason"]
    with pytest.raises(WorkBudgetExhausted, match="needs a human review"):
        found.raise_if_exhausted()
    with pytest.raises(DetectorError):  # the gate treats it as a failed source
        found.raise_if_exhausted()


def test_what_is_found_before_the_cap_is_kept(clf_default: PromptSafetyClassifier) -> None:
    found = clf_default.check("pornographic video " + "\ufdfa" * 3900)
    assert found.budget_exhausted and [f.name for f in found] == ["sexual"]


def test_running_out_of_work_budget_flags_the_result(
    clf_default: PromptSafetyClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt = "a man stabbing someone in an alley " * 20
    full = clf_default.check(prompt)
    assert [f.name for f in full] == ["violence"] and not full.budget_exhausted
    monkeypatch.setattr(clf_default, "work_budget", full.budget["steps"] // 3)
    cut = clf_default.check(prompt)
    assert cut.budget_exhausted
    assert "work budget" in cut.budget["reason"]
    assert cut.budget["steps"] <= cut.budget["limit"]
    # The categories it did read are still reported (most severe are read first).
    assert {f.name for f in cut} <= {f.name for f in full}
    monkeypatch.setattr(clf_default, "work_budget", 10)
    assert clf_default.check(prompt).budget_exhausted


def test_old_callers_still_get_a_list(clf_default: PromptSafetyClassifier) -> None:
    found = clf_default.check("a gory murder scene")
    assert isinstance(found, list) and found[0].name == "violence"
    assert found.budget["exhausted"] is False and found.budget["reason"] == ""


# ---------------------------------------------------------------- same answers as before


def test_leading_non_starters_match_the_unicode_database() -> None:
    # Code points of combining class 0 whose NFKD opens with a mark: they act
    # as marks in a run, so cap_combining_runs must know them all.
    found = set()
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.combining(ch) or not unicodedata.decomposition(ch):
            continue
        d = unicodedata.normalize("NFKD", ch)
        if d and unicodedata.combining(d[0]):
            found.add(ch)
    assert found == set(LEADING_NON_STARTERS)


def _uncapped_base(n: Normaliser, text: str) -> str:
    """Normaliser.base as it was before the combining-run cap (the reference)."""
    text = unicodedata.normalize("NFKC", text).translate(n._invisible)
    text = text.translate(n._homoglyphs).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.translate(n._homoglyphs)
    return re.sub(r"\s+", " ", text).strip()


_MARKY = st.text(
    alphabet=st.sampled_from(
        # Letters, a space, marks of several classes, look-alikes, Hangul jamo
        # that compose, invisible characters and the leading non-starters.
        list(
            "ae \u0301\u0316\u0308\u0344\u0f73\uff76\uff9e\u200b\u00ad\u0435\u1100\u1161\uac00\u0131"
        )
    ),
    max_size=120,
)


@settings(database=None, deadline=None, derandomize=True, max_examples=300)
@given(text=_MARKY)
def test_capping_mark_runs_does_not_change_the_normalised_text(text: str) -> None:
    clf = _shared_lexicon()
    assert clf.normaliser.base(text) == _uncapped_base(clf.normaliser, text)


def test_capping_keeps_thirty_marks_and_is_a_no_op_on_ordinary_text() -> None:
    assert cap_combining_runs("plain ascii") == "plain ascii"
    assert cap_combining_runs("Pokémon naïve") == "Pokémon naïve"
    capped = cap_combining_runs("a" + "\u0301" * 100 + "b" + "\u0316" * 5)
    assert capped == "a" + "\u0301" * MAX_COMBINING_RUN + "b" + "\u0316" * 5
    # Invisible characters do not split a run (they are deleted before NFKD).
    capped = cap_combining_runs("a" + "\u0301\u200b" * 40)
    assert capped.count("\u0301") == MAX_COMBINING_RUN and capped.count("\u200b") == 40


def _lookbehind_first(term: str, n: Normaliser) -> re.Pattern[str]:
    """The term pattern as it was written before (word-start test in front), the reference."""
    parts = []
    for w in n.base(term).split():
        runs = [m.group(0) for m in re.finditer(r"(.)\1*", w)]
        parts.append("".join(re.escape(r[0]) + ("+" if r[0].isalnum() else "") for r in runs))
    body = r"[\s\-_]*".join(parts)
    return re.compile(rf"(?<![a-z0-9]){body}(?:e?s)?(?![a-z0-9])")


def test_term_patterns_match_what_the_lookbehind_first_form_matched(
    clf_default: PromptSafetyClassifier,
) -> None:
    n = clf_default.normaliser
    terms = [t for c in clf_default._cats.values() for t in c.spec.terms.strong + c.spec.terms.weak]
    terms += [alias for _, alias, _ in clf_default._figure_terms] + ["c-3po", "'tis", "x y"]
    for term in terms:
        new, old = _term_regex(term, n), _lookbehind_first(term, n)
        for probe in (term, term + "s", "x" + term, term + "x", "1" + term, f"-{term}-",
                      term * 3, term.replace(" ", "--"), term[0] * 4 + term[1:]):  # fmt: skip
            text = n.base(probe)
            assert [m.span() for m in new.finditer(text)] == [
                m.span() for m in old.finditer(text)
            ], (term, probe)


def test_leetspeak_only_touches_tokens_with_a_letter(clf_default: PromptSafetyClassifier) -> None:
    n = clf_default.normaliser
    assert n.leet("k1ll 13 year old p0rn 4444 $5 @dmin") == "kill 13 year old porn 4444 $5 admin"
    assert n.leet("4" * 4000) == "4" * 4000
    assert n.leet("4" * 3999 + "a") == "a" * 4000


# ---------------------------------------------------------------- properties


_LEXICON: list[PromptSafetyClassifier] = []


def _shared_lexicon() -> PromptSafetyClassifier:
    # Hypothesis tests cannot take function-scoped fixtures; one lexicon serves them.
    if not _LEXICON:
        _LEXICON.append(PromptSafetyClassifier(semantic=False))
    return _LEXICON[0]


HARMFUL = [
    "pornographic video of two adults",
    "a man stabbing someone in an alley",
    "how to kill myself",
    "a white power rally",
    "Taylor Swift dancing on stage",
    "an 8 year old boy riding a bike",
    "s.e.x on the beach",
    "p0rn video",
    "n a k e d woman",
    "s\u0435\u0435x scene",
    "\U0001d427\U0001d42e\U0001d41d\U0001d41e woman",
    "nu\u200bde selfie",
    "k1ll the guard",
    "su1c1de by pills",
    "a sexy teen",
    "child porn",
    "kill time at the airport, then stab him",
]
# Appended after a sentence break. None opens with a one-letter word: "s e x"
# followed by ". a ..." reads as the spaced-out word "sexa" (a known limit of
# the separators variant, which joins single letters across ". ").
HARMLESS = [
    "The sky is blue.",
    "Sunny day at the park with friends",
    "Photographed on film, soft light",
    "cats sleeping on a windowsill",
    "Watercolour style, pastel colours, 4k",
    "Thank you!",
]

_prompts = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda pre, harm, post: f"{pre}{harm}{post}",
        st.text(max_size=40),
        st.sampled_from(HARMFUL),
        st.text(max_size=40),
    ),
)
_PROPS = settings(
    database=None,
    deadline=None,
    derandomize=True,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)


@_PROPS
@given(prompt=_prompts)
def test_check_never_raises_on_any_text(prompt: str) -> None:
    found = _check_or_empty(_shared_lexicon(), prompt)
    if found is not None:
        assert isinstance(found, PromptFindings)
        assert not found.budget_exhausted


@_PROPS
@given(prompt=_prompts)
def test_check_is_deterministic(prompt: str) -> None:
    clf = _shared_lexicon()
    a, b = _check_or_empty(clf, prompt), _check_or_empty(clf, prompt)
    if a is None or b is None:
        assert a is None and b is None
        return
    assert [f.to_dict() for f in a] == [f.to_dict() for f in b]
    assert a.budget == b.budget


@_PROPS
@given(prompt=_prompts, tail=st.lists(st.sampled_from(HARMLESS), min_size=1, max_size=3))
def test_categories_survive_appended_harmless_text(prompt: str, tail: list[str]) -> None:
    clf = _shared_lexicon()
    before = _check_or_empty(clf, prompt)
    if before is None:
        return
    after = clf.check(prompt + ". " + " ".join(tail))
    assert {f.name for f in before} <= {f.name for f in after}


def test_harmful_seeds_are_found_by_the_lexicon_alone() -> None:
    # The property above is only worth something if its seeds are flagged.
    clf = _shared_lexicon()
    missed = [p for p in HARMFUL if not clf.check(p)]
    assert missed == []
