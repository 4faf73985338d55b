"""Store benchmark: blob write throughput, job claim/complete rate, vector index speed and recall.

Run: ``.venv/bin/python -m bench.store [--n 50000] [--dim 128] [--queries 500] [--threads 1]``.
Prints the figures and writes ``bench/results/store.json``. Vectors are random
unit vectors (a harder case for HNSW than clustered face embeddings); recall
is measured against the brute-force reference.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from store import jobs
from store.blobs import BlobStore
from store.db import Store
from store.vector_catalog import VectorCatalog, add_likeness_vectors
from store.vector_index import (
    BruteForceIndex,
    FlatIPIndex,
    HNSWIndex,
    VectorIndex,
    load_index,
    set_faiss_threads,
)

REPO = Path(__file__).resolve().parent.parent


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_blobs(root: Path) -> dict[str, Any]:
    blobs = BlobStore.in_data_dir(root, max_bytes=64 * 1024 * 1024)
    with Store(root) as store:
        small = [os.urandom(64 * 1024) for _ in range(200)]

        def put_small() -> None:
            for data in small:
                with store.transaction() as tx:
                    blobs.put(tx, data, "image/jpeg")

        _, t_small = _timed(put_small)
        big = os.urandom(48 * 1024 * 1024)

        def put_big() -> None:
            with store.transaction() as tx:
                blobs.put(tx, io.BytesIO(big), "video/mp4")

        _, t_big = _timed(put_big)
    return {
        "small_64k_puts_per_s": round(len(small) / t_small, 1),
        "stream_48mib_mb_per_s": round(48 / t_big, 1),
    }


def bench_jobs(root: Path, n_jobs: int, workers: int) -> dict[str, Any]:
    with Store(root) as store:

        def enqueue_all() -> None:
            with store.transaction() as tx:
                for i in range(n_jobs):
                    jobs.enqueue(tx, "bench", {"i": i})

        _, t_enqueue = _timed(enqueue_all)

        def drain(worker_id: str) -> None:
            while (job := jobs.claim(store, worker_id, ["bench"], 30)) is not None:
                jobs.complete(store, job, {"ok": True})

        def run_workers() -> None:
            threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        _, t_drain = _timed(run_workers)
        assert jobs.counts(store) == {"done": n_jobs}
        assert store.verify_audit().ok
    return {
        "jobs": n_jobs,
        "worker_threads": workers,
        "enqueue_per_s": round(n_jobs / t_enqueue, 1),
        "claim_complete_per_s": round(n_jobs / t_drain, 1),
    }


def _dataset(kind: str, n: int, dim: int, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """``random``: uniform directions (worst case for HNSW); ``clustered``: 10 noisy
    samples per identity and queries near an identity, closer to face embeddings."""
    rng = np.random.default_rng(0)
    if kind == "random":
        return (
            rng.standard_normal((n, dim)).astype(np.float32),
            rng.standard_normal((n_queries, dim)).astype(np.float32),
        )
    centres = rng.standard_normal((max(1, n // 10), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = 0.6 / np.sqrt(dim)
    vectors = centres[np.arange(n) % len(centres)] + noise * rng.standard_normal((n, dim))
    picks = rng.integers(0, len(centres), n_queries)
    queries = centres[picks] + noise * rng.standard_normal((n_queries, dim))
    return vectors.astype(np.float32), queries.astype(np.float32)


def bench_vectors(
    kind: str, n: int, dim: int, n_queries: int, k: int, root: Path
) -> dict[str, Any]:
    vectors, queries = _dataset(kind, n, dim, n_queries)
    ids = [f"v{i}" for i in range(n)]
    out: dict[str, Any] = {"data": kind, "n": n, "dim": dim, "queries": n_queries, "k": k}
    reference: list[set[str]] = []

    def measure(index: VectorIndex) -> dict[str, float]:
        results, t_search = _timed(lambda: index.search(queries, k))
        found = [{i for i, _ in row} for row in results]
        recall = float(np.mean([len(a & b) / k for a, b in zip(reference, found, strict=True)]))
        return {
            "search_ms_per_query": round(1000 * t_search / n_queries, 4),
            f"recall_at_{k}": round(recall, 4),
        }

    for cls in (BruteForceIndex, FlatIPIndex, HNSWIndex):
        index: VectorIndex = cls(dim)
        _, t_build = _timed(lambda index=index: index.add(ids, vectors))
        if cls is BruteForceIndex:
            reference = [{i for i, _ in row} for row in index.search(queries, k)]
        where = root / kind / cls.backend
        _, t_save = _timed(lambda index=index, where=where: index.save(where, "bench"))
        _, t_load = _timed(lambda where=where: load_index(where))
        out[cls.backend] = {
            "build_s": round(t_build, 3),
            **measure(index),
            "save_s": round(t_save, 3),
            "load_s": round(t_load, 3),
        }
        if isinstance(index, HNSWIndex):
            sweep = {}
            for ef in (64, 128, 256, 512):
                index.ef_search = ef
                sweep[f"ef_search_{ef}"] = measure(index)
            out[cls.backend]["ef_search_sweep"] = sweep
    return out


def bench_catalog(root: Path, n: int, dim: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    with Store(root) as store:

        def insert() -> None:
            with store.transaction() as tx:
                for owner in range(n // 10):
                    add_likeness_vectors(
                        tx, "cameo", f"cam_{owner}", "bench-model", rng.standard_normal((10, dim))
                    )

        _, t_insert = _timed(insert)
        _, t_rebuild = _timed(
            lambda: VectorCatalog.in_data_dir(store).index(["cameo"], "bench-model")
        )
        catalog = VectorCatalog.in_data_dir(store)
        _, t_load = _timed(lambda: catalog.index(["cameo"], "bench-model"))
        assert catalog.last_action == "loaded"
        _, t_check = _timed(lambda: catalog.index(["cameo"], "bench-model"))
    return {
        "vectors": n,
        "dim": dim,
        "insert_rows_per_s": round(n / t_insert, 1),
        "rebuild_from_duckdb_s": round(t_rebuild, 3),
        "load_persisted_s": round(t_load, 3),
        "freshness_check_ms": round(1000 * t_check, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000, help="vectors in the index benchmark")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--catalog-n", type=int, default=5_000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="faiss OpenMP threads")
    args = parser.parse_args()
    set_faiss_threads(args.threads)
    results: dict[str, Any] = {"threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        results["blobs"] = bench_blobs(base / "blobs")
        print("blobs", json.dumps(results["blobs"]), flush=True)
        results["jobs"] = [bench_jobs(base / f"jobs{w}", args.jobs, w) for w in (1, 4)]
        print("jobs", json.dumps(results["jobs"]), flush=True)
        results["vectors"] = []
        for kind in ("clustered", "random"):
            figures = bench_vectors(kind, args.n, args.dim, args.queries, args.k, base / "idx")
            results["vectors"].append(figures)
            print("vectors", json.dumps(figures, indent=1), flush=True)
        results["catalog"] = bench_catalog(base / "catalog", args.catalog_n, args.dim)
        print("catalog", json.dumps(results["catalog"]), flush=True)
    out = REPO / "bench" / "results" / "store.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
