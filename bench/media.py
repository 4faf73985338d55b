"""Media benchmark: CPU and wall seconds to sample keyframes per 10 s of fixture video.

Run ``python -m bench.media``; writes ``bench/results/media.json``. For each
fixture video, ``iter_frames`` at 0.5 s with non-reference skipping on (the
default) and off (``NONREF_MIN_INTERVALS`` raised out of reach), at full size
and at the face detector's 640 px working size (scaled in the decoder).
Medians of three runs; the machine is shared, so compare rows of one run.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import detectors  # noqa: F401  (import hook first)
import pipeline.media as media

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures" / "videos"
RESULTS = REPO / "bench" / "results" / "media.json"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run(path: Path, skip: bool, max_side: int | None, reps: int = 3) -> dict[str, Any]:
    default = media.NONREF_MIN_INTERVALS
    media.NONREF_MIN_INTERVALS = default if skip else 10**9
    try:
        info = media.probe_video(path)
        walls, cpus = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), _cpu()
            frames = list(media.iter_frames(path, every_s=0.5, max_side=max_side))
            walls.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
    finally:
        media.NONREF_MIN_INTERVALS = default
    per10 = 10.0 / info.duration_s
    return {
        "video": path.name,
        "nonref_skip": skip,
        "max_side": max_side,
        "frames": len(frames),
        "shape": list(frames[0].rgb.shape),
        "wall_s_per_10s": round(statistics.median(walls) * per10, 3),
        "cpu_s_per_10s": round(statistics.median(cpus) * per10, 3),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    rows = []
    for path in sorted(FIXTURES.glob("*.mp4")):
        for skip in (False, True):
            for max_side in (None, 640):
                row = run(path, skip, max_side)
                print(json.dumps(row), flush=True)
                rows.append(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"every_s": 0.5, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
