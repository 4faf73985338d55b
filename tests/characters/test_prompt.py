"""Prompt matcher with the real MiniLM model: the prompt set, semantic matches, evidence, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.base import DetectorError
from detectors.characters import CharacterRef, MiniLMTextEmbedder, PromptCharacterMatcher
from detectors.characters.semantic import (
    BruteForceDescriptionIndex,
    DescriptionIndex,
    prompt_pieces,
)

SPONGE = CharacterRef(
    "sponge",
    "SpongeBob SquarePants",
    ("SpongeBob",),
    "a yellow sea sponge with square pants who lives in a pineapple",
)


@pytest.fixture(scope="module")
def matcher(fixture_characters, embedder, common_words) -> PromptCharacterMatcher:
    refs, _ = fixture_characters
    return PromptCharacterMatcher([*refs, SPONGE], embedder=embedder, common_words=common_words)


def test_prompt_set(matcher: PromptCharacterMatcher, prompts: list[dict]) -> None:
    for p in prompts:
        got = {m.character_id for m in matcher.check(p["text"])}
        assert got == set(p["expect"]), p


def test_description_without_name(matcher: PromptCharacterMatcher) -> None:
    ms = matcher.check("a yellow sponge in square pants who lives in a pineapple under the sea")
    assert [m.character_id for m in ms] == ["sponge"]
    m = ms[0]
    assert m.backend == "prompt.semantic" and m.score >= m.threshold == matcher.semantic_threshold
    assert m.evidence["description"] == SPONGE.description
    assert {"yellow", "sponge", "pineapple"} <= set(m.evidence["shared_words"])
    assert m.explanation.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    sig = m.to_signal()
    assert sig.kind == "character.match" and sig.to_dict()["character_id"] == "sponge"


def test_name_evidence(matcher: PromptCharacterMatcher) -> None:
    (m,) = matcher.check("Т\u200bux the pеnguin on a bike")
    assert m.character_id == "tux" and m.backend == "prompt.name"
    assert m.evidence["form"] == "Tux the penguin"
    assert {"homoglyphs", "invisible_chars_removed"} <= set(m.evidence["normalisation"])
    assert m.evidence["mixed_scripts"] is True
    assert m.explanation.threshold == m.threshold


def test_faiss_and_brute_force_descriptions_agree(
    embedder: MiniLMTextEmbedder, fixture_characters
) -> None:
    refs, _ = fixture_characters
    vecs = embedder.embed([r.description for r in refs])
    fast, slow = DescriptionIndex(vecs.shape[1]), BruteForceDescriptionIndex(vecs.shape[1])
    ids = [r.character_id for r in refs]
    fast.add_many(ids, vecs)
    slow.add_many(ids, vecs)
    fast.remove(ids[0])
    slow.remove(ids[0])
    queries = embedder.embed(
        ["a penguin", "an orange crab", "a rabbit in a meadow. a witch with a cat"]
    )
    a, b = fast.search(queries, 0.2), slow.search(queries, 0.2)
    assert a.keys() == b.keys() and a
    for k in a:
        assert a[k][1] == b[k][1] and np.isclose(a[k][0], b[k][0], atol=1e-5)


def test_brute_force_matcher_gives_same_matches(
    fixture_characters, embedder, common_words, prompts
) -> None:
    refs, _ = fixture_characters
    fast = PromptCharacterMatcher(refs, embedder=embedder, common_words=common_words)
    slow = PromptCharacterMatcher(
        refs, embedder=embedder, common_words=common_words, brute_force=True
    )
    for p in prompts:
        a, b = fast.check(p["text"]), slow.check(p["text"])
        assert [(m.character_id, m.backend, m.evidence.get("form")) for m in a] == [
            (m.character_id, m.backend, m.evidence.get("form")) for m in b
        ]


def test_add_and_remove_take_effect_at_once(matcher: PromptCharacterMatcher) -> None:
    late = CharacterRef("late", "Plombo Zyx", (), "a purple teapot with six legs and a monocle")
    matcher.add(late)
    assert "late" in {m.character_id for m in matcher.check("plombo zyx dancing")}
    assert "late" in {
        m.character_id for m in matcher.check("a purple teapot with six legs wearing a monocle")
    }
    matcher.remove("late")
    assert "late" not in {m.character_id for m in matcher.check("plombo zyx dancing")}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("\u200b\u200b\x00", "empty"),
        ("x" * 5000, "limit is 4000"),
        (None, "text"),
    ],
)
def test_bad_prompts(matcher: PromptCharacterMatcher, bad: object, message: str) -> None:
    with pytest.raises(DetectorError, match=message):
        matcher.check(bad)  # type: ignore[arg-type]


def test_control_characters_and_mixed_scripts(matcher: PromptCharacterMatcher) -> None:
    assert {m.character_id for m in matcher.check("Go\x00 Gopher\x1b[31m in red")} == {"go_gopher"}
    assert matcher.check("Привет мир, 你好世界, a quiet lake") == []
    long_ok = "a calm lake at dawn. " * 150  # under the cap: checked, nothing found
    assert matcher.check(long_ok[: matcher.max_prompt_chars]) == []


def test_prompt_pieces_split_sentences() -> None:
    assert prompt_pieces("One. Two! Three") == ["One. Two! Three", "One.", "Two!", "Three"]
    assert prompt_pieces("just one") == ["just one"]
