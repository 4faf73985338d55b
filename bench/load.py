"""Load against a live server: prompt checks at a fixed rate, and feed reads, from separate processes.

Starts a real server (``greenroom.wiring.make_app`` under uvicorn in a thread of
this process) on a fresh data directory, with rate limits off for the bench
accounts' classes, and runs the load generator in worker *processes* (open
loop: each sends on its own schedule whatever the answers' speed, so a slow
server shows as latency, not as a lower offered rate). Prints and writes
``bench/results/load.json``:

- prompt checks: offered and achieved requests per second, p50/p90/p99
  latency, errors (any status other than 200);
- feed reads: the same at their own rate.

The issue's aim for prompt checks is 100 per second with p99 under 50 ms.

    python -m bench.load [--rate 100] [--seconds 60] [--procs 4] [--feed-rate 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.console import _free_port, server
from greenroom.settings import Settings
from greenroom.wiring import open_services

RESULTS = Path(__file__).parent / "results"
PROMPTS = [
    "a cat surfing a wave at sunset",
    "two friends baking bread in a small kitchen",
    "a red balloon drifting over a lake",
    "a skateboarder in the rain, slow motion",
    "an astronaut planting tomatoes on the moon",
]


def _worker(
    url: str, token: str, path: str, rate: float, seconds: float, start_at: float, out: Any
) -> None:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    interval = 1.0 / rate if rate > 0 else 0.0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        while time.time() < start_at:
            time.sleep(0.001)
        n = 0
        end = start_at + seconds
        while True:
            due = start_at + n * interval
            if due >= end:
                break
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            t = time.perf_counter()
            try:
                if path == "/prompt-check":
                    r = c.post(path, json={"prompt": PROMPTS[n % len(PROMPTS)]})
                else:
                    r = c.get(path, params={"limit": 20})
                status = str(r.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - t)
            if status != "200":
                errors[status] = errors.get(status, 0) + 1
            n += 1
    out.put({"path": path, "latencies": latencies, "errors": errors})


def _summary(results: list[dict[str, Any]], offered: float, seconds: float) -> dict[str, Any]:
    lat = sorted(x for r in results for x in r["latencies"])
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v

    def q(p: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else 0.0

    return {
        "offered_per_s": offered,
        "achieved_per_s": round(len(lat) / seconds, 1),
        "requests": len(lat),
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else 0.0,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="prompt checks per second")
    parser.add_argument("--feed-rate", type=float, default=20.0, help="feed reads per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--procs", type=int, default=4, help="processes sending prompt checks")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        data = Path(tmp) / "data"
        settings = Settings(
            data_dir=data,
            server_port=_free_port(),
            # The bench measures the server, not its throttles.
            rate_limits={"prompt_check": 0},
        )
        services = open_services(settings)
        try:
            tokens = []
            with services.store.transaction() as tx:
                for i in range(args.procs + 1):
                    user = services.users.create(tx, f"load-{i}", "user", birth_year=1990)
                    tokens.append(services.users.issue_token(tx, user.id, label="bench")[1])
            with server(settings, services) as url:
                import httpx

                # Warm: the first prompt check loads the text models.
                with httpx.Client(
                    base_url=url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=300
                ) as c:
                    for p in PROMPTS:
                        c.post("/prompt-check", json={"prompt": p})
                ctx = mp.get_context("spawn")
                out = ctx.Queue()
                start_at = time.time() + 3.0
                procs = [
                    ctx.Process(
                        target=_worker,
                        args=(
                            url,
                            tokens[i],
                            "/prompt-check",
                            args.rate / args.procs,
                            args.seconds,
                            start_at,
                            out,
                        ),
                    )
                    for i in range(args.procs)
                ]
                procs.append(
                    ctx.Process(
                        target=_worker,
                        args=(
                            url,
                            tokens[-1],
                            "/feed",
                            args.feed_rate,
                            args.seconds,
                            start_at,
                            out,
                        ),
                    )
                )
                for p in procs:
                    p.start()
                results = [out.get(timeout=args.seconds + 600) for _ in procs]
                for p in procs:
                    p.join()
        finally:
            services.close()
    prompt = [r for r in results if r["path"] == "/prompt-check"]
    feed = [r for r in results if r["path"] == "/feed"]
    doc = {
        "cpus": os.cpu_count(),
        "seconds": args.seconds,
        "load_average_1m_after": round(os.getloadavg()[0], 1),
        "prompt_check": _summary(prompt, args.rate, args.seconds),
        "feed": _summary(feed, args.feed_rate, args.seconds),
        "aim": {"prompt_check_per_s": 100, "prompt_check_p99_ms": 50},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    print(f"wrote {RESULTS / 'load.json'}")


if __name__ == "__main__":
    main()
