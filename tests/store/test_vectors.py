"""Vector indexes: faiss backends agree with the brute-force reference; persistence; the catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from store.db import Store
from store.vector_catalog import VectorCatalog, add_likeness_vectors, remove_likeness_vectors
from store.vector_index import (
    BruteForceIndex,
    FlatIPIndex,
    HNSWIndex,
    IndexCorrupt,
    VectorIndex,
    VectorIndexError,
    build_index,
    load_index,
    set_faiss_threads,
)

DIM = 48
N = 3000
MODEL = "dlib/resnet-128:v1"


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> None:
    set_faiss_threads(1)


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    queries = rng.standard_normal((40, DIM)).astype(np.float32)
    return [f"vec_{i:05d}" for i in range(N)], vectors, queries


def _filled(cls: type[VectorIndex], data: tuple[list[str], np.ndarray, np.ndarray]) -> VectorIndex:
    ids, vectors, _ = data
    index = cls(DIM)
    index.add(ids, vectors)
    return index


def _ids(results: list[list[tuple[str, float]]]) -> list[list[str]]:
    return [[i for i, _ in row] for row in results]


def test_flat_is_exactly_the_brute_force_reference(data: tuple) -> None:
    queries = data[2]
    ref = _filled(BruteForceIndex, data).search(queries, 10)
    got = _filled(FlatIPIndex, data).search(queries, 10)
    assert _ids(got) == _ids(ref)
    np.testing.assert_allclose(
        [[s for _, s in row] for row in got], [[s for _, s in row] for row in ref], atol=1e-5
    )
    # Scores are cosine similarities of unit vectors.
    assert all(-1.0001 <= s <= 1.0001 for row in got for _, s in row)


def test_hnsw_recall_against_brute_force(data: tuple) -> None:
    queries = data[2]
    ref = _ids(_filled(BruteForceIndex, data).search(queries, 10))
    got = _ids(_filled(HNSWIndex, data).search(queries, 10))
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ref, got, strict=True)])
    assert recall >= 0.95, recall
    assert all(len(row) == 10 for row in got)


@pytest.mark.parametrize("cls", [BruteForceIndex, FlatIPIndex, HNSWIndex])
def test_removal_hides_ids_and_matches_reference(cls: type[VectorIndex], data: tuple) -> None:
    ids, _, queries = data
    ref = _filled(BruteForceIndex, data)
    index = _filled(cls, data)
    # The nearest neighbours of every query are the ones whose removal would show.
    drop = {i for row in _ids(ref.search(queries, 3)) for i in row} | set(ids[:100])
    assert index.remove(drop | {"not-there"}) == len(drop)
    ref.remove(drop)
    assert len(index) == N - len(drop) and not drop & set(index.ids())
    got = _ids(index.search(queries, 5))
    assert not drop & {i for row in got for i in row}
    expected = _ids(ref.search(queries, 5))
    if cls is HNSWIndex:
        recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(expected, got, strict=True)])
        assert recall >= 0.9
    else:
        assert got == expected


def test_hnsw_compacts_after_many_removals(data: tuple) -> None:
    ids, vectors, queries = data
    index = _filled(HNSWIndex, data)
    index.remove(ids[: N // 2 + 10])
    assert index._index.ntotal == len(index) == N - (N // 2 + 10)  # graph rebuilt, no tombstones
    ref = BruteForceIndex(DIM)
    ref.add(ids[N // 2 + 10 :], vectors[N // 2 + 10 :])
    got, want = _ids(index.search(queries, 5)), _ids(ref.search(queries, 5))
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(want, got, strict=True)]) >= 0.9


@pytest.mark.parametrize("cls", [BruteForceIndex, FlatIPIndex, HNSWIndex])
def test_bad_input_gives_clear_errors(cls: type[VectorIndex]) -> None:
    index = cls(4)
    good = np.eye(4, dtype=np.float32)
    with pytest.raises(VectorIndexError, match="shape"):
        index.add(["a"], np.ones((1, 3)))
    with pytest.raises(VectorIndexError, match="NaN"):
        index.add(["a"], np.array([[1, np.nan, 0, 0]]))
    with pytest.raises(VectorIndexError, match="zero vector"):
        index.add(["a"], np.zeros((1, 4)))
    with pytest.raises(VectorIndexError, match="ids for"):
        index.add(["a"], good)
    with pytest.raises(VectorIndexError, match="duplicate"):
        index.add(["a", "a", "b", "c"], good)
    index.add(["a", "b", "c", "d"], good * 3)  # not unit length: normalised defensively
    with pytest.raises(VectorIndexError, match="already in the index"):
        index.add(["a"], good[:1])
    with pytest.raises(VectorIndexError, match="shape"):
        index.search(np.ones(5), 1)
    with pytest.raises(VectorIndexError, match="positive"):
        index.search(np.ones(4), 0)
    with pytest.raises(VectorIndexError, match="NaN or infinite"):
        index.search(np.array([np.inf, 0, 0, 0]), 1)
    hit = index.search(np.array([0, 2.0, 0, 0]), 10)
    assert len(hit[0]) == 4 and hit[0][0][0] == "b" and hit[0][0][1] == pytest.approx(1.0)
    assert cls(4).search(np.ones(4), 3) == [[]]


def test_build_index_picks_flat_below_threshold() -> None:
    assert isinstance(build_index(8, 100, hnsw_threshold=1000), FlatIPIndex)
    assert isinstance(build_index(8, 1000, hnsw_threshold=1000), HNSWIndex)


@pytest.mark.parametrize("cls", [BruteForceIndex, FlatIPIndex, HNSWIndex])
def test_persistence_round_trip(cls: type[VectorIndex], data: tuple, tmp_path: Path) -> None:
    ids, _, queries = data
    index = _filled(cls, data)
    index.remove(ids[:10])
    meta = index.save(tmp_path / "idx", "model-x")
    assert meta["count"] == N - 10 and meta["backend"] == cls.backend and meta["dim"] == DIM
    loaded, loaded_meta = load_index(tmp_path / "idx")
    assert type(loaded) is cls and loaded_meta == meta
    assert sorted(loaded.ids()) == sorted(index.ids())
    assert _ids(loaded.search(queries, 5)) == _ids(index.search(queries, 5))
    # The loaded index keeps working: add and remove after loading.
    loaded.add(["new"], np.ones((1, DIM)))
    assert loaded.search(np.ones(DIM), 1)[0][0][0] == "new"


@pytest.mark.parametrize("damage", ["data", "ids", "meta", "missing"])
def test_corrupt_persisted_index_is_refused(damage: str, data: tuple, tmp_path: Path) -> None:
    _filled(FlatIPIndex, data).save(tmp_path / "idx", "m")
    target = tmp_path / "idx"
    if damage == "data":
        raw = bytearray((target / "index.bin").read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (target / "index.bin").write_bytes(bytes(raw))
    elif damage == "ids":
        records = json.loads((target / "ids.json").read_text())
        (target / "ids.json").write_text(json.dumps(records[:-1]))
    elif damage == "meta":
        (target / "meta.json").write_text("{not json")
    else:
        (target / "index.bin").unlink()
    with pytest.raises(IndexCorrupt):
        load_index(target)


def _seed(store: Store, rng: np.random.Generator, owners: int, per: int, kind: str) -> dict:
    made = {}
    with store.transaction() as tx:
        for o in range(owners):
            vecs = rng.standard_normal((per, 16)).astype(np.float32)
            made[f"{kind}_{o}"] = (add_likeness_vectors(tx, kind, f"{kind}_{o}", MODEL, vecs), vecs)
    return made


def test_catalog_builds_persists_loads_and_rebuilds(store: Store) -> None:
    rng = np.random.default_rng(3)
    cameos = _seed(store, rng, owners=5, per=3, kind="cameo")
    _seed(store, rng, owners=2, per=2, kind="protected")
    catalog = VectorCatalog.in_data_dir(store)
    index = catalog.index(["cameo", "protected"], MODEL)
    assert index is not None and len(index) == 19 and catalog.last_action == "rebuilt"
    path = catalog.path_for(["protected", "cameo"], MODEL)
    assert path.parent == store.data_dir / "indexes" and (path / "meta.json").is_file()
    assert "/" not in path.name and ":" not in path.name

    # Search returns owners; the query equal to a stored vector finds it first.
    vec_ids, vecs = cameos["cameo_2"]
    hits = catalog.search(["cameo", "protected"], MODEL, vecs[1], 3)
    assert hits[0][0].vector_id == vec_ids[1] and hits[0][0].owner_id == "cameo_2"
    assert hits[0][0].owner_kind == "cameo" and hits[0][0].score == pytest.approx(1.0)
    only_protected = catalog.search(["protected"], MODEL, vecs[1], 10)
    assert {h.owner_kind for h in only_protected[0]} == {"protected"}
    assert len(only_protected[0]) == 4
    assert catalog.search(["cameo"], "another-model", vecs[1], 3) == [[]]
    assert catalog.index(["cameo", "protected"], MODEL) is index
    assert catalog.last_action == "memory"

    # A new process (new catalog) loads the persisted file when it matches the table.
    fresh = VectorCatalog.in_data_dir(store)
    assert len(fresh.index(["cameo", "protected"], MODEL) or []) == 19
    assert fresh.last_action == "loaded"

    # Table changes: the in-memory index follows by diffing ids, and re-persists.
    with store.transaction() as tx:
        assert remove_likeness_vectors(tx, "cameo", "cameo_2") == 3
        new_ids = add_likeness_vectors(tx, "cameo", "cameo_9", MODEL, rng.standard_normal((2, 16)))
    index = fresh.index(["cameo", "protected"], MODEL)
    assert fresh.last_action == "synced" and index is not None and len(index) == 18
    assert not set(vec_ids) & set(index.ids()) and set(new_ids) <= set(index.ids())
    assert fresh.search(["cameo", "protected"], MODEL, vecs[1], 1)[0][0].owner_id != "cameo_2"

    # The re-persisted file matches the table again: another process loads it.
    third = VectorCatalog.in_data_dir(store)
    third.index(["cameo", "protected"], MODEL)
    assert third.last_action == "loaded"

    # Missing file → rebuild; corrupt file → rebuild; stale file → rebuild.
    shutil.rmtree(path)
    fourth = VectorCatalog.in_data_dir(store)
    fourth.index(["cameo", "protected"], MODEL)
    assert fourth.last_action == "rebuilt" and "no persisted" in fourth.last_reason
    (path / "index.bin").write_bytes(b"garbage")
    fifth = VectorCatalog.in_data_dir(store)
    assert len(fifth.index(["cameo", "protected"], MODEL) or []) == 18
    assert fifth.last_action == "rebuilt" and "does not match" in fifth.last_reason
    with store.transaction() as tx:
        add_likeness_vectors(tx, "protected", "protected_0", MODEL, rng.standard_normal((1, 16)))
    sixth = VectorCatalog.in_data_dir(store)
    assert len(sixth.index(["cameo", "protected"], MODEL) or []) == 19
    assert sixth.last_action == "rebuilt" and "stale" in sixth.last_reason
    assert store.verify_audit().ok


def test_catalog_switches_to_hnsw_when_large(store: Store) -> None:
    rng = np.random.default_rng(5)
    _seed(store, rng, owners=1, per=20, kind="cameo")
    catalog = VectorCatalog.in_data_dir(store, hnsw_threshold=30)
    assert isinstance(catalog.index(["cameo"], MODEL), FlatIPIndex)
    _seed(store, rng, owners=2, per=10, kind="protected")
    assert isinstance(catalog.index(["cameo", "protected"], MODEL), HNSWIndex)
    with store.transaction() as tx:
        add_likeness_vectors(tx, "cameo", "cameo_x", MODEL, rng.standard_normal((10, 16)))
    assert isinstance(catalog.index(["cameo"], MODEL), HNSWIndex)
    assert catalog.last_reason == "grew past the HNSW threshold"
    reloaded = VectorCatalog.in_data_dir(store, hnsw_threshold=30)
    assert isinstance(reloaded.index(["cameo"], MODEL), HNSWIndex)
    assert reloaded.last_action == "loaded"


def test_storing_vectors_validates_and_audits(store: Store) -> None:
    with pytest.raises(VectorIndexError, match="NaN"), store.transaction() as tx:
        add_likeness_vectors(tx, "cameo", "c1", MODEL, np.array([[np.nan, 1.0]]))
    with pytest.raises(VectorIndexError, match="owner kinds"), store.transaction() as tx:
        add_likeness_vectors(tx, "Cameo; DROP", "c1", MODEL, np.ones((1, 2)))
    with pytest.raises(VectorIndexError, match="one source per vector"), store.transaction() as tx:
        add_likeness_vectors(tx, "cameo", "c1", MODEL, np.ones((2, 2)), source_sha256=["a" * 64])
    assert store.query("SELECT count(*) FROM likeness_vectors") == [(0,)]
    with store.transaction() as tx:
        ids = add_likeness_vectors(tx, "cameo", "c1", MODEL, np.array([[3.0, 4.0]]), source_t=[1.5])
    stored = store.query("SELECT vector, source_t FROM likeness_vectors WHERE id = ?", ids)
    assert stored[0][0] == pytest.approx([0.6, 0.8]) and stored[0][1] == 1.5
    events = store.query("SELECT event, subject_id FROM audit_log WHERE event LIKE 'likeness.%'")
    assert events == [("likeness.vectors_added", "c1")]
