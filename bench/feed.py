"""Feed figures: how well the instruction re-ranker separates on-topic prompts, and how fast the feed ranks.

1. Instruction matching: all-MiniLM-L6-v2 cosine between short topics and a
   small hand-labelled prompt set; precision/recall of "matches" at the
   shipped ``MATCH_MIN`` and the highest off-topic / lowest on-topic scores
   (where the threshold came from).
2. Ranking latency: ``FeedService.feed`` over a data directory holding N
   published clips (rows written directly: this measures ranking, not the
   gate), without an instruction, with one (cold: prompts embedded), and
   again (warm: cached prompt vectors).

Run: ``.venv/bin/python -m bench.feed`` (writes ``bench/results/feed.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
from greenroom.settings import Settings
from greenroom.wiring import build_pipeline, build_services
from pipeline.feed import EXCLUDE_MIN, MATCH_MIN, FeedService
from store.db import Store, new_id, now

# topic -> prompts that are on topic; every other prompt is off topic for it.
LABELLED: dict[str, list[str]] = {
    "animals": [
        "a big white rabbit in a sunny meadow",
        "a golden retriever puppy playing in the park",
        "an elephant family walking across the savanna",
        "a cat sleeping on a sofa",
        "a flock of birds flying over a lake at dawn",
    ],
    "sports": [
        "soccer players scoring a goal in a stadium",
        "a basketball dunk in slow motion",
        "tennis match at sunset",
        "a surfer riding a huge wave",
        "a marathon runner crossing the finish line",
    ],
    "food": [
        "a chef cooking pasta in a kitchen",
        "a chocolate cake being sliced",
        "street tacos sizzling on a grill",
    ],
    "space": [
        "planet earth seen from space",
        "an astronaut floating outside the space station",
        "a rocket launching at night",
    ],
}
OTHER = [
    "a portrait photo of a woman",
    "a city skyline at night with neon lights",
    "a girl fights a dragon in snowy mountains",
    "an old man reading a newspaper on a bench",
    "rain falling on a quiet street",
]


def instruction_quality(service: FeedService) -> dict[str, Any]:
    prompts = [p for ps in LABELLED.values() for p in ps] + OTHER
    topics = list(LABELLED)
    emb = service.embedder
    sims = emb.embed(prompts) @ emb.embed(topics).T
    out: dict[str, Any] = {"model": emb.info.model_id, "match_min": MATCH_MIN, "topics": {}}
    tp = fp = fn = 0
    for j, topic in enumerate(topics):
        on = [i for i, p in enumerate(prompts) if p in LABELLED[topic]]
        off = [i for i in range(len(prompts)) if i not in on]
        hit = [i for i in on if sims[i, j] >= MATCH_MIN]
        false = [i for i in off if sims[i, j] >= MATCH_MIN]
        tp, fp, fn = tp + len(hit), fp + len(false), fn + len(on) - len(hit)
        out["topics"][topic] = {
            "on_topic": len(on),
            "matched": len(hit),
            "false_matches": [prompts[i] for i in false],
            "missed": [prompts[i] for i in on if i not in hit],
            "lowest_on_topic": round(float(sims[on, j].min()), 3),
            "highest_off_topic": round(float(sims[off, j].max()), 3),
        }
    out["precision"] = round(tp / max(1, tp + fp), 3)
    out["recall"] = round(tp / max(1, tp + fn), 3)
    return out


def ranking_latency(settings: Settings, n: int, repeats: int) -> dict[str, Any]:
    rng = random.Random(7)
    prompts = [p for ps in LABELLED.values() for p in ps] + OTHER
    with Store(settings.data_dir) as store:
        svc = build_services(store, settings)
        with store.transaction() as tx:
            creators = [
                svc.users.create(tx, f"creator{i}", "user", birth_year=1990) for i in range(20)
            ]
            reader = svc.users.create(tx, "reader", "user", birth_year=1991)
            for c in creators[:5]:
                svc.users.follow(tx, reader.id, c.id)
            at = now()
            for i in range(n):
                created = at - timedelta(minutes=rng.randint(0, 7 * 24 * 60))
                tx.execute(
                    "INSERT INTO clips (id, creator_id, prompt, origin, status, audience, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'upload', 'published', "
                    "'everyone', ?, ?)",
                    [
                        new_id("clip"),
                        rng.choice(creators).id,
                        f"{rng.choice(prompts)} (take {i})",
                        created,
                        created,
                    ],
                )
        service = svc.pipeline.feed

        def timed(instruction: str | None) -> list[float]:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                service.feed(reader, instruction, 20)
                times.append((time.perf_counter() - t0) * 1000.0)
            return times

        plain = timed(None)
        service.embedder  # noqa: B018  (load the model outside the timings)
        t0 = time.perf_counter()
        service.feed(reader, "more animals, no sports", 20)
        cold = (time.perf_counter() - t0) * 1000.0
        warm = timed("more animals, no sports")
    return {
        "clips": n,
        "plain_ms_median": round(float(np.median(plain)), 1),
        "instruction_cold_ms": round(cold, 1),
        "instruction_warm_ms_median": round(float(np.median(warm)), 1),
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/feed.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", threads=1)
        latency = ranking_latency(settings, args.clips, args.repeats)
        with Store(Path(tmp) / "q") as store:
            quality = instruction_quality(build_pipeline(store, settings).feed)
    result = {
        "instruction": quality,
        "exclude_min": EXCLUDE_MIN,
        "ranking": latency,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
