"""Gate benchmark: end-to-end scan latency (image, video), prompt checks, and backtest speed.

Run: ``.venv/bin/python -m bench.gate [--repeat 3] [--backtest-scans 2000] [--threads 1]``.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backtest-scans", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
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
