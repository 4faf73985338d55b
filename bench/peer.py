"""Peer benchmark: the ``face_recognition`` library against Greenroom's likeness matching.

Run ``python -m bench.peer`` from the repository root with the main venv.
Writes ``bench/results/peer.json`` and prints a table.

The library runs in its own virtualenv (``--peer-venv``, default
``bench/.peer-venv``, git-ignored), built on first use: face_recognition 1.3.0
and face_recognition_models 0.3.0 installed with ``--no-deps`` because the
library's ``dlib`` requirement does not build here; ``dlib-bin`` provides the
same ``dlib`` module (as in the main venv), plus numpy, pillow, click and
PyAV for decoding. ``bench/peer_worker.py`` runs there in a subprocess.

The clips are bench.likeness's (two clips cut from the rest of
liveportrait_d3, the five other fixture videos) and its stage clips (the man
of liveportrait_d13 small over the Sintel opening for 3 s, then close; 90 and
60 px tall). Two people are enrolled from the same photos on both sides: the
woman of d3 (frames at 1, 3.5 and 6 s of the enrolment recording) and the man
of d13 (his frame at 5 s, as bench.likeness protects him). Greenroom holds
them as protected likenesses and matches with ``match_faces`` on its own
keyframes (every 0.5 s, longer side at most 1280 px); the library sees frames
on the same grid at the same size.

- speed: wall and CPU seconds per clip (decode, then face work), warm; the
  ratio is the library's seconds over Greenroom's. The library is also run on
  every frame of ``--every-frame`` clips.
- appearances: a run of consecutive sampled times at which the library finds
  a person (distance at most 0.6, its documented default tolerance). One is
  found by Greenroom when a track Greenroom matched to the same person starts
  no later than 1 s after the appearance starts and has not ended before it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import detectors  # noqa: F401  (import hook first)
from bench.entry import as_package_main
from bench.likeness import D3, FIXTURES, OTHERS, REPO
from greenroom.settings import Settings
from greenroom.wiring import build_services
from pipeline.intake import DEFAULT_MAX_SIDE, keyframes
from store.db import Store
from tests.likeness.clips import frame_at, splice, stage

RESULTS = REPO / "bench" / "results" / "peer.json"
WORKER = Path(__file__).resolve().parent / "peer_worker.py"
DEFAULT_VENV = REPO / "bench" / ".peer-venv"
# The library's documented default for compare_faces: lower is stricter.
TOLERANCE = 0.6
START_WITHIN_S = 1.0
WOMAN, MAN = "woman (d3)", "man (d13)"
# Who is in each clip (the rest are other people or no one): for telling the
# library's appearances of the right person from its mistakes.
PRESENT = {
    "rest_a.mp4": WOMAN,
    "rest_b.mp4": WOMAN,
    OTHERS[0]: MAN,
    "stage_90.mp4": MAN,
    "stage_60.mp4": MAN,
}
PEER_PACKAGES = ["dlib-bin==20.0.1", "numpy", "pillow", "click", "setuptools<81"]
PEER_NO_DEPS = ["face_recognition==1.3.0", "face_recognition_models==0.3.0"]


def _cpu() -> float:
    """This process's CPU seconds plus its decoder children's.

    Greenroom decodes uploads in children of a multiprocessing fork server, so
    they are the server's children, not ours: their time is read from the
    server's ``/proc`` entry (its own and its reaped children's ticks).
    """
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    stat = Path(f"/proc/{pid}/stat")
    if pid and stat.exists():
        # Fields after the ")" that ends the command name: utime is the 12th,
        # then stime, cutime, cstime, in clock ticks.
        fields = stat.read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(x) for x in fields[11:15])
        total += ticks / os.sysconf("SC_CLK_TCK")
    return total


def peer_python(venv: Path, find_links: Path | None) -> Path:
    """The peer venv's python, creating the venv and installing the library on first use."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import face_recognition, dlib, av"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating the peer venv at {venv} (face_recognition_models is about 100 MB)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    if find_links is not None and find_links.is_dir():
        pip += ["--find-links", str(find_links)]
    import av

    # The same PyAV as the main venv: both sides decode with the same FFmpeg.
    subprocess.run([*pip, *PEER_PACKAGES, f"av=={av.__version__}"], check=True)
    subprocess.run([*pip, "--no-deps", *PEER_NO_DEPS], check=True)
    subprocess.run(check, check=True)
    return python


def build_clips(tmp: Path) -> tuple[list[Path], dict[str, list[Path]]]:
    """bench.likeness's clips plus its two stage clips, and the enrolment photos."""
    from PIL import Image

    d3, d13 = FIXTURES / D3, FIXTURES / OTHERS[0]
    clips = [
        splice(tmp / "rest_a.mp4", [(d3, 7.7, 9.8)]),
        splice(tmp / "rest_b.mp4", [(d3, 9.8, 12.0)]),
        *(FIXTURES / n for n in OTHERS),
        *(
            stage(tmp / f"stage_{h}.mp4", d13, FIXTURES / OTHERS[2], person_height=h)
            for h in (90, 60)
        ),
    ]
    photos: dict[str, list[Path]] = {WOMAN: [], MAN: []}
    for who, video, times in ((WOMAN, d3, (1.0, 3.5, 6.0)), (MAN, d13, (5.0,))):
        for t in times:
            path = tmp / f"{video.stem}_{t:g}.png"
            Image.fromarray(frame_at(video, t)).save(path)
            photos[who].append(path)
    return clips, photos


def greenroom(
    settings: Settings, clips: Sequence[Path], photos: dict[str, list[Path]]
) -> list[dict[str, Any]]:
    """Greenroom's likeness matching per clip: matched tracks per person and seconds, warm."""
    store = Store(settings.data_dir)
    ctx = build_services(store, settings).pipeline
    for name, paths in photos.items():
        ctx.likeness.protect(None, name, paths)
    # Warm-up: every model loaded and the index built before anything is timed.
    ctx.likeness.match_faces(keyframes(ctx.intake.ingest(clips[0]))[:4])
    out = []
    for clip in clips:
        w0, c0 = time.perf_counter(), _cpu()
        frames = keyframes(ctx.intake.ingest(clip))
        w1, c1 = time.perf_counter(), _cpu()
        found = ctx.likeness.match_faces(frames)
        w2, c2 = time.perf_counter(), _cpu()
        segments: dict[str, list[list[float]]] = {}
        for m in found.matches:
            for seg in m.tracks:
                segments.setdefault(m.name, []).append(
                    [seg["start_s"], seg["end_s"], seg["similarity"]]
                )
        out.append(
            {
                "clip": clip.name,
                "keyframes": len(frames),
                "keyframe_times": [round(f.t, 4) for f in frames],
                "tracks": len(found.tracks),
                "segments": {k: sorted(v) for k, v in segments.items()},
                # Every track, matched or not, with its best similarity to any
                # likeness: shows when a face was seen but not named.
                "all_tracks": sorted(
                    (
                        [
                            round(t.start_s, 3),
                            round(t.end_s, 3),
                            round(found.nearest[t.id], 4) if t.id in found.nearest else None,
                        ]
                        for t in found.tracks
                    ),
                    key=lambda r: (r[0], r[1]),
                ),
                "decode_s": round(w1 - w0, 3),
                "decode_cpu_s": round(c1 - c0, 3),
                "face_s": round(w2 - w1, 3),
                "face_cpu_s": round(c2 - c1, 3),
                "detector": found.detector,
                "threshold": found.threshold,
            }
        )
        print(f"[greenroom] {json.dumps(out[-1])}")
    store.close()
    return out


def appearances(
    samples: Sequence[dict[str, Any]], person: str, tolerance: float = TOLERANCE
) -> list[tuple[float, float]]:
    """(start, end) of each run of consecutive samples where some face is within ``tolerance``."""
    runs: list[tuple[float, float]] = []
    start: float | None = None
    last = 0.0
    for sample in samples:
        hit = any(f["distances"].get(person, 9.0) <= tolerance for f in sample["faces"])
        if hit and start is None:
            start = sample["t"]
        elif not hit and start is not None:
            runs.append((start, last))
            start = None
        last = sample["t"]
    if start is not None:
        runs.append((start, last))
    return runs


def found_by(
    appearance: tuple[float, float],
    segments: Sequence[Sequence[float]],
    within_s: float = START_WITHIN_S,
) -> list[float] | None:
    """Greenroom's matched track for this appearance: starts by ``within_s`` after it, not over before it."""
    start = appearance[0]
    for seg in segments:
        if seg[0] <= start + within_s + 1e-6 and seg[1] >= start - 1e-6:
            return list(seg)
    return None


def compare(
    peer_clips: Sequence[dict[str, Any]], ours: Sequence[dict[str, Any]], people: Sequence[str]
) -> list[dict[str, Any]]:
    """Per clip and person: the library's appearances and whether Greenroom found each."""
    rows = []
    by_clip = {r["clip"]: r for r in ours}
    for peer in peer_clips:
        gr = by_clip[peer["clip"]]
        for person in people:
            segs = gr["segments"].get(person, [])
            apps = appearances(peer["samples"], person)
            if not apps and not segs:
                continue
            listed = []
            for app in apps:
                match = found_by(app, segs)
                listed.append(
                    {
                        "start_s": app[0],
                        "end_s": app[1],
                        "found": match is not None,
                        "greenroom_track": match,
                    }
                )
            rows.append(
                {
                    "clip": peer["clip"],
                    "person": person,
                    "present": PRESENT.get(peer["clip"]) == person,
                    "library": listed,
                    "greenroom": segs,
                }
            )
    return rows


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b > 0 else None


def speed(peer_clips: Sequence[dict[str, Any]], ours: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Seconds per clip on both sides and the library-over-Greenroom ratios, per clip and in all."""
    by_clip = {r["clip"]: r for r in ours}
    rows = []
    keys = ("decode_s", "decode_cpu_s", "face_s", "face_cpu_s")
    total = {side: dict.fromkeys(keys, 0.0) for side in ("library", "greenroom")}
    for peer in peer_clips:
        gr = by_clip[peer["clip"]]
        for k in keys:
            total["library"][k] += peer[k]
            total["greenroom"][k] += gr[k]
        lib_all, gr_all = peer["decode_s"] + peer["face_s"], gr["decode_s"] + gr["face_s"]
        rows.append(
            {
                "clip": peer["clip"],
                "samples": len(peer["samples"]),
                "greenroom_keyframes": gr["keyframes"],
                "library_s": round(lib_all, 3),
                "library_cpu_s": round(peer["decode_cpu_s"] + peer["face_cpu_s"], 3),
                "greenroom_s": round(gr_all, 3),
                "greenroom_cpu_s": round(gr["decode_cpu_s"] + gr["face_cpu_s"], 3),
                "ratio": _ratio(lib_all, gr_all),
                "ratio_face_work": _ratio(peer["face_s"], gr["face_s"]),
            }
        )
    lib, gr = total["library"], total["greenroom"]
    return {
        "per_clip": rows,
        "total": {side: {k: round(v, 3) for k, v in t.items()} for side, t in total.items()},
        "ratio_wall": _ratio(lib["decode_s"] + lib["face_s"], gr["decode_s"] + gr["face_s"]),
        "ratio_cpu": _ratio(
            lib["decode_cpu_s"] + lib["face_cpu_s"], gr["decode_cpu_s"] + gr["face_cpu_s"]
        ),
        "ratio_face_work_wall": _ratio(lib["face_s"], gr["face_s"]),
        "ratio_face_work_cpu": _ratio(lib["face_cpu_s"], gr["face_cpu_s"]),
    }


def every_frame(
    runs: Sequence[dict[str, Any]], ours: Sequence[dict[str, Any]], people: Sequence[str]
) -> list[dict[str, Any]]:
    """The library on every frame: seconds against Greenroom's sampled run, and its appearances."""
    by_clip = {r["clip"]: r for r in ours}
    out = []
    for run in runs:
        gr = by_clip[run["clip"]]
        lib_s = run["decode_s"] + run["face_s"]
        lib_cpu = run["decode_cpu_s"] + run["face_cpu_s"]
        out.append(
            {
                "clip": run["clip"],
                "frames": len(run["samples"]),
                "library_s": round(lib_s, 3),
                "library_cpu_s": round(lib_cpu, 3),
                "ratio_vs_greenroom_sampled": _ratio(lib_s, gr["decode_s"] + gr["face_s"]),
                "ratio_cpu_vs_greenroom_sampled": _ratio(
                    lib_cpu, gr["decode_cpu_s"] + gr["face_cpu_s"]
                ),
                "appearances": {
                    p: [(round(a, 2), round(b, 2)) for a, b in appearances(run["samples"], p)]
                    for p in people
                },
            }
        )
    return out


def _versions(peer: dict[str, Any]) -> dict[str, Any]:
    import dlib
    import face_recognition_models
    import numpy

    from bench.peer_worker import _sha256

    resnet = Path(face_recognition_models.__file__).parent / "models"
    return {
        "library": peer["versions"],
        "greenroom": {
            "python": platform.python_version(),
            "dlib": dlib.__version__,
            "numpy": numpy.__version__,
            "resnet_model_sha256": _sha256(
                str(resnet / "dlib_face_recognition_resnet_model_v1.dat")
            ),
        },
    }


def _git_state() -> dict[str, Any]:
    """The commit measured and the tracked files changed on top of it (a shared working tree)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        # Not stripped: a porcelain line starts with a space for an unstaged change.
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "modified": [line[3:] for line in git("status", "--porcelain", "-uno").splitlines()],
    }


def print_table(result: dict[str, Any]) -> None:
    sp = result["speed"]
    head = ("clip", "frames", "library s", "(CPU)", "greenroom s", "(CPU)", "ratio")
    print("\n{:42} {:>6} {:>10} {:>7} {:>12} {:>7} {:>6}".format(*head))
    for r in sp["per_clip"]:
        n = f"{r['samples']}/{r['greenroom_keyframes']}"
        print(
            f"{r['clip']:42} {n:>6} {r['library_s']:>10.2f} {r['library_cpu_s']:>7.2f} "
            f"{r['greenroom_s']:>12.2f} {r['greenroom_cpu_s']:>7.2f} {r['ratio'] or 0:>6.2f}"
        )
    print(
        f"all clips: library / Greenroom = {sp['ratio_wall']}x wall, {sp['ratio_cpu']}x CPU "
        f"(face work only: {sp['ratio_face_work_wall']}x wall, {sp['ratio_face_work_cpu']}x CPU; "
        f"aim >= 5x)"
    )
    for r in result["every_frame"]:
        print(
            f"library on every frame of {r['clip']} ({r['frames']} frames): {r['library_s']:.1f} s, "
            f"{r['ratio_vs_greenroom_sampled']}x Greenroom's sampled run; appearances "
            f"{r['appearances']}"
        )
    print(f"\n{'clip':42} {'person':12} {'library appearance':>20}  found by Greenroom")
    for row in result["appearances"]:
        tag = "" if row["present"] else " (not in clip)"
        for a in row["library"]:
            track = a["greenroom_track"]
            how = f"yes, track {track[0]:.2f}-{track[1]:.2f} s" if track else "NO"
            print(
                f"{row['clip']:42} {row['person']:12} {a['start_s']:>8.2f}-{a['end_s']:<8.2f} s  "
                f"{how}{tag}"
            )
        if not row["library"]:
            print(
                f"{row['clip']:42} {row['person']:12} {'none':>20}  Greenroom matched "
                f"{row['greenroom']}{tag}"
            )
    s = result["summary"]
    print(
        f"\nlibrary appearances found by Greenroom (start within {START_WITHIN_S:g} s): "
        f"{s['found']}/{s['appearances']} in all; of the right person {s['found_present']}/"
        f"{s['appearances_present']}"
    )


def main() -> None:
    # The decoder children it measures must not re-run this module's imports.
    as_package_main("peer")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument(
        "--find-links",
        type=Path,
        default=Path("/tmp/fr"),
        help="a folder of already downloaded wheels/sdists for the peer venv (used if present)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--every-frame",
        default="stage_90.mp4,stage_60.mp4",
        help="clips the library also runs on every frame ('' for none; 'all')",
    )
    args = parser.parse_args()
    python = peer_python(args.peer_venv, args.find_links)
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    clips, photos = build_clips(tmp)
    people = list(photos)
    names = [c.name for c in clips]
    wanted = names if args.every_frame == "all" else [n for n in args.every_frame.split(",") if n]
    settings = Settings(data_dir=tmp / "data", threads=args.threads)
    # Greenroom's own sampling (a setting), handed to the library as is.
    every_s = settings.limits.keyframe_every_s
    ours = greenroom(settings, clips, photos)
    request = {
        "people": {k: [str(p) for p in v] for k, v in photos.items()},
        "clips": [str(c) for c in clips],
        "every_s": every_s,
        "max_side": DEFAULT_MAX_SIDE,
        "every_frame": [str(c) for c in clips if c.name in wanted],
    }
    print(f"[library] {len(clips)} clips, every {every_s} s at {DEFAULT_MAX_SIDE} px ...")
    done = subprocess.run(
        [str(python), str(WORKER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"peer worker failed:\n{done.stderr[-3000:]}")
    peer = json.loads(done.stdout)
    rows = compare(peer["clips"], ours, people)
    apps = [(r["present"], a["found"]) for r in rows for a in r["library"]]
    result: dict[str, Any] = {
        "command": " ".join(["python -m bench.peer", *sys.argv[1:]]),
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "threads": args.threads,
        "sampling": {"every_s": every_s, "max_side": DEFAULT_MAX_SIDE},
        "tolerance": TOLERANCE,
        "start_within_s": START_WITHIN_S,
        "enrolment_photos": {k: [p.name for p in v] for k, v in photos.items()},
        "git": _git_state(),
        "versions": _versions(peer),
        "library_settings": peer["settings"],
        "library_enrolment": peer["enrolment"],
        "speed": speed(peer["clips"], ours),
        "every_frame": every_frame(peer["every_frame"], ours, people),
        "summary": {
            "appearances": len(apps),
            "found": sum(f for _, f in apps),
            "appearances_present": sum(p for p, _ in apps),
            "found_present": sum(p and f for p, f in apps),
        },
        "appearances": rows,
        "greenroom": ours,
        "library_samples": {c["clip"]: c["samples"] for c in peer["clips"]},
    }
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print_table(result)
    print(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
