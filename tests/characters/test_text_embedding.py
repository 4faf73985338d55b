"""The shared sentence embedder's fast paths: direct forward = sentence-transformers, int8 close to fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import detectors  # noqa: F401  (import hook before sentence_transformers)
from detectors.base import ModelUnavailable
from detectors.characters.semantic import prompt_pieces
from detectors.text_embedding import (
    DEFAULT_PRECISION,
    SentenceEmbedder,
    default_model_path,
    shared_sentence_embedder,
)


@pytest.fixture(scope="module")
def fp32() -> SentenceEmbedder:
    return shared_sentence_embedder(precision="fp32")


@pytest.fixture(scope="module")
def int8() -> SentenceEmbedder:
    return shared_sentence_embedder(precision="int8")


@pytest.fixture(scope="module")
def texts(prompts: list[dict]) -> list[str]:
    out = [piece for p in prompts for piece in prompt_pieces(p["text"])]
    return [*out, "a", "a much longer sentence, " * 40]  # one token, and past typical lengths


def test_default_is_exact_fp32_and_shared() -> None:
    # int8 stays opt-in: it moved one prompt-safety benchmark result (issue 4).
    assert DEFAULT_PRECISION == "fp32"
    assert shared_sentence_embedder() is shared_sentence_embedder(precision="fp32")
    assert shared_sentence_embedder(precision="int8") is not shared_sentence_embedder()


def test_fp32_direct_path_equals_sentence_transformers(
    fp32: SentenceEmbedder, texts: list[str]
) -> None:
    assert fp32.direct  # Transformer → mean Pooling → Normalize, read from the model folder
    fp32._cache.clear()
    ours = fp32.embed(texts)
    ref = fp32.model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    assert ours.shape == ref.shape == (len(texts), 384)
    assert np.allclose(ours, ref, atol=1e-5)


def test_int8_really_quantised_and_close_to_fp32(
    fp32: SentenceEmbedder, int8: SentenceEmbedder, texts: list[str]
) -> None:
    linears = [m for m in int8.model[0].auto_model.modules() if type(m) is torch.nn.Linear]
    assert (
        not linears
    )  # every Linear was swapped (an assignment that silently did nothing failed this)
    a, b = fp32.embed(texts), int8.embed(texts)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(1)
    assert not np.allclose(a, b, atol=1e-4)  # a different numeric path...
    # ...that stays close: measured min 0.959, mean 0.977 on these prompts (per-channel scales).
    assert cos.min() > 0.93 and cos.mean() > 0.96


def test_int8_vector_is_a_function_of_the_text(int8: SentenceEmbedder, texts: list[str]) -> None:
    """Alone, in a batch, from the cache or from ``model.encode`` one at a time: the same vector."""
    int8._cache.clear()
    batch = int8.embed(texts[:6])
    int8._cache.clear()
    alone = np.stack([int8.embed([t])[0] for t in texts[:6]])
    assert np.allclose(batch, alone, atol=1e-6)
    assert np.allclose(int8.embed(texts[:6]), alone)  # cache hits
    ref = np.stack(
        [
            int8.model.encode([t], convert_to_numpy=True, normalize_embeddings=True)[0]
            for t in texts[:6]
        ]
    )
    assert np.allclose(alone, ref, atol=1e-5)


def test_long_text_truncated_not_rejected(int8: SentenceEmbedder) -> None:
    long = "a penguin on a laptop. " * 400
    assert len(int8._keys([long])[0]) == int8.max_tokens == 256
    v = int8.embed([long])
    assert v.shape == (1, 384) and np.isfinite(v).all()


def test_bad_precision_and_missing_model(tmp_path) -> None:
    with pytest.raises(ModelUnavailable, match="precision"):
        SentenceEmbedder(default_model_path(), precision="int4")
    with pytest.raises(ModelUnavailable, match="no sentence-transformers model"):
        SentenceEmbedder(tmp_path, precision="int8")
