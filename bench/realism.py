"""Unknown-real-face check with YuNet, the default detector: are low-confidence faces held? (issue 15)

The check (:mod:`detectors.faces.realism`) trusts YuNet's confidence only at
or above its cut (0.85). Below it, a face that is not made of flat colour
fills is *held* for a human (``photorealistic`` true, ``confident`` false):
small and blurred real faces score that low, and a real face published
unheld is the error this check exists to prevent. This counts, over the
fixtures' stills (real people in ``faces/``, drawings in ``characters/``),
YuNet's faces, those under the cut, and how many of each the check holds --
with today's rule and with the rule it replaced (low confidence = not a real
face), side by side; and per image (what an uploader posts: is it held at all?)
under both rules and with dlib HOG. ``--second`` also asks a second detector whether it
confirms the low-confidence faces on their crop (50 % margin, upscaled so the
short side is >= 200 px): measured last, it did not separate real from drawn.

    python -m bench.realism [--second dlib-hog|dlib-mmod]

Writes ``bench/results/realism.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import detectors  # noqa: F401  (import hook before any model library)
from detectors.faces import build_detector
from detectors.faces.realism import FLAT_LIMIT, Realism, face_realism, min_score
from greenroom.settings import Settings
from pipeline.media import load_image

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "realism.json"


def _crop(rgb: np.ndarray, box: Any, margin: float = 0.5, side: int = 200) -> np.ndarray:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    top, left = max(0, int(y0 - margin * h)), max(0, int(x0 - margin * w))
    bottom = min(rgb.shape[0], int(y1 + margin * h))
    right = min(rgb.shape[1], int(x1 + margin * w))
    crop = rgb[top:bottom, left:right]
    scale = side / max(1, min(crop.shape[:2]))
    if scale > 1:
        size = (int(crop.shape[1] * scale), int(crop.shape[0] * scale))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(crop)


def _old_rule(score: float, verdict: Realism, cut: float) -> bool:
    """The rule this check replaced: under the cut meant "not a real face", never held."""
    flat = verdict.flat_fraction
    return score >= cut and (flat is None or flat < FLAT_LIMIT)


def measure(fixtures: Path, second_name: str | None = None) -> dict[str, Any]:
    """Per set (real, drawn): YuNet faces, low-confidence ones, how many each rule holds."""
    yunet = build_detector("yunet", None, threads=1, fallback=False)
    hog = build_detector("dlib-hog", None, threads=1, fallback=False)
    second = build_detector(second_name, None, threads=1) if second_name else None
    cut = min_score(yunet.info.model_id)
    out: dict[str, Any] = {"detector": yunet.info.model_id, "yunet_cut": cut}
    if second_name:
        out["second"] = second_name
    for name, folder in (("real", fixtures / "faces"), ("drawn", fixtures / "characters")):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
        row: dict[str, Any] = {
            "faces": 0,
            "held": 0,
            "low_confidence_faces": 0,
            "low_confidence_held": 0,
            "low_confidence_held_old_rule": 0,
            "flat_fraction_max": 0.0,
            "low_confidence": [],
            # Per image, which is what a person uploads: is the upload held at all?
            "images": len(files),
            "images_held": 0,
            "images_held_old_rule": 0,
            "images_held_dlib_hog": 0,
        }
        if second is not None:
            row["low_confidence_confirmed_by_second"] = 0
        for path in files:
            rgb = load_image(path)
            held = held_old = False
            for face in hog.detect(rgb):
                if face_realism(rgb, face, hog.info.model_id).photorealistic:
                    row["images_held_dlib_hog"] += 1
                    break
            for face in yunet.detect(rgb):
                verdict = face_realism(rgb, face, yunet.info.model_id)
                held = held or verdict.photorealistic
                held_old = held_old or _old_rule(face.score, verdict, cut)
                row["faces"] += 1
                row["held"] += verdict.photorealistic
                if verdict.flat_fraction is not None:
                    row["flat_fraction_max"] = max(
                        row["flat_fraction_max"], round(verdict.flat_fraction, 4)
                    )
                if face.score >= cut:
                    continue
                row["low_confidence_faces"] += 1
                row["low_confidence_held"] += verdict.photorealistic
                row["low_confidence_held_old_rule"] += _old_rule(face.score, verdict, cut)
                entry = {
                    "file": str(path.relative_to(fixtures)),
                    "score": round(float(face.score), 3),
                    "width_px": round(face.width),
                    "flat_fraction": verdict.to_dict()["flat_fraction"],
                    "held": verdict.photorealistic,
                }
                if second is not None:
                    confirmed = bool(second.detect(_crop(rgb, face.box)))
                    row["low_confidence_confirmed_by_second"] += confirmed
                    entry["confirmed_by_second"] = confirmed
                row["low_confidence"].append(entry)
            row["images_held"] += held
            row["images_held_old_rule"] += held_old
        out[name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--second", default=None, choices=["dlib-hog", "dlib-mmod"])
    parser.add_argument("--fixtures", type=Path, default=Path(Settings().fixtures_dir))
    args = parser.parse_args()
    out = measure(args.fixtures, args.second)
    real, drawn = out["real"], out["drawn"]
    print(
        f"[realism] {out['detector']}, confidence cut {out['yunet_cut']}: real-person faces in "
        f"stills {real['faces']}, held {real['held']}; under the cut {real['low_confidence_faces']}"
        f", held {real['low_confidence_held']}/{real['low_confidence_faces']} (old rule "
        f'{real["low_confidence_held_old_rule"]}). Drawn "faces" {drawn["faces"]}, held '
        f"{drawn['held']}; under the cut held {drawn['low_confidence_held']}/"
        f"{drawn['low_confidence_faces']} (old rule {drawn['low_confidence_held_old_rule']})"
    )
    for name in ("real", "drawn"):
        r = out[name]
        print(
            f"  {name}: images held {r['images_held']}/{r['images']} (old rule "
            f"{r['images_held_old_rule']}, dlib HOG {r['images_held_dlib_hog']})"
        )
    for name in ("real", "drawn"):
        for e in out[name]["low_confidence"]:
            print(f"  {name}: {json.dumps(e)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
