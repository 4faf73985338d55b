"""The character name check costs time linear in the prompt (issue 11), has a work budget, and keeps its answers.

Long runs (4,000 characters, the prompt limit, and 20,000) of every character
class go through :class:`NameIndex` and the names-only prompt matcher. Growth
is judged on work counted, not timed, so a busy machine cannot fail it: the
Python and builtin calls a run makes (``sys.setprofile``) and the budget's
step counter, both deterministic, against the same class at 250 characters.
A call into C counts once whatever it costs; the code on this path has no
regex that can backtrack (each is a single character class or a plain run),
and its C calls (``str`` methods, set and dict look-ups) work on a word or a
window, not the whole text. The blind spot: a C call on the whole text made
once per character (slicing the prompt in a loop) counts as linear here. Hypothesis checks that any text is answered, the same way each
time, that appending harmless text never loses a character, and that the
index still agrees with the brute-force reference.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.characters import synthetic_characters
from detectors.base import DetectorError
from detectors.characters import BruteForceNameMatcher, CharacterRef, NameIndex
from detectors.characters.names import DEFAULT_NAME_BUDGET, MAX_TOKENS, NameHits
from detectors.characters.prompt import CharacterMatches, PromptCharacterMatcher
from detectors.text_normalise import WorkBudget, WorkBudgetExhausted
from tests.safety.test_prompt_linear import CLASSES

LONG = 20_000
LIMIT = 4_000
BASE_N = 250
# Counted work, not time: linear code stays near 1x the base rate (measured:
# at most 1.00x over every class); quadratic code reaches 16x at the prompt
# limit and 80x at 20,000 characters.
GROWTH_FACTOR = 2.0
# Fixed costs (set-up, the answer's objects) do not grow with the text.
SLACK_CALLS = 2_000

CHARS = [
    ("sb", "SpongeBob SquarePants", ("SpongeBob", "Sponge Bob"), "a yellow sea sponge with square pants"),
    ("tux", "Tux", ("Linux penguin",), "a plump black and white penguin, the Linux mascot"),
    ("ferris", "Ferris", ("Ferris the crab", "Rustacean"), "an orange crab, the Rust mascot"),
    ("bbb", "Big Buck Bunny", ("the big bunny of the meadow forest",), "a big fat white rabbit"),
    ("c3", "C-3PO", (), "a golden droid"),
    ("mario", "Mario", ("Super Mario",), "a plumber with a red cap"),
]  # fmt: skip
FORMS = [f for c in CHARS for f in (c[1], *c[2])]
# Extra classes that stress the name side: registered names repeated,
# spaced out, in leetspeak, and an ambiguous name with its context words.
NAME_CLASSES = {
    **CLASSES,
    "names_repeated": "spongebob tux mario ",
    "names_leet": "5p0ng3b0b m4r10 ",
    "names_spaced": "s p o n g e b o b ",
    "ambiguous_with_context": "tux penguin linux mascot w1 ",
    "long_name_windows": "the big bunny of the meadow forest ",
}


@pytest.fixture(scope="module")
def registry(common_words: frozenset[str]) -> list[tuple[str, str, tuple[str, ...], str]]:
    # The fixture names plus 300 coined ones, so keys of most lengths exist
    # (the index skips look-ups that no key length can answer).
    syn = [(r.character_id, r.name, r.aliases, r.description) for r in synthetic_characters(300)]
    return CHARS + syn


@pytest.fixture(scope="module")
def index(
    common_words: frozenset[str], registry: list[tuple[str, str, tuple[str, ...], str]]
) -> NameIndex:
    ix = NameIndex(common_words)
    for c in registry:
        ix.add(*c)
    return ix


@pytest.fixture(scope="module")
def matcher(common_words: frozenset[str]) -> PromptCharacterMatcher:
    refs = [CharacterRef(cid, name, aliases, desc) for cid, name, aliases, desc in CHARS]
    return PromptCharacterMatcher(
        refs, embedder=None, common_words=common_words, max_prompt_chars=LONG
    )


def _run(unit: str, n: int) -> str:
    text = (unit * (n // len(unit) + 1))[:n]
    return "x" + text[1:]  # a prompt the matcher accepts, whatever the class


def _calls(fn: Callable[[], object]) -> int:
    """Python and builtin calls ``fn()`` makes in this thread: a deterministic measure of work."""
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return count


def _assert_linear(cls: str, what: str, fn: Callable[[str], object]) -> None:
    unit = NAME_CLASSES[cls]
    base_text = _run(unit, BASE_N)
    base = _calls(lambda: fn(base_text))
    assert base == _calls(lambda: fn(base_text))  # deterministic, so exact bounds hold
    for n in (1000, LIMIT, LONG):
        text = _run(unit, n)
        made = _calls(lambda text=text: fn(text))  # type: ignore[misc]
        allowed = GROWTH_FACTOR * (n / BASE_N) * base + SLACK_CALLS
        assert made <= allowed, (
            f"{cls}, {what}: {n} characters made {made} calls; {BASE_N} made {base}, "
            f"so linear growth allows {allowed:.0f}"
        )


@pytest.mark.parametrize("cls", list(NAME_CLASSES))
def test_name_index_takes_linear_time(index: NameIndex, cls: str) -> None:
    # A budget that cannot run out: the time of the whole prompt is measured.
    _assert_linear(cls, "name index", lambda t: index.find(t, WorkBudget(10**12)))


@pytest.mark.parametrize("cls", list(NAME_CLASSES))
def test_prompt_matcher_takes_linear_time(matcher: PromptCharacterMatcher, cls: str) -> None:
    _assert_linear(cls, "prompt matcher", matcher.check)


@pytest.mark.parametrize("cls", list(NAME_CLASSES))
def test_name_work_is_counted_and_fits_the_budget(index: NameIndex, cls: str) -> None:
    unit = NAME_CLASSES[cls]
    at_limit = index.find(_run(unit, LIMIT))
    assert isinstance(at_limit, NameHits)
    assert index.find(_run(unit, LIMIT)).budget == at_limit.budget  # deterministic
    long = index.find(_run(unit, LONG), WorkBudget(10**12))
    if "words" not in long.budget["reason"]:
        assert long.budget["steps"] <= 5.2 * at_limit.budget["steps"] + 100
    # At the prompt limit only a text that NFKC turns into more than
    # MAX_TOKENS words runs out of room; everything else leaves headroom.
    if cls == "nfkc_expander":
        assert at_limit.budget_exhausted and "words" in at_limit.budget["reason"]
    else:
        assert not at_limit.budget_exhausted, at_limit.budget
        assert at_limit.budget["steps"] < DEFAULT_NAME_BUDGET / 2


def test_running_out_of_budget_flags_the_result(index: NameIndex) -> None:
    prompt = "Sp0ngeB0b and tux the linux penguin with Mario " * 30
    full = index.find(prompt)
    assert not full.budget_exhausted and {"sb", "tux", "mario"} <= {h.character_id for h in full}
    cut = index.find(prompt, WorkBudget(full.budget["steps"] // 4))
    assert cut.budget_exhausted and "work budget" in cut.budget["reason"]
    # What it read before the budget ran out is still reported.
    assert cut and {h.character_id for h in cut} <= {h.character_id for h in full}


def test_the_matcher_passes_the_flag_on(common_words: frozenset[str]) -> None:
    refs = [CharacterRef(cid, name, aliases, desc) for cid, name, aliases, desc in CHARS]
    m = PromptCharacterMatcher(refs, embedder=None, common_words=common_words, name_budget=500)
    found = m.check("SpongeBob at the beach, " * 100)
    assert isinstance(found, CharacterMatches) and found.budget_exhausted
    assert [x.character_id for x in found] == ["sb"]  # found before the budget ran out
    with pytest.raises(WorkBudgetExhausted):
        found.raise_if_exhausted("character check")
    m.name_budget = None
    assert not m.check("SpongeBob at the beach, " * 100).budget_exhausted


def test_more_words_than_the_cap_are_flagged(index: NameIndex) -> None:
    hits = index.find("mario " + "a " * MAX_TOKENS)
    assert hits.budget_exhausted and "words" in hits.budget["reason"]
    assert [h.character_id for h in hits] == ["mario"]


def test_one_huge_word_is_not_looked_up_letter_by_letter(index: NameIndex) -> None:
    # Before: every deletion of a 4,000-letter word, each 4,000 letters long.
    hits = index.find("a1" * 2000)
    assert hits == [] and hits.budget["steps"] < 1000


# ---------------------------------------------------------------- properties


def _mutate(form: str, how: int) -> str:
    if how == 1:
        return form.replace("o", "0").replace("e", "3")
    if how == 2:
        return form.replace(" ", "")
    if how == 3:
        return " ".join(form)
    if how == 4 and len(form) > 5:
        return form[:2] + form[3:]  # one letter dropped
    if how == 5:
        return form.upper()
    return form


_prompts = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.one_of(
            st.builds(_mutate, st.sampled_from(FORMS), st.integers(0, 5)),
            st.text(max_size=12),
            st.sampled_from(["the", "penguin", "linux", "crab", "at the beach", "w1th"]),
        ),
        min_size=1,
        max_size=8,
    ).map(" ".join),
)
HARMLESS = ["The sky is blue.", "Sunny day at the park", "Watercolour style, 4k", "Thank you!"]
_PROPS = settings(
    database=None,
    deadline=None,
    derandomize=True,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _found(index: NameIndex, prompt: str) -> set[str]:
    return {h.character_id for h in index.find(prompt)}


@_PROPS
@given(prompt=_prompts)
def test_find_never_raises_and_is_deterministic(index: NameIndex, prompt: str) -> None:
    a, b = index.find(prompt), index.find(prompt)
    assert a == b and a.budget == b.budget
    assert not a.budget_exhausted


@_PROPS
@given(prompt=_prompts)
def test_matcher_answers_any_text(matcher: PromptCharacterMatcher, prompt: str) -> None:
    try:
        found = matcher.check(prompt)
    except DetectorError as exc:
        assert "empty" in str(exc)
        return
    assert found == matcher.check(prompt)


@_PROPS
@given(prompt=_prompts, tail=st.lists(st.sampled_from(HARMLESS), min_size=1, max_size=3))
def test_characters_survive_appended_harmless_text(
    index: NameIndex, matcher: PromptCharacterMatcher, prompt: str, tail: list[str]
) -> None:
    longer = prompt + ". " + " ".join(tail)
    assert _found(index, prompt) <= _found(index, longer)
    try:
        before = {m.character_id for m in matcher.check(prompt)}
    except DetectorError:
        return
    assert before <= {m.character_id for m in matcher.check(longer)}


@pytest.fixture(scope="module")
def small_pair(common_words: frozenset[str]) -> tuple[NameIndex, BruteForceNameMatcher]:
    ix, bf = NameIndex(common_words), BruteForceNameMatcher(common_words)
    for c in CHARS:
        ix.add(*c)
        bf.add(*c)
    return ix, bf


@_PROPS
@given(prompt=_prompts)
def test_index_agrees_with_brute_force(
    small_pair: tuple[NameIndex, BruteForceNameMatcher], prompt: str
) -> None:
    # The index skips look-ups no key length can answer and remembers repeated
    # words; the reference does neither, so equal answers show nothing was lost.
    ix, bf = small_pair
    assert ix.find(prompt) == bf.find(prompt)
