"""Can a second detector confirm YuNet's low-confidence faces? (issue 15: YuNet as the default)

The unknown-real-face check trusts YuNet only at confidence >= 0.85. This
counts YuNet's faces under that in the fixtures' stills (real people in
faces/, drawings in characters/) and how many a second detector also finds
on the face's crop (50 % margin, upscaled so its short side is >= 200 px).
A second detector helps only if it confirms the real ones and not the drawings.

    python -m bench.realism [--second dlib-hog|dlib-mmod]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detectors.faces import build_detector
from detectors.faces.realism import min_score
from greenroom.settings import Settings
from pipeline.media import load_image


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--second", default="dlib-hog", choices=["dlib-hog", "dlib-mmod"])
    args = parser.parse_args()
    fixtures = Path(Settings().fixtures_dir)
    yunet = build_detector("yunet", None, threads=1)
    second = build_detector(args.second, None, threads=1)
    cut = min_score(yunet.info.model_id)
    out: dict[str, Any] = {"second": args.second, "yunet_cut": cut}
    for name, folder in (("real", fixtures / "faces"), ("drawn", fixtures / "characters")):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
        low = confirmed = 0
        for path in files:
            rgb = load_image(path)
            for face in yunet.detect(rgb):
                if face.score >= cut:
                    continue
                low += 1
                confirmed += bool(second.detect(_crop(rgb, face.box)))
        out[name] = {"low_confidence_faces": low, "confirmed": confirmed}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
