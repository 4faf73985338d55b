"""Benchmark of minor safety in the product: the gate's SafetySource and BankService on real data.

Run: ``.venv/bin/python -m bench.safety_integration [--threads 1] [--bank-size 20000]``.
Prints the figures and writes them to ``bench/results/safety_integration.json``.

* source: one fixture video through the gate's intake (keyframes every 0.5 s
  at <= 1280 px) and ``SafetySource``: ms for ages (face tracks over at most
  24 keyframes), nudity (8 keyframes) and the prompt check, and per keyframe;
* banks: a store-backed bank of ``--bank-size`` random PDQ entries plus one
  banked fixture video; time to load the in-memory index from the store, to
  pick up one added clip (incremental refresh), ms per query for the
  multi-index index and the brute-force reference (results must be identical),
  and the keyframe match rate of a real H.264 re-encode at half size.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import detectors  # noqa: F401  (torch import hook first)
from greenroom.settings import Settings
from greenroom.wiring import build_pipeline
from pipeline.intake import keyframes
from pipeline.services import PipelineServices as Pipeline
from pipeline.sources import ScanInput
from store.banks import NewEntry
from store.db import Store

RESULTS = Path(__file__).resolve().parent / "results" / "safety_integration.json"
FIXTURES = Path("/work/shared/fixtures")
VIDEO = "videos/liveportrait_s18_woman.mp4"
BANKED = "videos/bbb_bunny_720p_seg49-51.mp4"


def _ctx(data: Path, threads: int) -> Pipeline:
    settings = Settings(data_dir=data, threads=threads, fixtures_dir=FIXTURES)
    return build_pipeline(Store(data), settings)


def bench_source(ctx: Pipeline) -> dict[str, Any]:
    item = ctx.intake.ingest(FIXTURES / VIDEO)
    frames = keyframes(item, limits=ctx.media_limits)
    scan = ScanInput(
        stage="upload",
        creator=None,
        audience="adult",
        prompt="a woman talking to the camera in her living room",
        media_path=item.path,
        media_kind="video",
        media_sha256=item.sha256,
        frames=frames,
    )
    src = ctx.safety
    # Warm-up loads every model once; the timed run is the steady state.
    src.signals(scan)
    out: dict[str, Any] = {"video": VIDEO, "keyframes": len(frames)}
    for name, fn in (
        ("ages", src.age_signals),
        ("nudity", src.nudity_signals),
        ("prompt", src.prompt_signals),
    ):
        t = time.perf_counter()
        found = fn(scan)
        out[f"{name}_ms"] = round(1000 * (time.perf_counter() - t), 1)
        out[f"{name}_signals"] = len(found)
    total = out["ages_ms"] + out["nudity_ms"] + out["prompt_ms"]
    out["total_ms"] = round(total, 1)
    out["ms_per_keyframe_of_clip"] = round(total / len(frames), 1)
    view = src.view(scan, src.signals(scan))
    out["view_minor"] = view["minor"]
    out["view_nudity_max"] = view["nudity"]["max_score"]
    return out


def bench_banks(ctx: Pipeline, bank_size: int) -> dict[str, Any]:
    from detectors.hashing import pdq_hash
    from pipeline.banks import BankService

    banks = ctx.banks
    banks.create_bank("bench", category="other")
    random_entries = [
        NewEntry("pdq", secrets.token_hex(32), "random", "high", quality=100)
        for _ in range(bank_size)
    ]
    t = time.perf_counter()
    with ctx.store.transaction() as tx:
        banks.repo.add_entries(tx, "bench", random_entries)
    insert_s = time.perf_counter() - t
    fresh = BankService(ctx.store, ctx.blobs, ctx.media_limits)
    t = time.perf_counter()
    loaded = fresh.refresh()
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    added = banks.add_media("bench", FIXTURES / BANKED, "banked clip")
    add_s = time.perf_counter() - t
    t = time.perf_counter()
    picked_up = fresh.refresh()
    refresh_s = time.perf_counter() - t
    t = time.perf_counter()
    fresh.refresh()
    noop_refresh_ms = 1000 * (time.perf_counter() - t)

    with tempfile.TemporaryDirectory() as tmp:
        from bench.reupload import reencode_video

        copy = reencode_video(FIXTURES / BANKED, Path(tmp) / "copy.mp4")
        hashed = fresh.hash_media(copy, crops=(0.0,))
    queries = hashed["pdq"]
    per_frame = [(t, h) for t, h in queries]
    matched_frames = sum(1 for q in per_frame if fresh.match(None, [q]))
    t = time.perf_counter()
    fast = [fresh.match(None, [q]) for q in per_frame]
    fast_ms = 1000 * (time.perf_counter() - t) / max(1, len(per_frame))
    t = time.perf_counter()
    brute = [fresh.match(None, [q], brute_force=True) for q in per_frame]
    brute_ms = 1000 * (time.perf_counter() - t) / max(1, len(per_frame))
    identical = [[h.to_dict() for h in a] for a in fast] == [
        [h.to_dict() for h in b] for b in brute
    ]
    distances = [h.distance for hits in fast for h in hits]
    random_query = pdq_hash(__import__("numpy").random.default_rng(0).integers(
        0, 255, (256, 256, 3), dtype="uint8"))  # fmt: skip
    false_hits = len(fresh.match(None, [(None, random_query)]))
    return {
        "bank_entries": fresh.entry_count,
        "store_insert_s": round(insert_s, 2),
        "index_load_s": round(load_s, 2),
        "index_loaded_entries": loaded,
        "add_clip_entries": added["added"],
        "add_clip_s": round(add_s, 2),
        "incremental_refresh_entries": picked_up,
        "incremental_refresh_ms": round(1000 * refresh_s, 1),
        "noop_refresh_ms": round(noop_refresh_ms, 2),
        "reencode": "H.264 half size CRF 32",
        "reencoded_keyframes": len(per_frame),
        "reencoded_keyframes_matched": matched_frames,
        "match_distance_median_max": [
            statistics.median(distances) if distances else None,
            max(distances, default=None),
        ],
        "ms_per_query_multi_index": round(fast_ms, 3),
        "ms_per_query_brute_force": round(brute_ms, 3),
        "identical_results": identical,
        "random_image_false_hits": false_hits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bank-size", type=int, default=20_000)
    args = parser.parse_args()
    import os

    results: dict[str, Any] = {
        "threads": args.threads,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        ctx = _ctx(Path(tmp) / "data", args.threads)
        try:
            results["source"] = bench_source(ctx)
            results["banks"] = bench_banks(ctx, args.bank_size)
        finally:
            ctx.store.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
