"""The likeness vector catalog: ``likeness_vectors`` rows and the indexes kept in step with them.

``likeness_vectors`` in DuckDB is the source of truth. :func:`add_likeness_vectors`
and :func:`remove_likeness_vectors` write it in the caller's transaction, with
their audit events. :class:`VectorCatalog` keeps one index
(:mod:`store.vector_index`) per (set of owner kinds, model id): it loads the
persisted file when its metadata (count and a checksum of the id list) matches
the table, brings an in-memory index up to date by diffing ids, and rebuilds
when the file is missing, stale or corrupt. Index files are a cache: losing
them costs a rebuild, never data. Vector rows are immutable by convention (a
new embedding is a new row), which is why the id list alone identifies the
content.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from store.db import Store, Tx, new_id, now
from store.events import LikenessVectorsAdded, LikenessVectorsRemoved
from store.vector_index import (
    DEFAULT_HNSW_THRESHOLD,
    FlatIPIndex,
    IndexCorrupt,
    VectorIndex,
    VectorIndexError,
    build_index,
    ids_checksum,
    load_index,
    normalise,
    read_meta,
    set_faiss_threads,
)

_OWNER_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class VectorHit:
    vector_id: str
    owner_kind: str
    owner_id: str
    score: float


def _check_kinds(owner_kinds: Iterable[str]) -> tuple[str, ...]:
    kinds = tuple(sorted(set(owner_kinds)))
    if not kinds or not all(isinstance(k, str) and _OWNER_KIND.fullmatch(k) for k in kinds):
        raise VectorIndexError("owner kinds must be a non-empty set of short lower-case names")
    return kinds


def add_likeness_vectors(
    tx: Tx,
    owner_kind: str,
    owner_id: str,
    model_id: str,
    vectors: np.ndarray,
    *,
    source_sha256: Sequence[str | None] | None = None,
    source_t: Sequence[float | None] | None = None,
    actor_id: str | None = None,
) -> list[str]:
    """Store face vectors (normalised) for one owner in the caller's transaction; returns row ids."""
    _check_kinds([owner_kind])
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise VectorIndexError("expected one or more vectors")
    arr = normalise(arr, int(arr.shape[-1]))
    n = arr.shape[0]
    shas = list(source_sha256) if source_sha256 is not None else [None] * n
    times = list(source_t) if source_t is not None else [None] * n
    if len(shas) != n or len(times) != n:
        raise VectorIndexError("one source per vector is needed")
    ids = [new_id("vec") for _ in range(n)]
    at = now()
    for vid, vec, sha, t in zip(ids, arr, shas, times, strict=True):
        tx.execute(
            "INSERT INTO likeness_vectors VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [vid, owner_kind, owner_id, model_id, vec.tolist(), sha, t, at],
        )
    tx.audit(
        LikenessVectorsAdded(
            actor_id,
            owner_kind=owner_kind,
            owner_id=owner_id,
            model_id=model_id,
            count=n,
            dim=int(arr.shape[1]),
        )
    )
    return ids


def remove_likeness_vectors(
    tx: Tx,
    owner_kind: str,
    owner_id: str,
    *,
    model_id: str | None = None,
    actor_id: str | None = None,
) -> int:
    """Delete an owner's vectors (all models, or one) in the caller's transaction."""
    sql = "FROM likeness_vectors WHERE owner_kind = ? AND owner_id = ?"
    params: list[Any] = [owner_kind, owner_id]
    if model_id is not None:
        sql += " AND model_id = ?"
        params.append(model_id)
    row = tx.execute(f"SELECT count(*) {sql}", params).fetchone()
    count = int(row[0]) if row else 0
    if count:
        tx.execute(f"DELETE {sql}", params)
        tx.audit(
            LikenessVectorsRemoved(
                actor_id, owner_kind=owner_kind, owner_id=owner_id, model_id=model_id, count=count
            )
        )
    return count


@dataclass
class _Entry:
    index: VectorIndex
    count: int
    checksum: str
    owners: dict[str, tuple[str, str]]
    quick: tuple[int, int] = (-1, 0)


class VectorCatalog:
    """One index per (owner kinds, model id) over ``likeness_vectors``, kept in step with it.

    ``root`` is normally ``<data_dir>/indexes``. ``last_action`` records what
    the latest :meth:`index` call did (``memory``, ``loaded``, ``synced``,
    ``rebuilt``) and ``last_reason`` why, for logs and tests.
    """

    def __init__(
        self,
        store: Store,
        root: Path,
        *,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
        threads: int | None = None,
    ) -> None:
        self.store = store
        self.root = Path(root)
        self.hnsw_threshold = hnsw_threshold
        if threads is not None:
            set_faiss_threads(threads)
        self._entries: dict[tuple[tuple[str, ...], str], _Entry] = {}
        self._lock = threading.Lock()
        self.last_action = ""
        self.last_reason = ""

    @classmethod
    def in_data_dir(cls, store: Store, **kwargs: Any) -> VectorCatalog:
        return cls(store, store.data_dir / "indexes", **kwargs)

    def path_for(self, owner_kinds: Iterable[str], model_id: str) -> Path:
        """The index directory; its name is derived (slug + hash), never taken raw from input."""
        kinds = _check_kinds(owner_kinds)
        slug = re.sub(r"[^a-z0-9]+", "-", model_id.lower()).strip("-")[:40] or "model"
        digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:10]
        return self.root / f"likeness-{'+'.join(kinds)}-{slug}-{digest}"

    def _where(self, kinds: tuple[str, ...], model_id: str) -> tuple[str, list[Any]]:
        marks = ", ".join("?" for _ in kinds)
        return f"WHERE owner_kind IN ({marks}) AND model_id = ?", [*kinds, model_id]

    def _quick_state(self, kinds: tuple[str, ...], model_id: str) -> tuple[int, int]:
        # Cheap per-search freshness check: count plus a sum of DuckDB's fast (non-crypto)
        # id hashes, no sort or concatenation. Only compared within this process.
        where, params = self._where(kinds, model_id)
        row = self.store.query(
            f"SELECT count(*), coalesce(sum(hash(id)), 0) FROM likeness_vectors {where}", params
        )[0]
        return int(row[0]), int(row[1])

    def _table_state(self, kinds: tuple[str, ...], model_id: str) -> tuple[int, str]:
        where, params = self._where(kinds, model_id)
        row = self.store.query(
            "SELECT count(*), sha256(coalesce(string_agg(id, chr(10) ORDER BY id), '')) "
            f"FROM likeness_vectors {where}",
            params,
        )[0]
        return int(row[0]), str(row[1])

    def _owners(self, kinds: tuple[str, ...], model_id: str) -> dict[str, tuple[str, str]]:
        where, params = self._where(kinds, model_id)
        rows = self.store.query(
            f"SELECT id, owner_kind, owner_id FROM likeness_vectors {where}", params
        )
        return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def _vectors(self, ids: list[str]) -> tuple[list[str], np.ndarray]:
        found: list[str] = []
        rows: list[list[float]] = []
        for start in range(0, len(ids), 10_000):
            chunk = ids[start : start + 10_000]
            marks = ", ".join("?" for _ in chunk)
            for vid, vec in self.store.query(
                f"SELECT id, vector FROM likeness_vectors WHERE id IN ({marks}) ORDER BY id", chunk
            ):
                found.append(str(vid))
                rows.append(vec)
        dims = {len(r) for r in rows}
        if len(dims) > 1:
            raise VectorIndexError(f"stored vectors of one model have different dimensions {dims}")
        return found, np.asarray(rows, dtype=np.float32)

    def index(self, owner_kinds: Iterable[str], model_id: str) -> VectorIndex | None:
        """The up-to-date index for these owner kinds and model; None when there are no vectors."""
        kinds = _check_kinds(owner_kinds)
        with self._lock:
            entry = self._fresh(kinds, model_id)
            return entry.index if entry is not None else None

    def _fresh(self, kinds: tuple[str, ...], model_id: str) -> _Entry | None:
        key = (kinds, model_id)
        quick = self._quick_state(kinds, model_id)
        entry = self._entries.get(key)
        if entry is not None and entry.quick == quick:
            self._note("memory", "in-memory index matches the table")
            return entry
        count, checksum = self._table_state(kinds, model_id)
        if entry is not None and (entry.count, entry.checksum) == (count, checksum):
            entry.quick = quick
            self._note("memory", "in-memory index matches the table")
            return entry
        if count == 0:
            self._entries.pop(key, None)
            self._note("empty", "no vectors for this model")
            return None
        owners = self._owners(kinds, model_id)
        if entry is not None and not (
            isinstance(entry.index, FlatIPIndex) and count >= self.hnsw_threshold
        ):
            entry = self._sync(entry, owners)
            self._note("synced", "applied added/removed vectors")
        elif entry is not None:
            entry = None
            self._note("rebuilt", "grew past the HNSW threshold")
        else:
            entry = self._load(kinds, model_id, count, checksum, owners)
        if entry is None:
            entry = self._rebuild(model_id, owners)
        entry.count, entry.checksum, entry.quick = count, checksum, quick
        self._entries[key] = entry
        if self.last_action in ("synced", "rebuilt"):
            entry.index.save(self.path_for(kinds, model_id), model_id)
        return entry

    def _note(self, action: str, reason: str) -> None:
        self.last_action, self.last_reason = action, reason

    def _load(
        self,
        kinds: tuple[str, ...],
        model_id: str,
        count: int,
        checksum: str,
        owners: dict[str, tuple[str, str]],
    ) -> _Entry | None:
        path = self.path_for(kinds, model_id)
        if read_meta(path) is None:
            self._note("rebuilt", "no persisted index")
            return None
        try:
            index, meta = load_index(path)
        except IndexCorrupt as exc:
            self._note("rebuilt", str(exc))
            return None
        if meta.get("model_id") != model_id:
            self._note("rebuilt", "persisted index is for another model")
            return None
        if (meta.get("count"), meta.get("ids_checksum")) != (count, checksum):
            self._note("rebuilt", "persisted index is stale (count or id checksum differ)")
            return None
        self._note("loaded", "persisted index matches the table")
        return _Entry(index, count, checksum, owners)

    def _rebuild(self, model_id: str, owners: dict[str, tuple[str, str]]) -> _Entry:
        ids, vectors = self._vectors(sorted(owners))
        index = build_index(int(vectors.shape[1]), len(ids), hnsw_threshold=self.hnsw_threshold)
        index.add(ids, vectors)
        return _Entry(index, len(ids), ids_checksum(ids), owners)

    def _sync(self, entry: _Entry, owners: dict[str, tuple[str, str]]) -> _Entry:
        have = set(entry.index.ids())
        gone = have - set(owners)
        new = sorted(set(owners) - have)
        entry.index.remove(gone)
        if new:
            ids, vectors = self._vectors(new)
            entry.index.add(ids, vectors)
        entry.owners = owners
        return entry

    def search(
        self, owner_kinds: Iterable[str], model_id: str, query: np.ndarray, k: int
    ) -> list[list[VectorHit]]:
        """Nearest stored vectors per query row, with the owner each belongs to."""
        kinds = _check_kinds(owner_kinds)
        rows = np.asarray(query)
        n = 1 if rows.ndim == 1 else int(rows.shape[0])
        with self._lock:  # a concurrent sync must not change the index mid-search
            entry = self._fresh(kinds, model_id)
            if entry is None:
                return [[] for _ in range(n)]
            return [
                [VectorHit(vid, *entry.owners[vid], score) for vid, score in hits]
                for hits in entry.index.search(query, k)
            ]
