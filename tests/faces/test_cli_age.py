"""`faces detect` reports each face's estimated age and risk band (real dlib-models age network)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _detect(media: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "greenroom", "faces", "detect", str(media), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-1000:]
    return json.loads(result.stdout)


def test_image_faces_carry_age_and_band(fixtures_dir: Path) -> None:
    photos = sorted((fixtures_dir / "faces" / "deepface").glob("*.jpg"))
    doc = _detect(photos[0])
    assert doc["faces"], "fixture photo should have a face"
    for face in doc["faces"]:
        assert isinstance(face["age"], float) and 1 < face["age"] < 100
        assert face["age_band"] in ("likely_minor", "possible_minor", "adult")


def test_video_samples_carry_ages_in_their_track(fixtures_dir: Path) -> None:
    doc = _detect(fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4")
    assert len(doc["tracks"]) == 1
    ages = [f["age"] for f in doc["faces"]]
    assert ages and all(isinstance(a, float) for a in ages)
    # One adult woman: per-sample estimates scatter, but stay in an adult range.
    assert 18 < sorted(ages)[len(ages) // 2] < 60
