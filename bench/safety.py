"""Benchmark of the minor-safety detectors: age error, prompt precision/recall, PDQ matching, speed.

Run: ``.venv/bin/python -m bench.safety [--only age,prompts,pdq,pdq_speed,speed] [--threads 1]``.
Prints the figures and writes them to ``bench/results/safety.json``.

* age: the dlib age network on ``fixtures/faces/utkface_age``, split into a
  tune half (the calibration is fitted there, ``python -m bench.ages --fit``)
  and a test half (every headline figure): old (whole chip as the box, no
  flip, no calibration, pre-issue-15 bands) beside new (HOG box, flip,
  calibration, interval bands) in the same run -- MAE overall and per decade,
  share of adults banded ``possible_minor``, faces not found through each face
  detector, interval coverage. The fixtures hold no minors: minor-side recall
  is not measured;
* prompts: per-category precision/recall on ``bench/data/safety_prompts.tsv``
  (plain, obfuscated, paraphrased harmful prompts; innocent look-alikes; benign);
* pdq: keyframes of the fixture videos against a bank of their own originals
  after a real H.264 re-encode at half size, a JPEG re-encode, a resize and a
  5% border crop (true match rate) and against banks of the *other* videos
  (false match rate), at the chosen threshold; distance percentiles justify it;
  brute force and the multi-index index are checked to agree and timed on a
  100k-entry bank;
* pdq_speed: CPU ms per 720p keyframe of the numpy PDQ (``pdq_hash``) and
  the pdqhash reference (``pdq_hash_reference``), and whether they agree;
* speed: per 720p keyframe, face detection + age, NudeNet, PDQ.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import detectors  # noqa: F401  (installs the torch import hook before any model import)
from bench.reupload import reencode_video
from detectors.age import DlibAgeEstimator
from detectors.hashing import (
    DEFAULT_BANK_CROPS,
    DEFAULT_MIN_QUALITY,
    DEFAULT_PDQ_THRESHOLD,
    BankMatcher,
    BruteForcePdqIndex,
    HashBank,
    MultiIndexPdqIndex,
    PdqHash,
    hamming,
    pdq_hash,
    pdq_hash_crops,
    pdq_hash_reference,
)
from pipeline.media import iter_frames

REPO = Path(__file__).resolve().parent.parent
FIXTURES = (REPO / ".." / "shared" / "fixtures").resolve()
PROMPTS = REPO / "bench" / "data" / "safety_prompts.tsv"
RESULTS = REPO / "bench" / "results" / "safety.json"


# ---------------------------------------------------------------- age


def bench_age(threads: int) -> dict[str, Any]:
    """Old beside new on the held-apart test half (see :mod:`bench.ages` for the split and fit)."""
    from bench.ages import evaluate

    return evaluate(threads)


# ---------------------------------------------------------------- prompts


def load_prompt_set() -> list[tuple[set[str], str, str]]:
    rows = []
    for line in PROMPTS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("labels\t"):
            continue
        labels, group, prompt = line.split("\t", 2)
        rows.append(({x for x in labels.split(",") if x and x != "-"}, group, prompt))
    return rows


def bench_prompts(threads: int) -> dict[str, Any]:
    from detectors.prompt_safety import PromptSafetyClassifier

    t0 = time.perf_counter()
    clf = PromptSafetyClassifier()
    load_s = time.perf_counter() - t0
    rows = load_prompt_set()
    per: dict[str, dict[str, int]] = {c: {"tp": 0, "fp": 0, "fn": 0} for c in clf.categories}
    errors = []
    times = []
    groups: dict[str, dict[str, int]] = {}
    for labels, group, prompt in rows:
        t = time.perf_counter()
        found = {f.name for f in clf.check(prompt)}
        times.append(time.perf_counter() - t)
        for c in per:
            if c in found and c in labels:
                per[c]["tp"] += 1
            elif c in found:
                per[c]["fp"] += 1
            elif c in labels:
                per[c]["fn"] += 1
        g = groups.setdefault(group, {"prompts": 0, "exact": 0})
        g["prompts"] += 1
        g["exact"] += found == labels
        if found != labels:
            errors.append({"prompt": prompt, "expected": sorted(labels), "found": sorted(found)})
    cats = {}
    for c, v in per.items():
        p = v["tp"] / (v["tp"] + v["fp"]) if v["tp"] + v["fp"] else None
        r = v["tp"] / (v["tp"] + v["fn"]) if v["tp"] + v["fn"] else None
        cats[c] = {
            **v,
            "precision": None if p is None else round(p, 3),
            "recall": None if r is None else round(r, 3),
        }
    innocent = [r for r in rows if r[1] in ("innocent", "benign")]
    flagged_innocent = sum(1 for e in errors if not e["expected"] and e["found"])
    return {
        "prompts": len(rows),
        "categories": cats,
        "groups": groups,
        "innocent_or_benign_prompts": len(innocent),
        "innocent_or_benign_flagged": flagged_innocent,
        "mismatches": errors,
        "model_load_s": round(load_s, 2),
        "ms_per_prompt_median": round(1000 * statistics.median(times), 2),
    }


# ---------------------------------------------------------------- pdq


def _jpeg(rgb: np.ndarray, quality: int = 30) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _resize(rgb: np.ndarray, scale: float = 0.5) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((max(2, int(w * scale)), max(2, int(h * scale)))))


def _crop(rgb: np.ndarray, frac: float = 0.05) -> np.ndarray:
    h, w = rgb.shape[:2]
    dy, dx = int(h * frac), int(w * frac)
    return np.ascontiguousarray(rgb[dy : h - dy, dx : w - dx])


def bench_pdq(every_s: float = 1.0, threshold: int = DEFAULT_PDQ_THRESHOLD) -> dict[str, Any]:
    videos = sorted((FIXTURES / "videos").glob("*.mp4"))
    originals: dict[str, list[tuple[float, PdqHash]]] = {}
    queries: dict[str, dict[str, list[PdqHash]]] = {}
    crops: dict[str, list[tuple[float, PdqHash]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for v in videos:
            frames = list(iter_frames(v, every_s=every_s))
            originals[v.name] = [(f.t, pdq_hash(f.rgb)) for f in frames]
            crops[v.name] = [(f.t, h) for f in frames for _, h in pdq_hash_crops(f.rgb)]
            q: dict[str, list[PdqHash]] = {
                "jpeg_q30": [pdq_hash(_jpeg(f.rgb)) for f in frames],
                "resize_0.5": [pdq_hash(_resize(f.rgb)) for f in frames],
                "crop_3pct": [pdq_hash(_crop(f.rgb, 0.03)) for f in frames],
                "crop_5pct": [pdq_hash(_crop(f.rgb, 0.05)) for f in frames],
                "crop_8pct": [pdq_hash(_crop(f.rgb, 0.08)) for f in frames],
            }
            re_path = Path(tmp) / f"re_{v.name}"
            reencode_video(v, re_path)
            q["h264_half_crf32"] = [pdq_hash(f.rgb) for f in iter_frames(re_path, every_s=every_s)]
            queries[v.name] = q

    def bank_of(
        names: list[str], source: dict[str, list[tuple[float, PdqHash]]] = originals
    ) -> HashBank:
        bank = HashBank(name="bench")
        for n in names:
            for t, h in source[n]:
                bank.add_pdq(h, label=f"{n}@{t:.1f}", severity="high", source_clip_id=n)
        return bank

    same_dist: dict[str, list[int]] = {}
    true_match: dict[str, list[int]] = {}
    false_match: list[int] = []
    cross_min: list[int] = []
    low_quality_skipped = 0
    crop_true: dict[str, list[int]] = {}
    crop_false: list[int] = []
    for name, q in queries.items():
        own = BankMatcher([bank_of([name])], threshold=256, min_quality=0, brute_force=True)
        others = BankMatcher(
            [bank_of([n for n in originals if n != name])], threshold=256, min_quality=0
        )
        own_c = BankMatcher([bank_of([name], crops)], threshold=threshold)
        others_c = BankMatcher(
            [bank_of([n for n in originals if n != name], crops)], threshold=threshold
        )
        for kind, hashes in q.items():
            for h in hashes:
                if h.quality >= DEFAULT_MIN_QUALITY:
                    crop_true.setdefault(kind, []).append(int(bool(own_c.match_pdq(h))))
                    crop_false.append(int(bool(others_c.match_pdq(h))))
        for kind, hashes in q.items():
            for h in hashes:
                if h.quality < DEFAULT_MIN_QUALITY:
                    low_quality_skipped += 1
                    continue
                best = own.match_pdq(h)
                d = best[0].distance if best else 256
                same_dist.setdefault(kind, []).append(d)
                true_match.setdefault(kind, []).append(int(d <= threshold))
                o = others.match_pdq(h)
                od = o[0].distance if o else 256
                cross_min.append(od)
                false_match.append(int(od <= threshold))
    all_same = [d for v in same_dist.values() for d in v]
    result: dict[str, Any] = {
        "threshold": threshold,
        "videos": len(videos),
        "keyframes_every_s": every_s,
        "bank_entries": sum(len(v) for v in originals.values()),
        "low_quality_queries_skipped": low_quality_skipped,
        "true_match_rate": {k: round(sum(v) / len(v), 3) for k, v in true_match.items()},
        "true_match_rate_all": round(sum(sum(v) for v in true_match.values()) / len(all_same), 3),
        "false_match_rate_other_videos": round(sum(false_match) / len(false_match), 4),
        "with_centre_crop_bank_entries": {
            "crops_banked": list(DEFAULT_BANK_CROPS),
            "true_match_rate": {k: round(sum(v) / len(v), 3) for k, v in crop_true.items()},
            "false_match_rate_other_videos": round(sum(crop_false) / len(crop_false), 4),
        },
        "same_clip_distance_p50_p95_max": {
            k: [int(np.percentile(v, 50)), int(np.percentile(v, 95)), int(max(v))]
            for k, v in same_dist.items()
        },
        "other_clip_nearest_distance_min_p5_p50": [
            int(min(cross_min)),
            int(np.percentile(cross_min, 5)),
            int(np.percentile(cross_min, 50)),
        ],
    }
    result["index"] = _bench_index([h for v in originals.values() for _, h in v], threshold)
    return result


def _bench_index(real: list[PdqHash], threshold: int, n: int = 100_000) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    brute, mih = BruteForcePdqIndex(), MultiIndexPdqIndex()
    for i, h in enumerate(real):
        brute.add(h.hex, i)
        mih.add(h.hex, i)
    for i in range(n):
        hx = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
        brute.add(hx, len(real) + i)
        mih.add(hx, len(real) + i)
    # Queries: the real hashes with 0-40 random bit flips.
    qs = []
    for h in real:
        bits = np.unpackbits(h.bits)
        flips = rng.choice(256, int(rng.integers(0, 41)), replace=False)
        bits[flips] ^= 1
        qs.append(np.packbits(bits).tobytes().hex())
    t = time.perf_counter()
    rb = [brute.search(q, threshold) for q in qs]
    tb = (time.perf_counter() - t) / len(qs)
    t = time.perf_counter()
    rm = [mih.search(q, threshold) for q in qs]
    tm = (time.perf_counter() - t) / len(qs)
    return {
        "bank_size": len(real) + n,
        "queries": len(qs),
        "identical_results": rb == rm,
        "brute_force_ms_per_query": round(1000 * tb, 3),
        "multi_index_ms_per_query": round(1000 * tm, 3),
    }


# ---------------------------------------------------------------- pdq speed


def bench_pdq_speed(every_s: float = 2.0, rounds: int = 5) -> dict[str, Any]:
    """CPU ms per 720p keyframe: the numpy PDQ (``pdq_hash``) beside the pdqhash reference.

    process_time, so the figure is CPU spent (all threads), not wall time;
    frames are the fixture videos' keyframes that have 1280x720 pixels in
    either orientation, hashed ``rounds`` times each, both ways alternating.
    """
    frames = [
        f.rgb
        for v in sorted((FIXTURES / "videos").glob("*.mp4"))
        for f in iter_frames(v, every_s=every_s)
        if sorted(f.rgb.shape[:2]) == [720, 1280]
    ]
    fns = {"pdq_hash": pdq_hash, "pdq_hash_reference": pdq_hash_reference}
    for fn in fns.values():
        fn(frames[0])  # warm caches (the per-size filter matrices) outside the timing
    cpu = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.process_time()
            for rgb in frames:
                fn(rgb)
            cpu[name] += time.process_time() - t
    pairs = [(pdq_hash(rgb), pdq_hash_reference(rgb)) for rgb in frames]
    distances = [hamming(a.hex, b.hex) for a, b in pairs]
    ms = {k: round(1000 * v / (rounds * len(frames)), 2) for k, v in cpu.items()}
    return {
        "frames_720p": len(frames),
        "rounds": rounds,
        "cpu_ms_per_frame": ms,
        "speedup": round(ms["pdq_hash_reference"] / ms["pdq_hash"], 1),
        "identical_hashes": sum(d == 0 for d in distances),
        "max_hamming": max(distances),
        "max_quality_diff": max(abs(a.quality - b.quality) for a, b in pairs),
    }


# ---------------------------------------------------------------- speed


def bench_speed(threads: int, frames: int = 12) -> dict[str, Any]:
    from detectors.faces import build_detector
    from detectors.nudity import NudeNetDetector

    video = FIXTURES / "videos" / "liveportrait_s18_woman.mp4"
    keyframes = [f.rgb for f in iter_frames(video, every_s=0.5)][:frames]
    faces = build_detector("dlib-hog", None, threads=threads)
    age = DlibAgeEstimator(threads=threads)
    nude = NudeNetDetector(threads=threads)
    timing = {"face_detect": 0.0, "age": 0.0, "nudity": 0.0, "pdq": 0.0}
    n_faces = 0
    for rgb in keyframes:
        t = time.perf_counter()
        dets = faces.detect(rgb)
        timing["face_detect"] += time.perf_counter() - t
        t = time.perf_counter()
        if dets:
            n_faces += len(age.estimate(rgb, dets))
        timing["age"] += time.perf_counter() - t
        t = time.perf_counter()
        nude.detect(rgb)
        timing["nudity"] += time.perf_counter() - t
        t = time.perf_counter()
        pdq_hash(rgb)
        timing["pdq"] += time.perf_counter() - t
    per = {k: round(1000 * v / len(keyframes), 1) for k, v in timing.items()}
    total = sum(timing.values()) / len(keyframes)
    return {
        "video": video.name,
        "frame_size": list(keyframes[0].shape[:2][::-1]),
        "keyframes": len(keyframes),
        "faces": n_faces,
        "threads": threads,
        "ms_per_keyframe": per,
        "ms_per_keyframe_total": round(1000 * total, 1),
        "keyframes_per_s": round(1 / total, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="age,prompts,pdq,pdq_speed,speed")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    parts = set(args.only.split(","))
    results: dict[str, Any] = {}
    if "age" in parts:
        results["age"] = bench_age(args.threads)
    if "prompts" in parts:
        results["prompts"] = bench_prompts(args.threads)
    if "pdq" in parts:
        results["pdq"] = bench_pdq()
    if "pdq_speed" in parts:
        results["pdq_speed"] = bench_pdq_speed()
    if "speed" in parts:
        results["speed"] = bench_speed(args.threads)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous.update(results)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if "age" in results:
        from bench.ages import format_figures

        print(format_figures(results["age"]))


if __name__ == "__main__":
    main()
