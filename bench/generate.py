"""Generate-flow benchmark: per-stage time of one generate request, and own-output recognition.

Run: ``.venv/bin/python -m bench.generate [--n N] [--seconds S] [--size PX] [--threads T]``.
Prints the figures and writes ``bench/results/generate.json``.

Direct mode on a fresh data directory: N generate requests through
``GenerationService`` (prompt gate, generator, watermark + H.264, output scan
with every signal source present, C2PA signing with the dev certificate,
fingerprint + publish). The generator is the RANDOM-WEIGHT tiny
TextToVideoSDPipeline, so the ``generate`` stage time says nothing about a
real model; the other stages are the real cost around any generator. Then each
clip is re-muxed (C2PA stripped) and looked up in the own-output index:
recognised / total, and lookup time. Times are wall-clock medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import detectors  # noqa: F401  - torchvision hook before diffusers
from greenroom.settings import Settings
from greenroom.wiring import build_services
from store.db import Store
from tests.provenance.conftest import remux

REPO = Path(__file__).resolve().parent.parent
PROMPTS = (
    "a lighthouse in a storm",
    "paper boats on a pond",
    "a fox running through snow",
    "neon city street at night in the rain",
    "a hot air balloon over hills",
    "a drummer on a rooftop",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6, help="generate requests")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=256, help="frame width and height")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "generate.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data, threads=args.threads, models_dir=Path(tmp) / "models")
        store = Store(data)
        try:
            svc = build_services(store, settings)
            with store.transaction() as tx:
                user = svc.users.create(tx, "bench", "user", birth_year=1990)
            ctx = svc.pipeline
            gen = ctx.generation
            gen.width = gen.height = args.size
            t0 = time.perf_counter()
            model = gen.generator.info
            load_s = time.perf_counter() - t0

            stages: dict[str, list[float]] = {}
            results = []
            for i in range(args.n):
                prompt = PROMPTS[i % len(PROMPTS)]
                r = gen.generate(user, prompt, [], seconds=args.seconds, seed=i)
                results.append(r)
                for k, v in r.timings_ms.items():
                    stages.setdefault(k, []).append(v)

            lookups, recognised = [], 0
            for r in results:
                if r.clip_id is None or r.sha256 is None:
                    continue
                blob = data / "blobs" / r.sha256[:2] / r.sha256[2:4] / r.sha256
                stripped = remux(blob, Path(tmp) / f"{r.clip_id}.mp4")
                t0 = time.perf_counter()
                match = ctx.provenance.lookup(ctx.provenance.keyframes(stripped))
                lookups.append((time.perf_counter() - t0) * 1000.0)
                recognised += int(match is not None and match.clip_id == r.clip_id)
        finally:
            store.close()

    doc: dict[str, Any] = {
        "model": model.model_id,
        "random_weights": model.random_weights,
        "model_load_s": round(load_s, 2),
        "requests": args.n,
        "seconds": args.seconds,
        "size": args.size,
        "fps": 8.0,
        "threads": args.threads,
        "statuses": [r.status for r in results],
        "median_ms": {k: round(statistics.median(v), 1) for k, v in stages.items()},
        "own_output_recognised": f"{recognised}/{len(lookups)}",
        "own_output_lookup_ms_median": round(statistics.median(lookups), 1) if lookups else None,
        "note": "generator is RANDOM-WEIGHT (tiny config); its stage time is not a real model's",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
