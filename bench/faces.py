"""Face benchmark: verification accuracy per embedder, detection/embedding speed, seconds per 10 s clip.

Run: ``.venv/bin/python -m bench.faces [--fixtures DIR] [--models DIR] [--threads N]
[--sections detection,small,verification,hog,speed,clips,runtimes]``.
Prints the figures and writes ``bench/results/faces.json``. YuNet (the default
detector since issue 15) is reported beside dlib HOG (the previous default) in
the same run: recall on crops, rotated and tight crops (``detection``), small
faces in a 720p frame with and without YuNet's small-face pass (``small``),
verification thresholds per detector with tune/test halves (``verification``).

Verification uses ``faces/PAIRS.tsv`` (the named protocol) and, to resolve
small false-accept rates, every cross-identity pair of the single-identity
photos in ``faces/MANIFEST.tsv`` as extra impostor pairs. The threshold is
chosen from data: the one maximising balanced accuracy (mean of true-accept
and true-reject rates) over PAIRS.tsv's same-person pairs and all impostor
pairs, cut midway between the neighbouring scores. It is chosen and evaluated
on the same pairs (in-sample), so the accuracy is optimistic.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

import detectors  # noqa: F401  (import hook before any ML library)
from detectors.base import DetectorError, ModelUnavailable
from detectors.faces import build_detector, build_embedder, embed_largest
from detectors.faces.tracking import track_faces
from pipeline.media import iter_frames, load_image, probe_video

REPO = Path(__file__).resolve().parent.parent


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def single_identity_files(faces_dir: Path) -> dict[str, str]:
    """file -> identity for manifest photos of exactly one labelled person."""
    out: dict[str, str] = {}
    for row in read_tsv(faces_dir / "MANIFEST.tsv"):
        m = re.match(r"identity=([A-Za-z0-9_]+)", row.get("ground_truth", ""))
        if m and m.group(1) != "multi" and "two faces" not in row["ground_truth"]:
            out[row["file"]] = m.group(1)
    return out


def roc(same: np.ndarray, diff: np.ndarray) -> list[dict[str, float]]:
    points = []
    for thr in np.unique(np.concatenate([same, diff, [1.01]])):
        points.append(
            {
                "threshold": float(thr),
                "tar": float((same >= thr).mean()),
                "far": float((diff >= thr).mean()),
            }
        )
    return points


def choose_threshold(same: np.ndarray, diff: np.ndarray) -> float:
    best, best_thr = -1.0, 1.0
    for thr in np.unique(np.concatenate([same, diff])):
        balanced = ((same >= thr).mean() + (diff < thr).mean()) / 2
        if balanced >= best:
            best, best_thr = balanced, float(thr)
    # Midway between neighbouring scores, so the cut does not sit on a sample.
    below = np.concatenate([same, diff])
    below = below[below < best_thr]
    return float((best_thr + below.max()) / 2) if below.size else best_thr


def tar_at_far(same: np.ndarray, diff: np.ndarray, far: float) -> tuple[float, float]:
    """Largest TAR whose FAR <= far; the threshold that gives it."""
    diff_sorted = np.sort(diff)[::-1]
    allowed = int(np.floor(far * len(diff)))
    thr = float(diff_sorted[allowed]) + 1e-6 if allowed < len(diff) else float(diff.min())
    return float((same >= thr).mean()), thr


def cross_validated(same: np.ndarray, diff: np.ndarray, folds: int = 5) -> dict[str, float]:
    """Threshold chosen on 4/5 of the pairs, measured on the held-out fifth; pooled over folds."""
    rng = np.random.default_rng(0)
    same_fold = rng.permutation(len(same)) % folds
    diff_fold = rng.permutation(len(diff)) % folds
    accepted_same = rejected_diff = 0
    for k in range(folds):
        thr = choose_threshold(same[same_fold != k], diff[diff_fold != k])
        accepted_same += int((same[same_fold == k] >= thr).sum())
        rejected_diff += int((diff[diff_fold == k] < thr).sum())
    return {
        "cv_tar": accepted_same / len(same),
        "cv_far": 1 - rejected_diff / len(diff),
        "cv_accuracy": (accepted_same + rejected_diff) / (len(same) + len(diff)),
    }


def verification(
    faces_dir: Path, detector_name: str, embedder_name: str, models_dir: Path, threads: int
) -> dict[str, Any]:
    detector = build_detector(detector_name, models_dir, threads)
    embedder = build_embedder(embedder_name, models_dir, threads)
    pairs = read_tsv(faces_dir / "PAIRS.tsv")
    identities = single_identity_files(faces_dir)
    files = sorted({p["file_a"] for p in pairs} | {p["file_b"] for p in pairs} | set(identities))
    vectors: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    for name in files:
        try:
            rgb = load_image(faces_dir / name)
            _, vectors[name] = embed_largest(rgb, detector, embedder, name)
        except DetectorError as exc:
            failures[name] = str(exc)
    same: list[float] = []
    diff: list[float] = []
    skipped = 0
    for p in pairs:
        a, b = vectors.get(p["file_a"]), vectors.get(p["file_b"])
        if a is None or b is None:
            skipped += 1
            continue
        (same if p["label"] == "same" else diff).append(float(a @ b))
    s, d = np.array(same), np.array(diff)
    extra_pairs = [
        (a, b, float(vectors[a] @ vectors[b]))
        for a, b in itertools.combinations(sorted(set(identities) & set(vectors)), 2)
        if identities[a] != identities[b]
    ]
    extra = [sim for _, _, sim in extra_pairs]
    # Held apart: identities split into tune/test halves (split_half over the
    # sorted identity names); the threshold is chosen on pairs whose people
    # are all in the tune half and measured on pairs all in the test half.
    half_of = split_half(
        sorted(
            {p["identity_a"] for p in pairs}
            | {p["identity_b"] for p in pairs}
            | set(identities.values())
        )
    )
    by_half: dict[str, tuple[list[float], list[float]]] = {"tune": ([], []), "test": ([], [])}
    for p in pairs:
        a, b = vectors.get(p["file_a"]), vectors.get(p["file_b"])
        ha, hb = half_of[p["identity_a"]], half_of[p["identity_b"]]
        if a is None or b is None or ha != hb:
            continue
        by_half[ha][0 if p["label"] == "same" else 1].append(float(a @ b))
    for name_a, name_b, sim in extra_pairs:
        ha, hb = half_of[identities[name_a]], half_of[identities[name_b]]
        if ha == hb:
            by_half[ha][1].append(sim)
    tune_s, tune_d = (np.array(x) for x in by_half["tune"])
    test_s, test_d = (np.array(x) for x in by_half["test"])
    tune_thr = choose_threshold(tune_s, tune_d)
    held_out = {
        "tune_identities": sorted(i for i, h in half_of.items() if h == "tune"),
        "test_identities": sorted(i for i, h in half_of.items() if h == "test"),
        "tune_pairs_same": len(tune_s),
        "tune_pairs_impostor": len(tune_d),
        "test_pairs_same": len(test_s),
        "test_pairs_impostor": len(test_d),
        "threshold_from_tune": round(tune_thr, 4),
        "test_tar": float((test_s >= tune_thr).mean()) if len(test_s) else None,
        "test_far": float((test_d >= tune_thr).mean()) if len(test_d) else None,
        "test_same_min": round(float(test_s.min()), 4) if len(test_s) else None,
        "test_impostor_max": round(float(test_d.max()), 4) if len(test_d) else None,
    }
    d_all = np.concatenate([d, np.array(extra)])
    thr = choose_threshold(s, d_all)
    tar_01, thr_01 = tar_at_far(s, d_all, 0.001)
    return {
        "detector": detector.info.model_id,
        "embedder": embedder.info.model_id,
        "pairs_same": len(s),
        "pairs_different": len(d),
        "pairs_skipped_no_face": skipped,
        "no_face_files": failures,
        "threshold": round(thr, 4),
        "threshold_rule": "maximise balanced accuracy (PAIRS.tsv same pairs vs all impostor pairs, in-sample), midpoint cut",
        "tar_at_threshold": float((s >= thr).mean()),
        "far_at_threshold_pairs": float((d >= thr).mean()),
        "far_at_threshold_all_impostors": float((d_all >= thr).mean()),
        "accuracy_at_threshold": float(((s >= thr).sum() + (d < thr).sum()) / (len(s) + len(d))),
        "impostor_pairs_for_far": len(d_all),
        "tar_at_far_0.1pct": tar_01,
        "threshold_at_far_0.1pct": round(thr_01, 4),
        "same_similarity_quantiles": np.quantile(s, [0, 0.05, 0.5]).round(4).tolist(),
        "different_similarity_quantiles": np.quantile(d_all, [0.5, 0.95, 0.999, 1])
        .round(4)
        .tolist(),
        "roc_pairs": roc(s, d)[:: max(1, len(s) // 40)],
        **cross_validated(s, d_all),
        "held_out": held_out,
    }


def speed(
    faces_dir: Path, detector_name: str, models_dir: Path, threads: int, embedder=None
) -> dict[str, Any]:
    detector = build_detector(detector_name, models_dir, threads)
    images = [
        load_image(faces_dir / f)
        for f in (
            "face_recognition/two_people.jpg",
            "insightface/t1.jpg",
            "deepface/selfie-many-people.jpg",
            "face_recognition/obama.jpg",
            "deepface/img2.jpg",
        )
    ]
    detector.detect(images[0])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    found = [detector.detect(img) for img in images for _ in range(2)]
    det_s, det_cpu = time.perf_counter() - start, time.process_time() - cpu
    n_faces = sum(len(f) for f in found)
    out: dict[str, Any] = {
        "detector": detector.info.model_id,
        "images_per_s": round(len(found) / det_s, 2),
        "faces_per_s": round(n_faces / det_s, 2),
        "ms_per_image": round(1000 * det_s / len(found), 1),
        "cpu_ms_per_image": round(1000 * det_cpu / len(found), 1),
    }
    if embedder is not None:
        embedder.embed(images[0], found[0])
        start, cpu = time.perf_counter(), time.process_time()
        n = 0
        for img, faces in zip(images * 2, found, strict=True):
            embedder.embed(img, faces)
            n += len(faces)
        out["embedder"] = embedder.info.model_id
        out["embed_faces_per_s"] = round(n / (time.perf_counter() - start), 2)
        out["embed_cpu_ms_per_face"] = round(1000 * (time.process_time() - cpu) / n, 1)
    return out


def split_half(names: list[str]) -> dict[str, str]:
    """Deterministic tune/test halves: sorted names, alternating (even index tune, odd test)."""
    return {n: ("tune" if i % 2 == 0 else "test") for i, n in enumerate(sorted(names))}


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """``rgb`` rotated about its centre on a canvas big enough to keep every pixel (black fill)."""
    import cv2

    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = round(h * sin + w * cos), round(h * cos + w * sin)
    matrix[0, 2] += nw / 2 - w / 2
    matrix[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(rgb, matrix, (nw, nh), flags=cv2.INTER_LINEAR)


def tight(rgb: np.ndarray, keep: float = 0.7, side: int = 720) -> np.ndarray:
    """The central ``keep`` of a crop (the face now touches the border), enlarged to ``side`` px."""
    import cv2

    h, w = rgb.shape[:2]
    dy, dx = round(h * (1 - keep) / 2), round(w * (1 - keep) / 2)
    inner = rgb[dy : h - dy, dx : w - dx]
    return cv2.resize(inner, (side, side), interpolation=cv2.INTER_CUBIC)


def detection_recall(faces_dir: Path, detector: Any, label: str | None = None) -> dict[str, Any]:
    """Recall of one detector on the 26 UTKFace adult crops: as is, rotated by -40 and +40 degrees,
    and tight (:func:`tight`: central 70 %, chin and forehead cut, enlarged to 720 px).

    Every crop holds exactly one face, so a crop counts as found when the
    detector reports at least one face. Split into tune/test halves by
    :func:`split_half` (nothing here is fitted; both halves are reported).
    """
    crops = sorted((faces_dir / "utkface_age").glob("*.jpg"))
    halves = split_half([c.name for c in crops])
    images = [(c.name, load_image(c)) for c in crops]
    detector.detect(images[0][1])  # warm-up
    found: dict[str, dict[str, int]] = {
        h: {"crops": 0, "rotated": 0, "tight": 0} for h in ("tune", "test")
    }
    total: dict[str, int] = {"tune": 0, "test": 0}
    missed: list[str] = []
    wall = cpu = 0.0
    calls = 0
    for name, rgb in images:
        half = halves[name]
        total[half] += 1
        variants = (
            ("crops", rgb),
            ("rotated", rotate(rgb, -40)),
            ("rotated", rotate(rgb, 40)),
            ("tight", tight(rgb)),
        )
        for kind, img in variants:
            w0, c0 = time.perf_counter(), time.process_time()
            faces = detector.detect(img)
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            calls += 1
            if faces:
                found[half][kind] += 1
            else:
                missed.append(f"{name} ({kind})")
    n = total["tune"] + total["test"]
    return {
        "detector": label or detector.info.model_id,
        "model_id": detector.info.model_id,
        "crops_found": found["tune"]["crops"] + found["test"]["crops"],
        "crops": n,
        "rotated_found": found["tune"]["rotated"] + found["test"]["rotated"],
        "rotated": 2 * n,
        "tight_found": found["tune"]["tight"] + found["test"]["tight"],
        "tight": n,
        "by_half": {
            h: {
                "crops_found": found[h]["crops"],
                "crops": total[h],
                "rotated_found": found[h]["rotated"],
                "rotated": 2 * total[h],
                "tight_found": found[h]["tight"],
            }
            for h in ("tune", "test")
        },
        "missed": missed,
        "ms_per_image": round(1000 * wall / calls, 1),
        "cpu_ms_per_image": round(1000 * cpu / calls, 1),
    }


def detection_section(
    faces_dir: Path, models_dir: Path, threads: int, with_mmod: bool
) -> list[dict[str, Any]]:
    """YuNet (as shipped: padded, two passes; and raw) beside dlib HOG (and MMOD) in one run."""
    from detectors.faces.yunet_backend import YunetDetector

    runs: list[tuple[str, Any]] = [
        ("yunet (pad 25 %, coarse large-face pass)", build_detector("yunet", None, threads)),
        (
            "yunet raw (no pad, one pass at 640)",
            YunetDetector(None, threads, pad=0.0, large_pass_side=0),
        ),
        ("dlib-hog (previous default)", build_detector("dlib-hog", None, threads)),
    ]
    if with_mmod:
        runs.append(("dlib-mmod", build_detector("dlib-mmod", None, threads)))
    out = []
    for label, det in runs:
        r = detection_recall(faces_dir, det, label)
        out.append(r)
        print(
            f"[detection] {label} [{r['model_id']}]: crops {r['crops_found']}/{r['crops']}, "
            f"rotated +-40 deg {r['rotated_found']}/{r['rotated']}, tight {r['tight_found']}/"
            f"{r['tight']} (tune half "
            f"{r['by_half']['tune']['crops_found']}/{r['by_half']['tune']['crops']} + "
            f"{r['by_half']['tune']['rotated_found']}/{r['by_half']['tune']['rotated']}, test half "
            f"{r['by_half']['test']['crops_found']}/{r['by_half']['test']['crops']} + "
            f"{r['by_half']['test']['rotated_found']}/{r['by_half']['test']['rotated']}), "
            f"{r['ms_per_image']} ms/image (CPU {r['cpu_ms_per_image']})"
        )
    return out


def small_face_recall(
    faces_dir: Path, backdrop: np.ndarray, detector: Any, small_pass: bool, label: str
) -> dict[str, Any]:
    """Recall on small faces in a 720p frame: each UTKFace crop shrunk and pasted into ``backdrop``.

    The 200-px crops (face about 110 px wide) are shrunk to 48, 36 and 28 px
    (faces about 26, 20 and 15 px wide in the 1280x720 frame: 13, 10 and 8 px at
    the 640-px video working size) and pasted into the lower right of a faceless
    backdrop. ``detector`` is a video detector (``for_video``); with
    ``small_pass``, a frame where ``detect`` finds nothing gets ``detect_small``,
    as :func:`detectors.faces.tracking.track_faces` does. Tune/test halves by
    :func:`split_half` (nothing here is fitted).
    """
    import cv2

    crops = sorted((faces_dir / "utkface_age").glob("*.jpg"))
    halves = split_half([c.name for c in crops])
    sizes = (48, 36, 28)
    found = {h: dict.fromkeys(sizes, 0) for h in ("tune", "test")}
    total = {"tune": 0, "test": 0}
    wall = 0.0
    calls = 0
    canvas0 = cv2.resize(backdrop, (1280, 720), interpolation=cv2.INTER_AREA)
    for crop_path in crops:
        half = halves[crop_path.name]
        total[half] += 1
        rgb = load_image(crop_path)
        for side in sizes:
            small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
            canvas = canvas0.copy()
            canvas[720 - 60 - side : 720 - 60, 1280 - 250 - side : 1280 - 250] = small
            w0 = time.perf_counter()
            faces = detector.detect(canvas)
            if not faces and small_pass:
                faces = detector.detect_small(canvas)
            wall += time.perf_counter() - w0
            calls += 1
            x0, y0 = 1280 - 250 - side, 720 - 60 - side
            hit = any(
                f.box[0] < x0 + side and f.box[2] > x0 and f.box[1] < y0 + side and f.box[3] > y0
                for f in faces
            )
            found[half][side] += hit
    n = total["tune"] + total["test"]
    return {
        "detector": label,
        "model_id": detector.info.model_id,
        "crops": n,
        "found_by_crop_side": {
            f"{side}px (face ~{round(side * 0.55)} px)": found["tune"][side] + found["test"][side]
            for side in sizes
        },
        "by_half": {
            h: {f"{side}px": found[h][side] for side in sizes} | {"crops": total[h]}
            for h in ("tune", "test")
        },
        "ms_per_frame": round(1000 * wall / calls, 1),
    }


def small_section(faces_dir: Path, fixtures: Path, threads: int) -> list[dict[str, Any]]:
    """dlib HOG (old default) beside YuNet without and with its small-face pass (new default)."""
    backdrop = next(
        iter_frames(fixtures / "videos" / "sintel_trailer_clip_720p.mp4", every_s=1.0)
    ).rgb
    yunet = build_detector("yunet", None, threads, for_video=True)
    runs = [
        (
            "dlib-hog, video settings (old default)",
            build_detector("dlib-hog", None, threads, for_video=True),
            False,
        ),
        ("yunet, video settings, no small-face pass", yunet, False),
        ("yunet + small-face pass (new default)", yunet, True),
    ]
    out = []
    for label, det, small in runs:
        r = small_face_recall(faces_dir, backdrop, det, small, label)
        out.append(r)
        found = ", ".join(f"{k}: {v}/{r['crops']}" for k, v in r["found_by_crop_side"].items())
        print(f"[small faces] {label} [{r['model_id']}]: {found}; {r['ms_per_frame']} ms/frame")
    return out


class _Clock:
    """Wall and CPU seconds spent inside one detector's or embedder's calls."""

    def __init__(self, inner: Any, method: str) -> None:
        self.inner, self.method, self.info = inner, method, inner.info
        self.wall = self.cpu = 0.0
        self.calls = 0

    def _timed(self, *args: Any, method: str | None = None) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return getattr(self.inner, method or self.method)(*args)
        finally:
            self.wall += time.perf_counter() - w
            self.cpu += time.process_time() - c
            self.calls += 1

    def detect(self, rgb: np.ndarray) -> Any:
        return self._timed(rgb)

    def detect_small(self, rgb: np.ndarray) -> Any:
        # The small-face pass (track_faces runs it on faceless frames) is detection time too.
        return self._timed(rgb, method="detect_small")

    def embed(self, rgb: np.ndarray, faces: Any) -> Any:
        return self._timed(rgb, faces)


def load_average() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def clip_cost(
    video: Path,
    detector_name: str,
    embedder_name: str,
    models_dir: Path,
    threads: int,
    every_s: float,
) -> dict[str, Any]:
    info = probe_video(video)
    detector = build_detector(detector_name, models_dir, threads, for_video=True)
    embedder = build_embedder(embedder_name, models_dir, threads)
    start = time.perf_counter()
    frames = list(iter_frames(video, every_s=every_s))
    decode_s = time.perf_counter() - start
    det_clock, emb_clock = _Clock(detector, "detect"), _Clock(embedder, "embed")
    start, cpu_start = time.perf_counter(), time.process_time()
    tracks = track_faces(frames, det_clock, emb_clock)  # type: ignore[arg-type]
    face_s = time.perf_counter() - start
    face_cpu = time.process_time() - cpu_start
    per10 = 10.0 / info.duration_s
    return {
        "video": video.name,
        "resolution": f"{info.width}x{info.height}",
        "duration_s": round(info.duration_s, 2),
        "every_s": every_s,
        "detector": detector.info.model_id,
        "embedder": embedder.info.model_id,
        "frames": len(frames),
        "tracks": [t.to_dict() for t in tracks],
        "embeddings": int(sum(len(t.embedding_times) for t in tracks)),
        "face_work_s_per_10s": round(face_s * per10, 3),
        "face_work_cpu_s_per_10s": round(face_cpu * per10, 3),
        "detect_s_per_10s": round(det_clock.wall * per10, 3),
        "embed_s_per_10s": round(emb_clock.wall * per10, 3),
        "load_average": load_average(),
        "decode_s_per_10s": round(decode_s * per10, 3),
    }


def hog_settings(faces_dir: Path) -> list[dict[str, Any]]:
    """What dlib HOG's working size and upsampling cost and find, on the group and small photos."""
    from detectors.faces.dlib_backend import DlibHogDetector

    files = {
        "insightface/t1.jpg": 6,
        "deepface/selfie-many-people.jpg": 6,
        "face_recognition/two_people.jpg": 2,
        "face_recognition/obama_small.jpg": 1,
        "deepface/couple.jpg": 2,
    }
    images = [(load_image(faces_dir / f), n) for f, n in files.items()]
    out = []
    for max_side, upsample in ((640, 0), (1024, 0), (1024, None), (1024, 1), (1600, 1)):
        det = DlibHogDetector(max_side=max_side, upsample=upsample)
        start, cpu = time.perf_counter(), time.process_time()
        found = sum(min(len(det.detect(img)), n) for img, n in images)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        out.append(
            {
                "max_side": max_side,
                "upsample": "auto (1 when <= 640 px)" if upsample is None else upsample,
                "faces_found": found,
                "faces_expected": sum(files.values()),
                "ms_per_image": round(1000 * wall / len(images), 1),
                "cpu_ms_per_image": round(1000 * cpu / len(images), 1),
            }
        )
    return out


def runtime_section(fixtures: Path, repeat: int = 20) -> list[dict[str, Any]]:
    """YuNet's network alone on ONNX Runtime and on OpenCV's DNN module: CPU ms a pass, one thread.

    Sintel 720p keyframes at the video detector's two working sizes (640 px, the
    fine pass; 1280 px, the small-face pass), BGR, no padding.
    """
    import cv2

    from detectors.faces.yunet_backend import OpencvYunet, find_yunet
    from detectors.faces.yunet_ort import OrtYunet

    path, _ = find_yunet(None)
    frames = [
        f.rgb
        for f in iter_frames(fixtures / "videos" / "sintel_trailer_clip_720p.mp4", every_s=2.0)
    ][:4]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one core each, as ORT runs here
    runners: dict[str, OrtYunet | OpencvYunet] = {
        "onnxruntime": OrtYunet(path, 0.6, 0.3),
        "opencv": OpencvYunet(cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.6, 0.3)),
    }
    out = []
    try:
        for side in (640, 1280):
            images = []
            for rgb in frames:
                scale = side / max(rgb.shape[:2])
                size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
                images.append(cv2.cvtColor(cv2.resize(rgb, size), cv2.COLOR_RGB2BGR))
            for name, runner in runners.items():
                runner.rows(images[0])  # warm
                cpu = time.process_time()
                for _ in range(repeat):
                    for bgr in images:
                        runner.rows(bgr)
                per_pass = 1000 * (time.process_time() - cpu) / (repeat * len(images))
                out.append(
                    {
                        "runtime": name,
                        "side": side,
                        "size": list(images[0].shape[1::-1]),
                        "cpu_ms_per_pass": round(per_pass, 1),
                    }
                )
    finally:
        cv2.setNumThreads(threads)
    return out


_SECTION_KEYS = {
    "detection": "detection",
    "small_faces": "small",
    "verification": "verification",
    "hog_settings": "hog",
    "speed": "speed",
    "clips": "clips",
    "yunet_runtimes": "runtimes",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--models", type=Path, default=REPO.parent / "shared" / "models")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--mmod", action="store_true", help="also measure dlib MMOD (about 1 s an image)"
    )
    parser.add_argument("--every", type=float, default=0.5, help="video sampling interval (s)")
    parser.add_argument(
        "--sections",
        default="detection,small,verification,hog,speed,clips,runtimes",
        help="comma-separated subset to run",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    faces_dir = args.fixtures / "faces"
    results: dict[str, Any] = {
        "threads": args.threads,
        "verification": [],
        "speed": [],
        "clips": [],
    }

    if "detection" in sections:
        results["detection"] = detection_section(faces_dir, args.models, args.threads, args.mmod)

    if "small" in sections:
        results["small_faces"] = small_section(faces_dir, args.fixtures, args.threads)

    if "runtimes" in sections:
        results["yunet_runtimes"] = runtime_section(args.fixtures)
        for r in results["yunet_runtimes"]:
            print(
                f"[runtimes] YuNet on {r['runtime']}, {r['size'][0]}x{r['size'][1]}: "
                f"{r['cpu_ms_per_pass']} CPU ms a pass (one thread)"
            )

    pairs_runs = (
        ("yunet", "dlib-resnet"),
        ("dlib-hog", "dlib-resnet"),
        ("scrfd", "dlib-resnet"),
        ("scrfd", "arcface"),
    )
    for det_name, emb_name in pairs_runs if "verification" in sections else ():
        try:
            v = verification(faces_dir, det_name, emb_name, args.models, args.threads)
        except ModelUnavailable as exc:
            print(f"[verification] {det_name} + {emb_name}: unavailable: {exc}")
            results["verification"].append(
                {"detector": det_name, "embedder": emb_name, "unavailable": str(exc)}
            )
            continue
        results["verification"].append(v)
        print(
            f"[verification] {v['detector']} + {v['embedder']}: {v['pairs_same']} same / "
            f"{v['pairs_different']} different pairs ({v['pairs_skipped_no_face']} skipped, no face)\n"
            f"  threshold {v['threshold']} ({v['threshold_rule']})\n"
            f"  at threshold: TAR {v['tar_at_threshold']:.3f}, FAR {v['far_at_threshold_pairs']:.3f} "
            f"(pairs) / {v['far_at_threshold_all_impostors']:.4f} (all {v['impostor_pairs_for_far']} "
            f"impostor pairs), accuracy {v['accuracy_at_threshold']:.3f}\n"
            f"  TAR at FAR 0.1 %: {v['tar_at_far_0.1pct']:.3f} (threshold {v['threshold_at_far_0.1pct']})\n"
            f"  5-fold cross-validated (threshold chosen on the other folds): TAR {v['cv_tar']:.3f}, "
            f"FAR {v['cv_far']:.4f}, accuracy {v['cv_accuracy']:.3f}\n"
            f"  held apart: threshold {v['held_out']['threshold_from_tune']} from the tune half "
            f"({v['held_out']['tune_pairs_same']} same / {v['held_out']['tune_pairs_impostor']} impostor "
            f"pairs), on the test half TAR {v['held_out']['test_tar']}, FAR {v['held_out']['test_far']} "
            f"({v['held_out']['test_pairs_same']} same / {v['held_out']['test_pairs_impostor']} impostor; "
            f"same min {v['held_out']['test_same_min']}, impostor max {v['held_out']['test_impostor_max']})"
        )

    if "hog" in sections:
        results["hog_settings"] = hog_settings(faces_dir)
        for h in results["hog_settings"]:
            print(
                f"[hog] max_side {h['max_side']}, upsample {h['upsample']}: found "
                f"{h['faces_found']}/{h['faces_expected']} faces, {h['ms_per_image']} ms/image "
                f"(CPU {h['cpu_ms_per_image']} ms)"
            )

    for det_name in ("yunet", "dlib-hog", "scrfd") if "speed" in sections else ():
        for emb_name in ("dlib-resnet", "arcface"):
            try:
                embedder = build_embedder(emb_name, args.models, args.threads)
                s = speed(faces_dir, det_name, args.models, args.threads, embedder)
            except ModelUnavailable as exc:
                print(f"[speed] {det_name} + {emb_name}: unavailable: {exc}")
                continue
            results["speed"].append(s)
            print(
                f"[speed] {s['detector']}: {s['ms_per_image']} ms/image (CPU {s['cpu_ms_per_image']}), "
                f"{s['faces_per_s']} faces/s; {s['embedder']}: {s['embed_faces_per_s']} faces/s "
                f"(CPU {s['embed_cpu_ms_per_face']} ms/face)"
            )

    videos = sorted((args.fixtures / "videos").glob("*talking*.mp4")) + sorted(
        (args.fixtures / "videos").glob("liveportrait_s18*.mp4")
    )
    for video in videos if "clips" in sections else ():
        for det_name in ("yunet", "dlib-hog", "scrfd"):
            try:
                c = clip_cost(video, det_name, "dlib-resnet", args.models, args.threads, args.every)
            except ModelUnavailable as exc:
                print(f"[clip] {det_name}: unavailable: {exc}")
                continue
            results["clips"].append(c)
            print(
                f"[clip] {c['video']} {c['resolution']} {c['duration_s']} s, every {c['every_s']} s, "
                f"{c['detector']} + {c['embedder']}: {len(c['tracks'])} track(s), "
                f"{c['embeddings']} embeddings, face work {c['face_work_s_per_10s']} s per 10 s "
                f"(CPU {c['face_work_cpu_s_per_10s']} s; detect {c['detect_s_per_10s']} s, "
                f"embed {c['embed_s_per_10s']} s; + decode {c['decode_s_per_10s']} s; "
                f"load average {c['load_average']})"
            )

    out = REPO / "bench" / "results" / "faces.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    # A partial run (--sections) keeps the other sections' last figures.
    results = {
        k: v for k, v in results.items() if k not in _SECTION_KEYS or _SECTION_KEYS[k] in sections
    }
    results |= {k: v for k, v in previous.items() if k in _SECTION_KEYS and k not in results}
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
