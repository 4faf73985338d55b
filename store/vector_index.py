"""Vector indexes over faiss: exact and approximate nearest-neighbour search, saved to files.

Three interchangeable :class:`VectorIndex` backends, all inner product over
L2-normalised float32 vectors (so scores are cosine similarities):

- :class:`BruteForceIndex` — numpy, exact, the reference the others are tested against;
- :class:`FlatIPIndex` — faiss ``IndexIDMap2(IndexFlatIP)``, exact and fast;
- :class:`HNSWIndex` — faiss ``IndexHNSWFlat`` (inner product), approximate, for large sets.

An index knows nothing of the database: :meth:`VectorIndex.save` writes it to
a directory (data, id records, then the metadata that vouches for them) and
:func:`load_index` reads it back or raises :class:`IndexCorrupt`. Which rows
an index holds, and when it is rebuilt, is :mod:`store.vector_catalog`'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np

from store.db import StoreError, now

FORMAT_VERSION = 1
META_FILE = "meta.json"
IDS_FILE = "ids.json"
DATA_FILE = "index.bin"
DEFAULT_HNSW_THRESHOLD = 200_000
_MAX_ID_CHARS = 200


class VectorIndexError(StoreError):
    """Bad vectors, ids or queries for an index; the message is safe to show."""


class IndexCorrupt(VectorIndexError):
    """A persisted index cannot be read or does not match its metadata (rebuild it)."""


def set_faiss_threads(n: int) -> None:
    """faiss's OpenMP pool is process-wide; the caller (the app shell) decides its size."""
    faiss.omp_set_num_threads(max(1, int(n)))


def ids_checksum(ids: Iterable[str]) -> str:
    """Order-independent checksum of an id set (the catalog computes the same in SQL)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def normalise(vectors: Any, dim: int, what: str = "vectors") -> np.ndarray:
    """A C-contiguous (n, dim) float32 array of unit vectors; clear errors for bad input.

    Normalises defensively (callers should already send unit vectors) and
    refuses NaN/inf, zero vectors and wrong shapes rather than index garbage.
    """
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError):
        raise VectorIndexError(f"{what} must be numeric arrays") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise VectorIndexError(f"{what} must have shape (n, {dim}); got {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise VectorIndexError(f"{what} contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if arr.shape[0] and float(norms.min()) < 1e-12:
        raise VectorIndexError(f"{what} contain a zero vector, which has no direction")
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


def _check_ids(ids: Sequence[str], n: int) -> list[str]:
    ids = list(ids)
    if len(ids) != n:
        raise VectorIndexError(f"{len(ids)} ids for {n} vectors")
    for item in ids:
        if not isinstance(item, str) or not 0 < len(item) <= _MAX_ID_CHARS or "\n" in item:
            raise VectorIndexError(f"invalid vector id {item!r:.80}")
    if len(set(ids)) != len(ids):
        raise VectorIndexError("duplicate ids in one batch")
    return ids


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class VectorIndex(ABC):
    """Inner-product search over string-keyed unit vectors of one dimension."""

    backend: ClassVar[str] = "abstract"

    def __init__(self, dim: int) -> None:
        if not isinstance(dim, int) or not 1 <= dim <= 65536:
            raise VectorIndexError(f"invalid dimension {dim!r}")
        self.dim = dim

    @abstractmethod
    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add new ids (an id already present is refused: vector rows are immutable)."""

    @abstractmethod
    def remove(self, ids: Iterable[str]) -> int:
        """Remove the given ids (unknown ids are ignored); returns how many went."""

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]: ...

    @abstractmethod
    def ids(self) -> list[str]:
        """The live ids, in no promised order."""

    @abstractmethod
    def __len__(self) -> int: ...

    def __contains__(self, item: object) -> bool:
        return item in set(self.ids())

    def search(self, query: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """For each query row, up to ``k`` (id, score) pairs, best first."""
        if not isinstance(k, int) or k < 1:
            raise VectorIndexError("k must be a positive integer")
        queries = normalise(query, self.dim, "queries")
        if len(self) == 0 or queries.shape[0] == 0:
            return [[] for _ in range(queries.shape[0])]
        return self._search(queries, min(k, len(self)))

    def _check_new(self, ids: Sequence[str], vectors: Any) -> tuple[list[str], np.ndarray]:
        arr = normalise(vectors, self.dim)
        checked = _check_ids(ids, arr.shape[0])
        present = set(self.ids()).intersection(checked)
        if present:
            raise VectorIndexError(f"ids already in the index: {sorted(present)[:5]}")
        return checked, arr

    # -- persistence ---------------------------------------------------------

    @abstractmethod
    def _dump(self) -> tuple[bytes, list[Any]]:
        """The index data file and the JSON-able id records to store next to it."""

    @classmethod
    @abstractmethod
    def _restore(
        cls, dim: int, data: bytes, records: list[Any], params: dict[str, Any]
    ) -> VectorIndex:
        """Rebuild from :meth:`_dump`'s output; raises on any inconsistency."""

    def params(self) -> dict[str, Any]:
        return {}

    def save(self, path: Path, model_id: str) -> dict[str, Any]:
        """Write the index to directory ``path``; the metadata file goes last.

        A crash part-way leaves metadata that no longer matches the data,
        which :func:`load_index` treats as corrupt (and the catalog rebuilds).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        data, records = self._dump()
        ids = self.ids()
        meta = {
            "format": FORMAT_VERSION,
            "backend": self.backend,
            "model_id": model_id,
            "dim": self.dim,
            "count": len(ids),
            "ids_checksum": ids_checksum(ids),
            "data_sha256": hashlib.sha256(data).hexdigest(),
            "params": self.params(),
            "saved_at": now().isoformat(),
        }
        _write_atomic(path / DATA_FILE, data)
        _write_atomic(path / IDS_FILE, json.dumps(records).encode("utf-8"))
        _write_atomic(path / META_FILE, json.dumps(meta, indent=1).encode("utf-8"))
        return meta


def read_meta(path: Path) -> dict[str, Any] | None:
    """The metadata of a persisted index, or None when absent or unreadable."""
    try:
        meta = json.loads((Path(path) / META_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def load_index(path: Path) -> tuple[VectorIndex, dict[str, Any]]:
    """Read an index saved by :meth:`VectorIndex.save`; :class:`IndexCorrupt` on any mismatch."""
    path = Path(path)
    meta = read_meta(path)
    if meta is None:
        raise IndexCorrupt(f"no readable index metadata in {path.name}")
    backend = _BACKENDS.get(str(meta.get("backend")))
    if meta.get("format") != FORMAT_VERSION or backend is None:
        raise IndexCorrupt(f"unknown index format or backend in {path.name}")
    try:
        data = (path / DATA_FILE).read_bytes()
        records = json.loads((path / IDS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        raise IndexCorrupt(f"index files in {path.name} are missing or unreadable") from None
    if hashlib.sha256(data).hexdigest() != meta.get("data_sha256"):
        raise IndexCorrupt(f"index data in {path.name} does not match its metadata")
    try:
        index = backend._restore(int(meta["dim"]), data, records, dict(meta.get("params") or {}))
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, VectorIndexError) as exc:
        raise IndexCorrupt(f"index in {path.name} cannot be read: {exc}") from None
    ids = index.ids()
    if len(ids) != meta.get("count") or ids_checksum(ids) != meta.get("ids_checksum"):
        raise IndexCorrupt(f"index ids in {path.name} do not match its metadata")
    return index, meta


class BruteForceIndex(VectorIndex):
    """numpy matrix product over every vector: exact, simple, the reference."""

    backend: ClassVar[str] = "bruteforce"

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self._ids: list[str] = []
        self._vectors = np.zeros((0, dim), dtype=np.float32)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        checked, arr = self._check_new(ids, vectors)
        self._ids.extend(checked)
        self._vectors = np.concatenate([self._vectors, arr])

    def remove(self, ids: Iterable[str]) -> int:
        drop = set(ids)
        keep = [i for i, item in enumerate(self._ids) if item not in drop]
        removed = len(self._ids) - len(keep)
        self._ids = [self._ids[i] for i in keep]
        self._vectors = self._vectors[keep]
        return removed

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        scores = queries @ self._vectors.T
        out = []
        for row in scores:
            # Stable sort on -score: ties keep insertion order, so results are deterministic.
            order = np.argsort(-row, kind="stable")[:k]
            out.append([(self._ids[i], float(row[i])) for i in order])
        return out

    def ids(self) -> list[str]:
        return list(self._ids)

    def vectors(self) -> np.ndarray:
        return self._vectors.copy()

    def __len__(self) -> int:
        return len(self._ids)

    def _dump(self) -> tuple[bytes, list[Any]]:
        return self._vectors.astype("<f4").tobytes(), list(self._ids)

    @classmethod
    def _restore(
        cls, dim: int, data: bytes, records: list[Any], params: dict[str, Any]
    ) -> BruteForceIndex:
        index = cls(dim)
        vectors = np.frombuffer(data, dtype="<f4").reshape(-1, dim)
        if vectors.shape[0] != len(records):
            raise VectorIndexError("vector and id counts differ")
        index._ids = [str(r) for r in records]
        index._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return index


class FlatIPIndex(VectorIndex):
    """faiss exact inner product with stable int64 labels mapped to our string ids."""

    backend: ClassVar[str] = "faiss-flat-ip"

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._label_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next = 0

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        checked, arr = self._check_new(ids, vectors)
        labels = np.arange(self._next, self._next + len(checked), dtype=np.int64)
        self._index.add_with_ids(arr, labels)
        for item, label in zip(checked, labels.tolist(), strict=True):
            self._label_of[item] = label
            self._id_of[label] = item
        self._next += len(checked)

    def remove(self, ids: Iterable[str]) -> int:
        labels = [self._label_of[i] for i in set(ids) if i in self._label_of]
        if not labels:
            return 0
        selector = faiss.IDSelectorBatch(np.asarray(labels, dtype=np.int64))
        removed = int(self._index.remove_ids(selector))
        for label in labels:
            del self._label_of[self._id_of.pop(label)]
        return removed

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        scores, labels = self._index.search(queries, k)
        return [
            [
                (self._id_of[int(lab)], float(s))
                for s, lab in zip(srow, lrow, strict=True)
                if lab >= 0
            ]
            for srow, lrow in zip(scores, labels, strict=True)
        ]

    def ids(self) -> list[str]:
        return list(self._label_of)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def _dump(self) -> tuple[bytes, list[Any]]:
        data = faiss.serialize_index(self._index).tobytes()
        return data, [[label, item] for item, label in self._label_of.items()]

    @classmethod
    def _restore(
        cls, dim: int, data: bytes, records: list[Any], params: dict[str, Any]
    ) -> FlatIPIndex:
        index = cls(dim)
        loaded = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if not isinstance(loaded, faiss.IndexIDMap2) or loaded.d != dim:
            raise VectorIndexError("not a flat inner-product index of the expected dimension")
        stored = set(faiss.vector_to_array(loaded.id_map).tolist())
        mapping = {int(label): str(item) for label, item in records}
        if stored != set(mapping) or loaded.ntotal != len(mapping):
            raise VectorIndexError("index labels and id records differ")
        index._index = loaded
        index._id_of = mapping
        index._label_of = {item: label for label, item in mapping.items()}
        index._next = max(mapping, default=-1) + 1
        return index


class HNSWIndex(VectorIndex):
    """faiss HNSW graph with inner product: approximate, sub-linear, for large sets.

    HNSW cannot delete nodes, so removal leaves a tombstone that searches skip
    (they ask for ``k + tombstones`` and filter); once tombstones reach half
    the graph it is rebuilt from the live vectors.
    """

    backend: ClassVar[str] = "faiss-hnsw-ip"

    def __init__(
        self, dim: int, *, m: int = 32, ef_construction: int = 100, ef_search: int = 128
    ) -> None:
        super().__init__(dim)
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self._index = self._new_graph()
        self._slots: list[str | None] = []  # faiss label (position) → id, None when removed
        self._slot_of: dict[str, int] = {}

    def _new_graph(self) -> Any:
        graph = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.ef_construction
        graph.hnsw.efSearch = self.ef_search
        return graph

    def params(self) -> dict[str, Any]:
        return {"m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        checked, arr = self._check_new(ids, vectors)
        start = len(self._slots)
        self._index.add(arr)
        self._slots.extend(checked)
        for offset, item in enumerate(checked):
            self._slot_of[item] = start + offset

    def remove(self, ids: Iterable[str]) -> int:
        removed = 0
        for item in set(ids):
            slot = self._slot_of.pop(item, None)
            if slot is not None:
                self._slots[slot] = None
                removed += 1
        if removed and len(self._slots) - len(self._slot_of) >= max(64, len(self._slots) // 2):
            self._compact()
        return removed

    def _compact(self) -> None:
        live = [(slot, item) for slot, item in enumerate(self._slots) if item is not None]
        vectors = (
            np.stack([self._index.reconstruct(slot) for slot, _ in live])
            if live
            else np.zeros((0, self.dim), dtype=np.float32)
        )
        self._index = self._new_graph()
        self._slots, self._slot_of = [], {}
        if live:
            self.add([item for _, item in live], vectors)

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        tombstones = len(self._slots) - len(self._slot_of)
        want = min(len(self._slots), k + tombstones)
        self._index.hnsw.efSearch = max(self.ef_search, want)
        scores, labels = self._index.search(queries, want)
        out = []
        for srow, lrow in zip(scores, labels, strict=True):
            hits = []
            for s, lab in zip(srow, lrow, strict=True):
                item = self._slots[int(lab)] if lab >= 0 else None
                if item is not None:
                    hits.append((item, float(s)))
            out.append(hits[:k])
        return out

    def ids(self) -> list[str]:
        return list(self._slot_of)

    def __len__(self) -> int:
        return len(self._slot_of)

    def _dump(self) -> tuple[bytes, list[Any]]:
        return faiss.serialize_index(self._index).tobytes(), list(self._slots)

    @classmethod
    def _restore(
        cls, dim: int, data: bytes, records: list[Any], params: dict[str, Any]
    ) -> HNSWIndex:
        index = cls(dim, **{k: int(v) for k, v in params.items()})
        loaded = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if not isinstance(loaded, faiss.IndexHNSWFlat) or loaded.d != dim:
            raise VectorIndexError("not an HNSW index of the expected dimension")
        if loaded.ntotal != len(records):
            raise VectorIndexError("graph size and id records differ")
        loaded.hnsw.efSearch = index.ef_search
        index._index = loaded
        index._slots = [None if r is None else str(r) for r in records]
        index._slot_of = {item: slot for slot, item in enumerate(index._slots) if item is not None}
        return index


_BACKENDS: dict[str, type[VectorIndex]] = {
    cls.backend: cls for cls in (BruteForceIndex, FlatIPIndex, HNSWIndex)
}


def build_index(
    dim: int, n_expected: int, *, hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD
) -> VectorIndex:
    """Exact flat search below ``hnsw_threshold`` vectors (fast enough, no recall loss), HNSW above."""
    if n_expected >= hnsw_threshold:
        return HNSWIndex(dim)
    return FlatIPIndex(dim)
