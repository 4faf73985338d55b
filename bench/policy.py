"""Policy engine throughput: decisions per second on one core with the shipped default policy set.

Run: ``.venv/bin/python -m bench.policy [--records N] [--seconds S]``. Prints
the figures and writes them to ``bench/results/policy.json``. The input is a
seeded, realistic mix of signal records (mostly clean clips; some cameo,
character, minor, nudity, hash, provenance and report cases, every stage and
both audiences); the process is pinned to one CPU where the OS allows it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from policies.engine import PolicySet

RESULTS = Path(__file__).resolve().parent / "results" / "policy.json"
STAGES = ["prompt", "output", "output", "output", "upload", "remix", "report"]
LIKENESS_POLICY = Path(__file__).resolve().parent.parent / "policies" / "default" / "likeness.yaml"


def _model_thresholds() -> dict[str, float]:
    """Per-model likeness_match values of the shipped policy, so the mix uses real model ids."""
    import yaml

    doc = yaml.safe_load(LIKENESS_POLICY.read_text())
    models = doc["thresholds"]["likeness_match"]["models"]
    return {str(model): float(spec["value"]) for model, spec in models.items()}


MODEL_THRESHOLDS = _model_thresholds()
MODELS = sorted(MODEL_THRESHOLDS)


def make_record(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """One (signals, context) pair; probabilities roughly follow a generation-heavy app."""
    stage = rng.choice(STAGES)
    context: dict[str, Any] = {
        "stage": stage,
        "audience": "teen" if rng.random() < 0.3 else "adult",
        "creator": {"id": f"u{rng.randrange(1000)}", "role": "user", "is_teen": rng.random() < 0.2},
        "published": stage == "report",
    }
    signals: dict[str, Any] = {}
    if rng.random() < 0.35:
        models = [rng.choice(MODELS) for _ in range(rng.choice([1, 1, 2]))]
        signals["likeness"] = [
            {
                "kind": "cameo" if rng.random() < 0.85 else "protected",
                "cameo_id": f"c{rng.randrange(100)}",
                "owner": f"u{rng.randrange(1000)}",
                # Around each model's cut-off, so both sides of it occur.
                "similarity": min(1.0, MODEL_THRESHOLDS[model] + rng.uniform(-0.1, 0.05)),
                "threshold": MODEL_THRESHOLDS[model],
                "consent": rng.choice(["granted"] * 8 + ["denied", "revoked"]),
                "start_s": 0.0,
                "end_s": rng.uniform(1, 10),
                "model": model,
            }
            for model in models
        ]
    if rng.random() < 0.1:
        signals["character"] = [
            {
                "character_id": f"ch{rng.randrange(50)}",
                "name": "Someone",
                "policy": rng.choice(["block", "allow", "allow_with_attribution", "review"]),
                "score": rng.uniform(0.5, 1.0),
                "threshold": 0.7,
                "source": rng.choice(["prompt", "image"]),
                "backend": "names",
            }
        ]
    if stage != "prompt":
        faces = [
            {
                "age": age,
                "band": "likely_minor" if age < 16 else "possible_minor" if age < 21 else "adult",
            }
            for age in (rng.uniform(8, 60) for _ in range(rng.choice([0, 1, 1, 2, 3])))
        ]
        signals["minor"] = {"faces": faces}
        score = rng.random() ** 4
        signals["nudity"] = {"max_score": score, "classes": {"FEMALE_BREAST_EXPOSED": score}}
        signals["provenance"] = {
            "state": rng.choice(["trusted", "trusted", "absent", "valid_untrusted", "invalid"]),
            "ai_generated": rng.random() < 0.9,
            "claim_generator": rng.choice(["greenroom/0.1", "OtherGen/2"]),
            "own_output": "clip-1" if rng.random() < 0.7 else "",
        }
    signals["prompt"] = {
        "categories": {
            c: rng.random() ** 6 for c in rng.sample(["sexual", "violence", "minors", "hate"], 2)
        }
    }
    if rng.random() < 0.02:
        signals["hash"] = [{"bank": "known_bad", "distance": rng.randrange(10), "severity": "high"}]
    if stage == "report":
        context["report"] = {
            "reason": rng.choice(["spam", "child_safety", "harassment"]),
            "count": rng.randrange(1, 6),
        }
    return signals, context


def pin_one_cpu() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to cpu {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    pinned = pin_one_cpu()
    started = time.perf_counter()
    policy = PolicySet.default()
    compile_s = time.perf_counter() - started
    rng = random.Random(7)
    records = [make_record(rng) for _ in range(args.records)]
    outcomes = Counter(policy.evaluate(s, c).outcome for s, c in records)

    # CPU time, not wall time: on a shared machine the wall clock counts other
    # processes' turns; decisions per CPU-second is decisions per second per core.
    rates = []
    wall_rates = []
    for _ in range(args.rounds):
        done = 0
        t0, c0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < args.seconds:
            for signals, context in records:
                policy.evaluate(signals, context)
            done += len(records)
        rates.append(done / (time.process_time() - c0))
        wall_rates.append(done / (time.perf_counter() - t0))
    latencies = []
    for signals, context in records:
        t0 = time.perf_counter_ns()
        policy.evaluate(signals, context)
        latencies.append((time.perf_counter_ns() - t0) / 1000)
    latencies.sort()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {
        "policy_version": policy.version,
        "rules": len(policy.rules),
        "records": len(records),
        "decisions_per_cpu_second": round(statistics.median(rates)),
        "decisions_per_cpu_second_rounds": [round(r) for r in rates],
        "decisions_per_wall_second": round(statistics.median(wall_rates)),
        "latency_us_p50": round(statistics.median(latencies), 1),
        "latency_us_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 1),
        "compile_and_validate_ms": round(compile_s * 1000, 1),
        "outcome_mix": dict(sorted(outcomes.items())),
        "cpu": pinned,
        "load_average_1m": load,
        "machine": f"{platform.processor() or platform.machine()} / {os.cpu_count()} cpus",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
