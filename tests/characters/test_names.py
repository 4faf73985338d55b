"""Name/alias rules: normalisation, leetspeak, typos, word boundaries, ambiguity; index == brute force."""

from __future__ import annotations

import pytest

from bench.characters import synthetic_characters
from detectors.characters import BruteForceNameMatcher, NameIndex
from detectors.characters.textnorm import canonical_tokens, leet_variants, normalize

CHARS = [
    ("sb", "SpongeBob SquarePants", ("SpongeBob",), "a yellow sea sponge with square pants"),
    ("tux", "Tux", ("Linux penguin",), "a plump black and white penguin, the Linux mascot"),
    ("ferris", "Ferris", ("Ferris the crab", "Rustacean"), "an orange crab, the Rust mascot"),
    ("bbb", "Big Buck Bunny", (), "a big fat white rabbit"),
    ("c3", "C-3PO", (), "a golden droid"),
    ("mario", "Mario", (), "a plumber with a red cap"),
]


@pytest.fixture(scope="module")
def pair(common_words: frozenset[str]) -> tuple[NameIndex, BruteForceNameMatcher]:
    ix, bf = NameIndex(common_words), BruteForceNameMatcher(common_words)
    for c in CHARS:
        ix.add(*c)
        bf.add(*c)
    return ix, bf


def found(ix: NameIndex, prompt: str) -> set[str]:
    return {h.character_id for h in ix.find(prompt) if not h.needs_context}


def test_normalisation_undoes_unicode_tricks() -> None:
    assert normalize("Ｓｐｏｎｇｅ").text == "sponge"
    assert normalize("Spo\u200bnge").text == "sponge"
    assert normalize("Pokémon").text == "pokemon"
    n = normalize("Tυx the pеnguin")  # Greek upsilon, Cyrillic ie
    assert n.text == "tux the penguin" and "homoglyphs" in n.applied and n.mixed_scripts
    assert normalize("a\x00b\x1bc").text == "a b c"


def test_leetspeak_variants_only_for_words() -> None:
    assert "spongebob" in leet_variants("5p0ng3b0b")
    assert {"ferris", "ferrls"} <= set(leet_variants("f3rr1s"))
    assert leet_variants("1999") == ("1999",)
    assert leet_variants("$5") == ("$5",)
    assert canonical_tokens("C-3PO") == ("c", "epo")


@pytest.mark.parametrize(
    ("prompt", "cid"),
    [
        ("5p0ng3b0b at the beach", "sb"),
        ("Spongbob Squarpants dancing", "sb"),
        ("sponge bob on a boat", "sb"),
        ("bigbuckbunny eats", "bbb"),
        ("c3po walks", "c3"),
        ("Rustacaen", "ferris"),
        ("Ｔｕｘ the Linux penguin", "tux"),
        ("Ferris the crab", "ferris"),
        ("Ferris waving at the rust mascot meetup", "ferris"),
        ("MARIO the plumber in a red cap", "mario"),  # "mario" is a vocabulary word: needs context
    ],
)
def test_names_found(pair: tuple[NameIndex, BruteForceNameMatcher], prompt: str, cid: str) -> None:
    assert cid in found(pair[0], prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "a tux at the wedding",  # ambiguous short name, no context
        "a man in a tuxedo",  # word boundary
        "rusty ferris wheel at the fair",  # common word, no context
        "Maria walking her dog",  # typo matching never turns a real word into a name
        "a sponge and a bob haircut",
    ],
)
def test_innocent_prompts_do_not_match(
    pair: tuple[NameIndex, BruteForceNameMatcher], prompt: str
) -> None:
    assert found(pair[0], prompt) == set()


def test_ambiguous_name_reports_context_words(
    pair: tuple[NameIndex, BruteForceNameMatcher],
) -> None:
    hits = [h for h in pair[0].find("Tux waddling, the penguin from Linux") if h.form == "Tux"]
    assert hits and hits[0].ambiguous and set(hits[0].context_words) >= {"penguin", "linux"}


def test_index_agrees_with_brute_force(
    pair: tuple[NameIndex, BruteForceNameMatcher], prompts: list[dict]
) -> None:
    ix, bf = pair
    extra = [
        "Spongbob Squarpants",
        "sp0ngeb0b",
        "Big Buk Bunny",
        "c 3po",
        "Rustacaen Ferrris",
        "xx Tux yy",
    ]
    for text in [p["text"] for p in prompts] + extra:
        assert ix.find(text) == bf.find(text), text


def test_index_agrees_with_brute_force_on_synthetic_names(common_words: frozenset[str]) -> None:
    syn = synthetic_characters(300, seed=3)
    ix, bf = NameIndex(common_words), BruteForceNameMatcher(common_words)
    for r in syn:
        ix.add(r.character_id, r.name, r.aliases, r.description)
        bf.add(r.character_id, r.name, r.aliases, r.description)
    queries = []
    for r in syn[:40]:
        first, last = r.name.split()
        queries += [
            f"a photo of {r.name}",
            f"{first[:-1]}{last} at dawn",
            f"{first}x {last}",
            f"{last[1:]} {first}",
        ]
    for q in queries:
        assert ix.find(q) == bf.find(q), q
    assert any(ix.find(q) for q in queries)


def test_add_and_remove_without_rebuild(common_words: frozenset[str]) -> None:
    ix = NameIndex(common_words)
    ix.add("a", "Zorblax Quinn")
    assert {h.character_id for h in ix.find("zorblax quinn waves")} == {"a"}
    ix.add("a", "Plimbo")  # re-adding replaces
    assert ix.find("zorblax quinn waves") == []
    ix.remove("a")
    assert ix.find("plimbo") == [] and len(ix) == 0
