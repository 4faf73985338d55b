"""``greenroom faces compare|detect|backends``: JSON keys exactly as CLI.md lists, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from greenroom.cli.main import app
from greenroom.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def models_from_test_dir(test_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GREENROOM_MODELS_DIR", str(test_models_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["faces", *args])
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0])


def test_compare_keys_and_verdicts(fixtures_dir: Path) -> None:
    faces = fixtures_dir / "faces" / "face_recognition"
    code, doc = _run("compare", str(faces / "biden.jpg"), str(faces / "biden2.jpg"), "--json")
    assert code == 0, doc
    assert {"same_person", "similarity", "threshold", "model"} <= set(doc)
    assert doc["same_person"] is True and doc["model"] == "dlib-resnet-v1"
    assert isinstance(doc["similarity"], float) and isinstance(doc["threshold"], float)
    code, doc = _run(
        "compare",
        str(faces / "biden.jpg"),
        str(faces / "obama.jpg"),
        "--detector",
        "yunet",
        "--json",
    )
    assert code == 0 and doc["same_person"] is False and doc["detector"] == "yunet-2023mar"


def test_compare_without_a_face_is_bad_input(fixtures_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), (120, 160, 200)).save(blank)
    face = fixtures_dir / "faces" / "face_recognition" / "obama.jpg"
    code, doc = _run("compare", str(face), str(blank), "--json")
    assert code == 2 and "no face found in the second image" in doc["error"]


def test_compare_bad_files_are_bad_input(fixtures_dir: Path, tmp_path: Path) -> None:
    face = fixtures_dir / "faces" / "face_recognition" / "obama.jpg"
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(face.read_bytes()[:2000])
    video = fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4"
    for other, message in (
        (tmp_path / "missing.jpg", "no such file"),
        (truncated, "corrupt or truncated"),
        (video, "not an image"),
    ):
        code, doc = _run("compare", str(face), str(other), "--json")
        assert code == 2 and message in doc["error"], doc
    code, doc = _run("compare", str(face), str(face), "--detector", "mtcnn", "--json")
    assert code == 2 and "unknown face detector" in doc["error"]


def test_detect_image_keys(fixtures_dir: Path) -> None:
    group = fixtures_dir / "faces" / "insightface" / "t1.jpg"
    code, doc = _run("detect", str(group), "--json")
    assert code == 0 and doc["tracks"] == [] and len(doc["faces"]) == 6
    for face in doc["faces"]:
        assert {"box", "score", "landmarks", "age", "t"} <= set(face)
        assert len(face["box"]) == 4 and len(face["landmarks"]) == 5
        assert face["t"] is None
        assert face["age"] is None or 0 < face["age"] < 100  # the estimator's, where it ran
        assert set(face["pose"]) == {"yaw", "pitch", "method"}


def test_detect_video_gives_faces_with_times_and_tracks(fixtures_dir: Path) -> None:
    video = fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4"
    code, doc = _run("detect", str(video), "--detector", "yunet", "--every", "1.0", "--json")
    assert code == 0, doc
    assert len(doc["tracks"]) == 1 and set(doc["tracks"][0]) >= {"id", "start_s", "end_s"}
    assert doc["tracks"][0]["end_s"] - doc["tracks"][0]["start_s"] >= 9.0
    times = [f["t"] for f in doc["faces"]]
    assert times == sorted(times) and len(times) >= 10
    assert all(len(f["landmarks"]) == 5 for f in doc["faces"])
    assert all(f["age"] is None or 0 < f["age"] < 100 for f in doc["faces"])


def test_detect_corrupt_video_is_bad_input(fixtures_dir: Path, tmp_path: Path) -> None:
    data = (fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4").read_bytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(data[:32] + bytes(2048))
    code, doc = _run("detect", str(corrupt), "--json")
    assert code == 2 and doc["error"]
    text = tmp_path / "notes.txt"
    text.write_text("hello, not media at all")
    code, doc = _run("detect", str(text), "--json")
    assert code == 2 and "neither an image nor a video" in doc["error"]


def test_backends_lists_licences() -> None:
    code, doc = _run("backends", "--json")
    assert code == 0
    by_id = {b["model_id"]: b for b in doc["backends"]}
    assert "non-commercial" in by_id["insightface-scrfd-det_500m"]["licence"]
    assert by_id["arcface"]["task"].endswith(":unavailable")
    assert "dlib-resnet-v1" in by_id and "yunet-2023mar" in by_id
