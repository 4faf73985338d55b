"""Gate benchmark: end-to-end scan latency (image, video), prompt checks, and backtest speed.

Run: ``.venv/bin/python -m bench.gate [--repeat 3] [--backtest-scans 2000] [--threads 1]``;
``--throughput N [--executors local,ray]`` measures only clips per minute (one at a time and two at
a time, per executor; ``bench/results/gate_throughput.json``).
Prints the figures and writes ``bench/results/gate.json``. The scan figures
cover whatever signal sources are present when it runs (listed in the output:
the total grows as areas land), plus intake, keyframes, policy evaluation and
the one-transaction record. Fixtures come from ``GREENROOM_FIXTURES``'s
default, ``../shared/fixtures``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import detectors  # noqa: F401  (torch/torchvision import hook before any model library)
from greenroom.settings import Settings
from greenroom.wiring import build_services
from store.db import Store

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures"
MODELS = REPO.parent / "shared" / "models"


def _times(fn: Any, repeat: int) -> dict[str, Any]:
    samples = []
    last = None
    for _ in range(repeat):
        start = time.perf_counter()
        last = fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return {
        "runs": repeat,
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "last": last,
    }


def throughput(clip: Path, n: int, executors: list[str], threads: int) -> dict[str, Any]:
    """Clips per minute through ``gate.scan``, one at a time and two at a time, per executor.

    Each executor gets a fresh data directory and one warm-up scan (models loaded, the Ray
    actor started), then ``n`` scans in a row and ``n`` from two threads at once.
    """
    from concurrent.futures import ThreadPoolExecutor

    data = clip.read_bytes()
    out: dict[str, Any] = {"clip": clip.name, "scans": n}
    for executor in executors:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp) / "data",
                models_dir=MODELS,
                threads=threads,
                executor=executor,  # type: ignore[arg-type]
            )
            with Store(settings.data_dir) as store:
                svc = build_services(store, settings)
                with store.transaction() as tx:
                    user = svc.users.create(tx, "bench", "user", birth_year=1990)
                gate = svc.pipeline.gate
                warm = gate.scan(data, user, "a clip")
                started = time.perf_counter()
                for _ in range(n):
                    gate.scan(data, user, "a clip")
                one = time.perf_counter() - started
                started = time.perf_counter()
                with ThreadPoolExecutor(2) as pool:
                    list(pool.map(lambda _, g=gate, u=user: g.scan(data, u, "a clip"), range(n)))
                two = time.perf_counter() - started
                svc.pipeline.path.executor.close()
            out[executor] = {
                "ran_on": warm.decision["explanation"].get("ran_on"),
                "one_at_a_time_per_min": round(60 * n / one, 1),
                "two_at_a_time_per_min": round(60 * n / two, 1),
            }
            print("throughput", executor, json.dumps(out[executor]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backtest-scans", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--throughput",
        type=int,
        default=0,
        help="only clips per minute: this many scans of the 16 s 720p Sintel clip per mode",
    )
    parser.add_argument("--executors", default="local", help="comma list: local,ray")
    args = parser.parse_args()
    if args.throughput:
        clip = FIXTURES / "videos" / "sintel_trailer_clip_720p.mp4"
        figures = throughput(clip, args.throughput, args.executors.split(","), args.threads)
        out = REPO / "bench" / "results" / "gate_throughput.json"
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {out.relative_to(REPO)}")
        return
    image = FIXTURES / "faces" / "deepface" / "img5.jpg"
    video = FIXTURES / "videos" / "bbb_bunny_720p_seg49-51.mp4"
    results: dict[str, Any] = {"threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", models_dir=MODELS, threads=args.threads)
        with Store(settings.data_dir) as store:
            svc = build_services(store, settings)
            with store.transaction() as tx:
                user = svc.users.create(tx, "bench", "user", birth_year=1990)
            gate = svc.pipeline.gate
            # Warm-up: models load on first use; the figures below are steady state.
            warm = gate.scan(image, user)
            results["sources_run"] = warm.sources_run
            print("sources run:", warm.sources_run)

            def scan_image() -> str:
                return gate.scan(image, user, prompt="a portrait").decision["outcome"]

            def scan_video() -> str:
                return gate.scan(video, user).decision["outcome"]

            def prompt() -> str:
                return gate.check_prompt(user, "a corgi surfing at sunset").decision["outcome"]

            for name, fn in (
                ("scan_image", scan_image),
                ("scan_video_6s_720p", scan_video),
                ("check_prompt", prompt),
            ):
                figures = _times(fn, args.repeat)
                results[name] = figures
                print(name, json.dumps(figures), flush=True)

            # Backtest: re-decide N stored scans (prompt scans are cheap to create).
            existing = int(store.query("SELECT count(*) FROM scans")[0][0])
            start = time.perf_counter()
            for _ in range(max(0, args.backtest_scans - existing)):
                gate.check_prompt(user, "a corgi surfing at sunset")
            fill_s = time.perf_counter() - start
            policies = svc.pipeline.policies
            candidate = policies.active()
            start = time.perf_counter()
            report = policies.backtest(candidate, args.backtest_scans)
            elapsed = time.perf_counter() - start
            results["record_prompt_scans_per_s"] = round(
                max(1, args.backtest_scans - existing) / fill_s, 1
            )
            results["backtest"] = {
                "scans": report["records"],
                "seconds": round(elapsed, 3),
                "scans_per_s": round(report["records"] / elapsed, 1),
            }
            print("record_prompt_scans_per_s", results["record_prompt_scans_per_s"])
            print("backtest", json.dumps(results["backtest"]), flush=True)
    out = REPO / "bench" / "results" / "gate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
