"""Likeness benchmark: head-pose calibration, match scores on the fixture videos, seconds of face work per clip.

Run ``python -m bench.likeness`` (``--poses`` also prints the per-sample pose
series the live-check thresholds were calibrated on). Writes
``bench/results/likeness.json``. Uses the default backends (dlib HOG + dlib
ResNet) at ``--threads`` (default 2).

- poses: per talking-head video, the live check's movement events and the
  spread of yaw/pitch around the median (the thresholds in pipeline/liveness.py);
- scores: a cameo enrolled from liveportrait_d3 0-7.7 s, then the track-level
  score (track mean vs cameo mean) for clips cut from the rest of d3 and for
  every other fixture video: the data behind ``TRACK_THRESHOLDS``;
- speed: wall and CPU seconds of face work (keyframes at 0.5 s, detection,
  tracking, embedding, index search) per 10 seconds of 720p video.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import detectors  # noqa: F401  (import hook first)
from greenroom.settings import Settings
from greenroom.wiring import build_services
from pipeline.intake import keyframes
from pipeline.likeness import match_threshold
from pipeline.liveness import SAMPLE_EVERY_S, check_recording
from pipeline.media import iter_frames
from store.db import Store
from tests.likeness.clips import splice

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures" / "videos"
RESULTS = REPO / "bench" / "results" / "likeness.json"
D3 = "liveportrait_d3_woman_talking.mp4"
OTHERS = [
    "liveportrait_d13_man_selfie_talking.mp4",
    "liveportrait_s18_woman.mp4",
    "sintel_trailer_clip_720p.mp4",
    "musetalk_yongen_anime.mp4",
    "bbb_bunny_720p_seg49-51.mp4",
]


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def poses(ctx: Any, show: bool) -> list[dict[str, Any]]:
    out = []
    for name in (D3, OTHERS[0], OTHERS[1]):
        frames = list(iter_frames(FIXTURES / name, every_s=SAMPLE_EVERY_S, max_side=640))
        report = check_recording(
            frames, ctx.models.video_face_detector, ctx.models.face_embedder, ["left"], 0.0
        )
        yaws = [p.yaw for p in report.poses]
        pitches = [p.pitch for p in report.poses]
        dy = np.abs(np.asarray(yaws) - np.median(yaws))
        dp = np.abs(np.asarray(pitches) - np.median(pitches))
        row = {
            "video": name,
            "samples": report.samples,
            "events": report.events,
            "yaw_abs_dev_p95": round(float(np.percentile(dy, 95)), 3),
            "yaw_abs_dev_max": round(float(dy.max()), 3),
            "pitch_abs_dev_p95": round(float(np.percentile(dp, 95)), 3),
            "pitch_abs_dev_max": round(float(dp.max()), 3),
            "motion": round(report.motion, 2),
        }
        if show:
            for p in report.poses:
                print(f"  {name[:24]} {p.t:5.2f} yaw={p.yaw:+.3f} pitch={p.pitch:+.3f}")
        print(json.dumps(row))
        out.append(row)
    return out


def pose_scale(models_dir: Path, threads: int, name: str = "yunet") -> dict[str, Any]:
    """Fit of InsightFace-5pt pose (YuNet / SCRFD) onto the dlib-5pt scale: ``INSIGHTFACE5_TO_DLIB5``.

    Per sample, both poses' deviation from their video's median; slope of a
    least-squares line through the origin, per axis, over the three talking heads.
    """
    from detectors.faces import build_detector
    from detectors.faces.pose import pose_from_insightface5
    from detectors.faces.types import largest_face

    dlib_det = build_detector("dlib-hog", None, threads, for_video=True)
    other = build_detector(name, models_dir, threads)
    dev_d: list[tuple[float, float]] = []
    dev_s: list[tuple[float, float]] = []
    for video in (D3, OTHERS[0], OTHERS[1]):
        pairs = []
        for frame in iter_frames(FIXTURES / video, every_s=SAMPLE_EVERY_S, max_side=640):
            a, b = largest_face(dlib_det.detect(frame.rgb)), largest_face(other.detect(frame.rgb))
            if a is None or b is None:
                continue
            raw = pose_from_insightface5(b.landmarks)
            pairs.append(((a.head_pose.yaw, a.head_pose.pitch), (raw.yaw, raw.pitch)))
        d = np.asarray([p[0] for p in pairs])
        s = np.asarray([p[1] for p in pairs])
        dev_d.extend(map(tuple, d - np.median(d, axis=0)))
        dev_s.extend(map(tuple, s - np.median(s, axis=0)))
    dd, ss = np.asarray(dev_d), np.asarray(dev_s)
    from detectors.faces.pose import INSIGHTFACE5_TO_DLIB5

    # ss is already scaled by the current factors; undo that to fit the raw slope.
    raw = ss / np.asarray(INSIGHTFACE5_TO_DLIB5)
    slope = (raw * dd).sum(axis=0) / (raw * raw).sum(axis=0)
    resid = dd - raw * slope
    corr = [float(np.corrcoef(raw[:, i], dd[:, i])[0, 1]) for i in range(2)]
    out = {
        "detector": name,
        "samples": len(dd),
        "yaw_scale": round(float(slope[0]), 3),
        "pitch_scale": round(float(slope[1]), 3),
        "yaw_corr": round(corr[0], 3),
        "pitch_corr": round(corr[1], 3),
        "yaw_resid_sd": round(float(resid[:, 0].std()), 4),
        "pitch_resid_sd": round(float(resid[:, 1].std()), 4),
        "in_use": list(INSIGHTFACE5_TO_DLIB5),
    }
    print(json.dumps({f"pose_scale_{name}": out}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--poses", action="store_true", help="print every pose sample")
    parser.add_argument(
        "--pose-scale-only",
        action="store_true",
        help="only fit SCRFD pose onto the dlib scale (needs shared/models)",
    )
    args = parser.parse_args()
    models_dir = REPO.parent / "shared" / "models"
    if args.pose_scale_only:
        for name in ("yunet", "scrfd"):
            pose_scale(models_dir, args.threads, name)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-likeness-"))
    settings = Settings(data_dir=tmp / "data", threads=args.threads)
    store = Store(settings.data_dir)
    svc = build_services(store, settings)
    ctx = svc.pipeline
    with store.transaction() as tx:
        alice = svc.users.create(tx, "alice", "user", birth_year=1990)
    d3 = FIXTURES / D3
    recording = splice(tmp / "recording.mp4", [(d3, 0.0, 7.7)])
    rest = [
        splice(tmp / "rest_a.mp4", [(d3, 7.7, 9.8)]),
        splice(tmp / "rest_b.mp4", [(d3, 9.8, 12.0)]),
    ]
    results: dict[str, Any] = {"threads": args.threads, "backends": {}}
    results["poses"] = poses(ctx, args.poses)
    if (models_dir / "insightface-scrfd").is_dir():
        results["pose_scale"] = [
            pose_scale(models_dir, args.threads, n) for n in ("yunet", "scrfd")
        ]

    t0, c0 = time.perf_counter(), _cpu()
    enrolled = ctx.likeness.enroll(alice, recording, ["right", "left", "right"])
    results["enrolment"] = {
        "status": enrolled.status,
        "embeddings": enrolled.embeddings,
        "events": enrolled.check.get("events"),
        "identity_split_similarity": enrolled.check.get("min_similarity"),
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(_cpu() - c0, 2),
        "recording_s": 7.7,
    }
    print(json.dumps({"enrolment": results["enrolment"]}))
    results["backends"] = {
        "detector": ctx.models.video_face_detector.info.model_id,
        "embedder": ctx.models.face_embedder.info.model_id,
    }

    scores = []
    model = ctx.models.face_embedder.info.model_id
    from detectors.faces.tracking import track_faces

    owner_mean = ctx.likeness._owner_mean("cameo", enrolled.id, model)
    for path, same in [*((p, True) for p in rest), *((FIXTURES / n, False) for n in OTHERS)]:
        frames = keyframes(ctx.intake.ingest(path))
        tracks = track_faces(
            frames, ctx.models.video_face_detector, ctx.models.face_embedder, per_track=3
        )
        best = None
        for track in tracks:
            if track.embeddings.size and owner_mean is not None:
                mean = track.embeddings.mean(axis=0)
                sim = float(mean @ owner_mean / max(float((mean @ mean) ** 0.5), 1e-12))
                best = sim if best is None else max(best, sim)
        matches = ctx.likeness.match_media(frames)
        row = {
            "clip": path.name,
            "same_person": same,
            "tracks": len(tracks),
            "best_track_score": None if best is None else round(best, 4),
            "matched": [(m.kind, m.name, round(m.start_s, 2), round(m.end_s, 2)) for m in matches],
        }
        print(json.dumps(row))
        scores.append(row)
    genuine = [r["best_track_score"] for r in scores if r["same_person"]]
    impostor = [
        r["best_track_score"] for r in scores if not r["same_person"] and r["best_track_score"]
    ]
    results["scores"] = scores
    results["separation"] = {
        "genuine_min": min(genuine),
        "impostor_max": max(impostor),
        "threshold": match_threshold(model).value,
    }

    speed = []
    for name in ("sintel_trailer_clip_720p.mp4", "liveportrait_s18_woman.mp4"):
        item = ctx.intake.ingest(FIXTURES / name)
        duration = item.video.duration_s if item.video else 0.0
        t0, c0 = time.perf_counter(), _cpu()
        frames = keyframes(item)
        t1 = time.perf_counter()
        matches = ctx.likeness.match_media(frames)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        row = {
            "clip": name,
            "duration_s": round(duration, 2),
            "keyframes": len(frames),
            "decode_s": round(t1 - t0, 3),
            "face_work_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "face_work_s_per_10s": round(wall * 10.0 / duration, 3),
            "cpu_s_per_10s": round(cpu * 10.0 / duration, 3),
            "matches": len(matches),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(row))
        speed.append(row)
    results["speed"] = speed
    store.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
