"""Age calibration (issue 15): the stored map and its source, flips, interval bands, explanations.

Real weights and the shared UTKFace crops; calibrations built here by hand are
plain data objects (the same class the stored file loads into), used to show
that the estimator really applies whatever calibration it is given.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.ages import labelled_faces, split_tune_test
from detectors.age import (
    BAND_PRESETS,
    CALIBRATION_PATH,
    AgeCalibration,
    DlibAgeEstimator,
)
from detectors.base import ModelUnavailable
from pipeline.media import load_image

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def calibration() -> AgeCalibration:
    return AgeCalibration.load()


@pytest.fixture(scope="module")
def estimator() -> DlibAgeEstimator:
    return DlibAgeEstimator(threads=1)


@pytest.fixture(scope="module")
def halves(fixtures_dir: Path) -> tuple[list[Path], list[Path]]:
    tune, test = split_tune_test(labelled_faces(fixtures_dir / "faces" / "utkface_age"))
    return [f.path for f in tune], [f.path for f in test]


def _shifted(by: float, fitted_low: float = 20.0) -> AgeCalibration:
    return AgeCalibration(
        version=f"test-shift-{by}",
        model_id="dlib-age-v1",
        method="shift",
        knots_x=(0.0, 100.0),
        knots_y=(by, 100.0 + by),
        fitted_range=(fitted_low, 70.0),
        rel_sigma=0.15,
        min_sigma=2.0,
        flip_ref=3.0,
        flip_max_factor=3.0,
    )


# ---------------------------------------------------------------- the stored calibration


def test_stored_calibration_loads_is_monotone_and_names_its_source(
    calibration: AgeCalibration, halves: tuple[list[Path], list[Path]]
) -> None:
    assert calibration.model_id == "dlib-age-v1"
    assert calibration.version.startswith("dlib-age-v1-cal-")
    grid = [calibration.apply(float(x)) for x in np.linspace(0, 100, 401)]
    assert all(b >= a for a, b in itertools.pairwise(grid))
    src = calibration.source
    assert src["command"] == "python -m bench.ages --fit"
    assert "tune half" in src["split"]
    tune, test = halves
    # Fitted on the tune half only, and on all of it.
    assert set(src["tune_files"]) == {p.name for p in tune}
    assert not set(src["tune_files"]) & {p.name for p in test}
    assert set(src["test_files_never_used_here"]) == {p.name for p in test}
    assert src["fit_report"]["chosen"] == calibration.method
    assert calibration.preprocessing == {
        "box": "dlib_hog",
        "flip": True,
        "chip": 64,
        "padding": 0.2,
    }


def test_split_is_deterministic_disjoint_and_age_balanced(fixtures_dir: Path) -> None:
    faces = labelled_faces(fixtures_dir / "faces" / "utkface_age")
    tune, test = split_tune_test(faces)
    again = split_tune_test(list(reversed(faces)))
    assert [f.name for f in tune] == [f.name for f in again[0]]
    assert not {f.name for f in tune} & {f.name for f in test}
    assert len(tune) + len(test) == len(faces) and abs(len(tune) - len(test)) <= 1
    # Pairs of neighbours in age: each test face has a tune face at most one pair away.
    for t in test:
        assert min(abs(t.age - u.age) for u in tune) <= 4


def test_calibration_rejects_a_falling_map_and_never_ages_up_an_unmeasured_face() -> None:
    with pytest.raises(ValueError, match="monotone"):
        AgeCalibration.from_mapping(_shifted(3.0).to_dict() | {"knots_y": [40.0, 30.0]})
    up = _shifted(5.0, fitted_low=20.0)
    assert up.apply(30.0) == pytest.approx(35.0)
    # Below the fitted range (no labelled face there: the fixtures hold no minors) the
    # calibration may make a face younger, never older.
    assert up.apply(12.0) == pytest.approx(12.0)
    assert _shifted(-5.0).apply(12.0) == pytest.approx(7.0)


def test_wrong_model_calibration_is_refused() -> None:
    other = AgeCalibration.from_mapping(_shifted(1.0).to_dict() | {"model_id": "someone-else"})
    with pytest.raises(ModelUnavailable, match="someone-else"):
        DlibAgeEstimator(calibration=other)


# ---------------------------------------------------------------- applied on real faces


def test_calibration_is_applied_to_the_network_output(
    estimator: DlibAgeEstimator, halves: tuple[list[Path], list[Path]]
) -> None:
    rgb = load_image(halves[1][4])
    base = estimator.estimate(rgb)[0]
    raw = base.explanation.details["raw_age"]
    cal = estimator.calibration
    assert cal is not None
    assert base.age == pytest.approx(cal.apply(raw), abs=0.01)
    # sigma is the calibration's error model (CV residuals, widened by the flip disagreement).
    flip_diff = base.explanation.details["flip_diff"]
    assert base.sigma == pytest.approx(cal.sigma(base.age, flip_diff), rel=0.01)
    assert base.explanation.details["flip_factor"] == pytest.approx(
        cal.flip_factor(flip_diff), abs=0.01
    )
    shifted = DlibAgeEstimator(calibration=_shifted(7.0)).estimate(rgb)[0]
    assert shifted.explanation.details["raw_age"] == pytest.approx(raw, abs=1e-6)
    assert shifted.age == pytest.approx(raw + 7.0, abs=0.01)
    assert shifted.explanation.details["calibration"]["version"] == "test-shift-7.0"


def test_flip_averaging_is_used(halves: tuple[list[Path], list[Path]]) -> None:
    rgb = load_image(halves[1][2])
    no_flip = DlibAgeEstimator(calibration=None, flip=False).estimate(rgb)[0]
    flipped = DlibAgeEstimator(calibration=None, flip=True).estimate(rgb)[0]
    a, b = flipped.explanation.details["flip_ages"]
    assert a == pytest.approx(no_flip.age, abs=0.01)  # first view: the chip as is
    assert b != pytest.approx(a, abs=0.05)  # second view: the mirrored chip, another answer
    assert flipped.age == pytest.approx((a + b) / 2, abs=0.01)
    assert flipped.explanation.details["flip_diff"] == pytest.approx(abs(a - b), abs=0.01)
    # The mirrored view is what the network says on the mirrored photo.
    mirrored = DlibAgeEstimator(calibration=None, flip=False).estimate(rgb[:, ::-1].copy())[0]
    assert mirrored.age == pytest.approx(b, abs=1.5)


def test_landmark_box_is_the_hog_box_the_network_was_trained_on(
    estimator: DlibAgeEstimator, halves: tuple[list[Path], list[Path]]
) -> None:
    rgb = load_image(halves[0][3])
    h, w = rgb.shape[:2]
    whole = estimator.estimate(rgb)[0]
    assert whole.explanation.details["box_source"] == "dlib_hog"
    # A looser box around the same face gives the same HOG box, so the same age.
    loose = estimator.estimate(rgb, [(2.0, 2.0, w - 3.0, h - 3.0)])[0]
    assert loose.explanation.details["box_source"] == "dlib_hog"
    assert loose.age == pytest.approx(whole.age, abs=0.5)
    given = DlibAgeEstimator(refine_box=False).estimate(rgb)[0]
    assert given.explanation.details["box_source"] == "given"


# ---------------------------------------------------------------- uncertainty widens the band


def test_band_widens_with_uncertainty(calibration: AgeCalibration) -> None:
    default, strict = BAND_PRESETS["default"], BAND_PRESETS["teen_strict"]
    assert calibration.flip_factor(0.0) == 1.0
    assert calibration.flip_factor(100.0) == calibration.flip_max_factor
    calm = calibration.sigma(28.0, flip_diff=0.0)
    unsure = calibration.sigma(28.0, flip_diff=3 * calibration.flip_ref)
    assert unsure > calm
    # The same 28-year-old estimate: adult when the two views agree, a possible minor when
    # they disagree enough that the interval reaches under 18.
    assert default.band(28.0, calm) == "adult"
    assert 28.0 - default.sigma_k * unsure < 18.0
    assert default.band(28.0, unsure) == "possible_minor"
    order = ["adult", "possible_minor", "likely_minor"]
    for age in np.arange(10.0, 80.0, 0.5):
        for diff in (0.0, 2.0, 5.0, 10.0):
            s_lo, s_hi = calibration.sigma(age, diff), calibration.sigma(age, diff + 3.0)
            assert s_hi >= s_lo
            # More uncertainty never makes a band less strict; teen_strict never less than default.
            assert order.index(default.band(age, s_hi)) >= order.index(default.band(age, s_lo))
            assert order.index(strict.band(age, s_lo)) >= order.index(default.band(age, s_lo))


def test_interval_is_the_one_the_band_used(estimator: DlibAgeEstimator, fixtures_dir: Path) -> None:
    faces = labelled_faces(fixtures_dir / "faces" / "utkface_age")
    k = estimator.bands.sigma_k
    for f in faces[:6]:
        e = estimator.estimate(load_image(f.path))[0]
        assert e.low is not None and e.high is not None
        assert e.low == pytest.approx(e.age - k * e.sigma)
        assert e.high == pytest.approx(e.age + k * e.sigma)
        assert e.to_dict()["interval"] == [round(e.low, 2), round(e.high, 2)]
        if e.band == "adult":
            assert e.low >= 18.0 and e.age >= estimator.bands.challenge_age
        assert e.explanation.details["band_reason"]


# ---------------------------------------------------------------- explanations


def test_real_face_explanation_names_model_values_and_calibration_version(
    estimator: DlibAgeEstimator, calibration: AgeCalibration, fixtures_dir: Path
) -> None:
    from detectors.faces import build_detector
    from pipeline.safety import image_face_ages

    rgb = load_image(fixtures_dir / "faces" / "face_recognition" / "biden.jpg")
    e = estimator.estimate(rgb, build_detector("dlib-hog", None, threads=1).detect(rgb))[0]
    d = e.explanation.details
    assert e.explanation.model_id == "dlib-age-v1"
    assert d["calibration"]["version"] == calibration.version
    assert d["calibration"]["command"] == "python -m bench.ages --fit"
    assert len(d["flip_ages"]) == 2 and d["raw_age"] > 0 and d["model_spread"] > 0
    assert d["interval"] == [round(e.low, 2), round(e.high, 2)]  # type: ignore[arg-type]
    assert "calibration" in e.explanation.method and "mirrored" in e.explanation.method
    signal = e.to_signal()
    assert signal.data["interval"] == d["interval"] and signal.data["band"] == e.band
    # The gate's per-face record carries the same: interval, model values, calibration version.
    faces = image_face_ages(
        rgb, build_detector("dlib-hog", None, threads=1), estimator, BAND_PRESETS["teen_strict"]
    )
    assert len(faces) == 1
    face = faces[0]
    k = BAND_PRESETS["teen_strict"].sigma_k
    assert face["interval"][0] == pytest.approx(face["age"] - k * face["sigma"], abs=0.02)
    assert face["model_values"]["calibration"]["version"] == calibration.version
    json.dumps(face)  # stored as JSON with the signal


# ---------------------------------------------------------------- the file is what the command makes


@pytest.mark.slow
def test_stored_calibration_is_what_the_fit_command_makes(tmp_path: Path) -> None:
    out = tmp_path / "age_calibration.json"
    subprocess.run(
        [sys.executable, "-m", "bench.ages", "--fit", "--out", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert json.loads(out.read_text()) == json.loads(CALIBRATION_PATH.read_text())
