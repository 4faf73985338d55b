"""Age estimation: real dlib-models weights on UTKFace adults, bands as data, bad input."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from detectors.age import (
    BAND_PRESETS,
    AgeBands,
    AgeEstimator,
    DlibAgeEstimator,
    bands_for,
    build_age_estimator,
)
from detectors.base import DetectorError, MediaError, ModelUnavailable
from pipeline.media import load_image

# Measured MAE on all 26 fixtures: 8.0 years before issue 15 (whole chip, no flip,
# no calibration), about 7.5 now (tune half 5.8 in-sample, test half 9.1;
# `python -m bench.ages`). The floor leaves a margin for numeric differences
# across machines, not for a worse model.
MAE_FLOOR = 10.0


@pytest.fixture(scope="module")
def estimator() -> AgeEstimator:
    return DlibAgeEstimator(threads=1)


@pytest.fixture(scope="module")
def utk(fixtures_dir: Path) -> list[tuple[int, np.ndarray]]:
    files = sorted((fixtures_dir / "faces" / "utkface_age").glob("*.jpg"))
    assert len(files) >= 20
    return [(int(p.name.split("_")[0]), load_image(p)) for p in files]


def test_mae_on_utkface_below_floor(
    estimator: AgeEstimator, utk: list[tuple[int, np.ndarray]]
) -> None:
    errors = [abs(estimator.estimate(rgb)[0].age - true) for true, rgb in utk]
    assert statistics.mean(errors) < MAE_FLOOR


def test_no_adult_fixture_is_a_likely_minor(
    estimator: AgeEstimator, utk: list[tuple[int, np.ndarray]]
) -> None:
    bands = [estimator.estimate(rgb)[0].band for _, rgb in utk]
    assert "likely_minor" not in bands
    assert bands.count("adult") >= len(bands) - 4


def test_estimate_carries_sigma_and_explanation(
    estimator: AgeEstimator, utk: list[tuple[int, np.ndarray]]
) -> None:
    e = estimator.estimate(utk[0][1])[0]
    assert e.sigma > 0
    assert e.explanation.model_id == "dlib-age-v1"
    assert e.explanation.details["bands"]["name"] == "default"
    assert e.to_signal().kind == "minor.age_estimate"
    assert "CC0" in estimator.info.licence


def test_face_box_matches_whole_crop(
    estimator: AgeEstimator, utk: list[tuple[int, np.ndarray]]
) -> None:
    rgb = utk[5][1]
    h, w = rgb.shape[:2]
    whole = estimator.estimate(rgb)[0]
    boxed = estimator.estimate(rgb, [(0, 0, w - 1, h - 1)])[0]
    assert boxed.age == pytest.approx(whole.age, abs=1e-3)
    assert boxed.box == (0.0, 0.0, float(w - 1), float(h - 1))


def test_detected_faces_from_face_detector(estimator: AgeEstimator, fixtures_dir: Path) -> None:
    from detectors.faces import build_detector

    rgb = load_image(fixtures_dir / "faces" / "deepface" / "couple.jpg")
    faces = build_detector("dlib-hog", None, threads=1).detect(rgb)
    ests = estimator.estimate(rgb, faces)
    assert len(ests) == len(faces) >= 2
    assert all(e.band == "adult" for e in ests)


def test_bands_are_data_and_teen_preset_is_stricter() -> None:
    default, strict = bands_for("default"), bands_for("teen_strict")
    assert default.band(12) == "likely_minor"
    assert default.band(20) == "possible_minor"
    assert default.band(26) == "adult"
    assert strict.band(26) == "possible_minor"
    assert strict.band(31, sigma=14) == "possible_minor"  # 31 - 14 < 18
    for age in range(5, 80):
        order = ["adult", "possible_minor", "likely_minor"]
        assert order.index(strict.band(age, 3)) >= order.index(default.band(age, 3))
    assert all(b.source for b in BAND_PRESETS.values())
    custom = AgeBands.from_mapping({"name": "x", "likely_minor_below": 15, "challenge_age": 21})
    assert custom.band(20) == "possible_minor"
    with pytest.raises(ValueError):
        AgeBands.from_mapping({"name": "bad", "likely_minor_below": 30, "challenge_age": 21})
    with pytest.raises(DetectorError):
        bands_for("nope")


def test_bad_inputs(estimator: AgeEstimator) -> None:
    with pytest.raises(MediaError):
        estimator.estimate(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(MediaError):
        estimator.estimate(np.zeros((64, 64), np.uint8))
    with pytest.raises(MediaError):
        estimator.estimate(np.zeros((64, 64, 3), np.float32))
    rgb = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(DetectorError):
        estimator.estimate(rgb, [(10, 10, 5, 5)])
    with pytest.raises(DetectorError):
        estimator.estimate(rgb, [(500, 500, 600, 600)])
    assert estimator.estimate(rgb, []) == []


def test_insightface_genderage_missing_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="non-commercial"):
        build_age_estimator("insightface", models_dir=tmp_path)
    with pytest.raises(DetectorError):
        build_age_estimator("nope")
