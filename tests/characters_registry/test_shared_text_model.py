"""Prompt safety and the character matcher share one MiniLM per process, and a prompt is encoded once."""

from __future__ import annotations

import numpy as np

import detectors  # noqa: F401  (import hook before sentence_transformers)
from detectors.characters import CharacterRef, MiniLMTextEmbedder, PromptCharacterMatcher
from detectors.prompt_safety import PromptSafetyClassifier
from detectors.text_embedding import shared_sentence_embedder


def test_one_model_one_encode_same_vectors() -> None:
    safety = PromptSafetyClassifier()
    embedder = MiniLMTextEmbedder()
    shared = shared_sentence_embedder()
    assert embedder._model is safety._model is shared.model

    matcher = PromptCharacterMatcher(
        [CharacterRef("tux", "Tux", ("Linux penguin",), "a plump black and white penguin")],
        embedder=embedder,
    )
    prompt = "The Linux penguin surfing a big wave at dawn"
    before = shared.encoded
    safety.check(prompt)
    assert shared.encoded - before == 1  # the whole prompt (one sentence)
    assert [m.character_id for m in matcher.check(prompt)] == ["tux"]
    assert shared.encoded - before == 1  # same token ids: served from the cache

    # The cache never changes a vector: equal to a direct encode.
    texts = ["an orange crab on a rock", "AN ORANGE CRAB ON A ROCK", "a third, new sentence"]
    cached = shared.embed(texts)
    direct = shared.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(cached, direct, atol=1e-5)
    assert np.allclose(cached[0], cached[1])  # uncased model: same ids, same vector
