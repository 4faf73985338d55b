"""Age calibration: the tune/test split of the shared age-labelled faces, the fit, the figures.

Run ``.venv/bin/python -m bench.ages --fit`` to refit
``detectors/data/age_calibration.json`` (deterministic: same fixtures, same
file) and ``.venv/bin/python -m bench.ages`` to print the held-apart figures
(the same ones ``python -m bench.safety --only age`` reports).

* **Split** (:func:`split_tune_test`): the labelled faces of
  ``fixtures/faces/utkface_age`` sorted by (age, file name) are taken in
  consecutive pairs; in each pair the file whose name has the smaller SHA-256
  goes to *tune*, the other to *test* (an odd last file goes to tune). Both
  halves span the same ages; the rule needs no random seed.
* **Fit** (tune half only): the network runs as :class:`DlibAgeEstimator` does
  without calibration (HOG box, mirrored chip averaged). Candidate maps --
  identity, a constant shift, a least-squares line, isotonic regression -- are
  scored by 5-fold cross-validation on the tune half (folds by age rank); the
  simplest whose cross-validated MAE is within one standard error of the
  lowest (the one-standard-error rule) is refitted on the whole tune half.
  Its cross-validated residuals give the error model: ``rel_sigma`` (RMS of
  residual / calibrated age), ``flip_ref`` (75th percentile of the tune flip
  disagreements; a face that disagrees more gets a proportionally wider
  interval, at most 3x).
* **Figures** (:func:`evaluate`): on the *test* half, never seen by the fit,
  old (whole chip as the box, no flip, no calibration, the pre-issue-15 bands)
  beside new (the default estimator and bands): MAE overall and per decade,
  mean signed error, share of adults banded ``possible_minor`` /
  ``likely_minor`` per band preset, interval coverage; and the same through
  the face detectors (crops where the detector finds no face get no age at
  all: "faces not found").

The fixtures hold adults only (20-70): how the bands do on real minors is not
measured by any of this.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import detectors  # noqa: F401  (installs the torch import hook before any model import)
from detectors.age import (
    BAND_PRESETS,
    CALIBRATION_PATH,
    AgeBands,
    AgeCalibration,
    AgeEstimator,
    DlibAgeEstimator,
)
from pipeline.media import load_image

REPO = Path(__file__).resolve().parent.parent
FIXTURES = (REPO / ".." / "shared" / "fixtures").resolve()
AGE_DIR = FIXTURES / "faces" / "utkface_age"
FIT_COMMAND = "python -m bench.ages --fit"
CV_FOLDS = 5
MIN_SIGMA = 2.0  # floor on sigma (years): no interval narrower than +-3.3 years at k=1.645
FLIP_REF_PERCENTILE = 75.0
FLIP_MAX_FACTOR = 3.0
INTERVAL_Z = 1.645  # the default preset's sigma_k; coverage is reported at this width

# The bands the gate used before issue 15 (sigma was the network's own class spread).
OLD_BANDS: dict[str, AgeBands] = {
    "default": AgeBands(name="default-v1", likely_minor_below=16.0, challenge_age=25.0),
    "teen_strict": AgeBands(
        name="teen_strict-v1", likely_minor_below=18.0, challenge_age=30.0, sigma_k=1.0
    ),
}

SPLIT_RULE = (
    "fixtures/faces/utkface_age sorted by (age, file name), taken in consecutive pairs; "
    "in each pair the file whose name has the smaller sha256 hex digest is tune, the other "
    "test (bench/ages.py split_tune_test)"
)


@dataclass(frozen=True)
class LabelledFace:
    path: Path
    age: int

    @property
    def name(self) -> str:
        return self.path.name


def labelled_faces(directory: Path = AGE_DIR) -> list[LabelledFace]:
    """The age-labelled crops (age = first number of the UTKFace file name), by (age, name)."""
    faces = [LabelledFace(p, int(p.name.split("_")[0])) for p in directory.glob("*.jpg")]
    return sorted(faces, key=lambda f: (f.age, f.name))


def split_tune_test(
    faces: Sequence[LabelledFace],
) -> tuple[list[LabelledFace], list[LabelledFace]]:
    """Deterministic, age-balanced halves (see :data:`SPLIT_RULE`)."""
    ordered = sorted(faces, key=lambda f: (f.age, f.name))
    tune: list[LabelledFace] = []
    test: list[LabelledFace] = []
    for i in range(0, len(ordered), 2):
        pair = sorted(ordered[i : i + 2], key=lambda f: hashlib.sha256(f.name.encode()).hexdigest())
        tune.append(pair[0])
        test.extend(pair[1:])
    return tune, test


# ---------------------------------------------------------------- calibration maps

Fit = Callable[[np.ndarray, np.ndarray], tuple[list[float], list[float]]]


def _pav(y: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing sequence closest to ``y`` (least squares)."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in y:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    return np.concatenate([np.full(int(c), m) for m, c in blocks])


def fit_identity(raw: np.ndarray, true: np.ndarray) -> tuple[list[float], list[float]]:
    return [0.0, 100.0], [0.0, 100.0]


def fit_shift(raw: np.ndarray, true: np.ndarray) -> tuple[list[float], list[float]]:
    b = float(np.mean(true - raw))
    return [0.0, 100.0], [b, 100.0 + b]


def fit_linear(raw: np.ndarray, true: np.ndarray) -> tuple[list[float], list[float]]:
    slope, intercept = np.polyfit(raw, true, 1)
    slope = max(float(slope), 0.0)  # monotone: never a falling line
    intercept = float(np.mean(true) - slope * np.mean(raw)) if slope == 0.0 else float(intercept)
    return [0.0, 100.0], [intercept, intercept + 100.0 * slope]


def fit_isotonic(raw: np.ndarray, true: np.ndarray) -> tuple[list[float], list[float]]:
    order = np.argsort(raw, kind="stable")
    xs, ys = raw[order], _pav(true[order])
    kx: list[float] = []
    ky: list[float] = []
    for x, y in zip(xs, ys, strict=True):
        if kx and x <= kx[-1]:
            ky[-1] = max(ky[-1], float(y))
            continue
        kx.append(float(x))
        ky.append(float(y))
    if len(kx) < 2:
        return fit_shift(raw, true)
    return kx, ky


FITS: dict[str, Fit] = {
    "identity": fit_identity,
    "shift": fit_shift,
    "linear": fit_linear,
    "isotonic": fit_isotonic,
}


def _calibration(
    method: str,
    knots: tuple[list[float], list[float]],
    fitted_range: tuple[float, float],
    rel_sigma: float = 0.1,
    flip_ref: float = 1.0,
    source: dict[str, Any] | None = None,
    version: str = "cv",
) -> AgeCalibration:
    return AgeCalibration(
        version=version,
        model_id="dlib-age-v1",
        method=method,
        knots_x=tuple(round(v, 4) for v in knots[0]),
        knots_y=tuple(round(v, 4) for v in knots[1]),
        fitted_range=(round(fitted_range[0], 4), round(fitted_range[1], 4)),
        rel_sigma=round(rel_sigma, 4),
        min_sigma=MIN_SIGMA,
        flip_ref=round(max(flip_ref, 0.1), 4),
        flip_max_factor=FLIP_MAX_FACTOR,
        preprocessing={"box": "dlib_hog", "flip": True, "chip": 64, "padding": 0.2},
        source=source or {},
    )


def cv_predictions(raw: np.ndarray, true: np.ndarray, method: str, folds: int) -> np.ndarray:
    """Out-of-fold calibrated ages; folds by age rank (face i of the age order is in fold i % k)."""
    order = np.argsort(true, kind="stable")
    fold_of = np.empty(len(true), dtype=int)
    fold_of[order] = np.arange(len(true)) % folds
    out = np.empty(len(true), dtype=np.float64)
    for k in range(folds):
        train, held = fold_of != k, fold_of == k
        knots = FITS[method](raw[train], true[train])
        cal = _calibration(method, knots, (float(raw[train].min()), float(raw[train].max())))
        out[held] = [cal.apply(float(r)) for r in raw[held]]
    return out


def network_outputs(
    faces: Sequence[LabelledFace], refine_box: bool = True, flip: bool = True, threads: int = 1
) -> list[dict[str, float]]:
    """The uncalibrated network on each whole crop: raw (flip-averaged) age and flip disagreement."""
    est = DlibAgeEstimator(calibration=None, flip=flip, refine_box=refine_box, threads=threads)
    rows = []
    for f in faces:
        e = est.estimate(load_image(f.path))[0]
        rows.append(
            {
                "true": float(f.age),
                "raw": float(e.explanation.details["raw_age"]),
                "flip_diff": float(e.explanation.details.get("flip_diff", 0.0)),
            }
        )
    return rows


def fit_calibration(threads: int = 1) -> tuple[AgeCalibration, dict[str, Any]]:
    """Fit on the tune half; returns the calibration and the report of how it was chosen."""
    tune, test = split_tune_test(labelled_faces())
    preprocessing_mae = {}
    for refine in (False, True):
        for flip in (False, True):
            rows = network_outputs(tune, refine_box=refine, flip=flip, threads=threads)
            key = f"{'hog_box' if refine else 'whole_chip'}{'+flip' if flip else ''}"
            preprocessing_mae[key] = round(
                statistics.mean(abs(r["raw"] - r["true"]) for r in rows), 3
            )
    rows = network_outputs(tune, threads=threads)
    raw = np.array([r["raw"] for r in rows])
    true = np.array([r["true"] for r in rows])
    flips = np.array([r["flip_diff"] for r in rows])
    cv_mae = {}
    cv_pred = {}
    for method in FITS:
        pred = cv_predictions(raw, true, method, CV_FOLDS)
        cv_pred[method] = pred
        cv_mae[method] = round(float(np.mean(np.abs(pred - true))), 3)
    # One-standard-error rule: the simplest map (FITS is ordered simplest first) whose
    # cross-validated MAE is within one standard error of the best one's. With a dozen
    # tune faces a more flexible map must win clearly, not by noise.
    best = min(FITS, key=lambda m: cv_mae[m])
    best_abs = np.abs(cv_pred[best] - true)
    one_se = float(np.std(best_abs, ddof=1) / np.sqrt(len(true)))
    method = next(m for m in FITS if cv_mae[m] <= cv_mae[best] + one_se)
    resid = true - cv_pred[method]
    rel_sigma = float(np.sqrt(np.mean((resid / np.maximum(cv_pred[method], 1.0)) ** 2)))
    flip_ref = float(np.percentile(flips, FLIP_REF_PERCENTILE))
    knots = FITS[method](raw, true)
    source = {
        "fixtures": "shared/fixtures/faces/utkface_age (UTKFace crops, labels from file names)",
        "split": "tune half: " + SPLIT_RULE,
        "tune_files": {f.name: hashlib.sha256(f.path.read_bytes()).hexdigest()[:16] for f in tune},
        "test_files_never_used_here": [f.name for f in test],
        "command": FIT_COMMAND,
        "cv": (
            f"{CV_FOLDS}-fold on the tune half, folds by age rank; the simplest method "
            "(identity, shift, linear, isotonic) within one standard error of the lowest "
            "cross-validated MAE, refitted on the whole tune half; rel_sigma = RMS of "
            "cross-validated residual / calibrated age; flip_ref = "
            f"{FLIP_REF_PERCENTILE:g}th percentile of tune flip disagreements; min_sigma and "
            "flip_max_factor fixed in bench/ages.py"
        ),
    }
    draft = _calibration(
        method, knots, (float(raw.min()), float(raw.max())), rel_sigma, flip_ref, source
    )
    digest = hashlib.sha256(
        json.dumps(
            {k: v for k, v in draft.to_dict().items() if k != "version"}, sort_keys=True
        ).encode()
    ).hexdigest()[:8]
    cal = AgeCalibration.from_mapping(
        draft.to_dict() | {"version": f"dlib-age-v1-cal-{method}-{digest}"}
    )
    sigmas = np.array(
        [cal.sigma(float(p), float(d)) for p, d in zip(cv_pred[method], flips, strict=True)]
    )
    report = {
        "tune_faces": len(tune),
        "tune_mae_by_preprocessing_uncalibrated": preprocessing_mae,
        "cv_mae_by_method": cv_mae,
        "lowest_cv_mae": best,
        "one_standard_error": round(one_se, 3),
        "chosen": method,
        "cv_residual_mean": round(float(np.mean(resid)), 3),
        "rel_sigma": round(rel_sigma, 4),
        "flip_ref": round(flip_ref, 3),
        f"cv_coverage_at_{INTERVAL_Z}_sigma": round(
            float(np.mean(np.abs(resid) <= INTERVAL_Z * sigmas)), 3
        ),
    }
    return cal, report


def write_calibration(cal: AgeCalibration, report: dict[str, Any], path: Path) -> None:
    data = cal.to_dict()
    data["source"] = dict(data["source"]) | {"fit_report": report}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- figures


def _decade(age: float) -> str:
    d = int(age) // 10 * 10
    return f"{d}-{d + 9}"


def _summary(
    rows: list[tuple[int, float | None, float, str | None, float | None, float | None]],
    bands: dict[str, AgeBands],
    k_for_coverage: bool,
    per_face: bool = False,
) -> dict[str, Any]:
    """rows: (true, age or None when no face, sigma, band under default, low, high)."""
    found = [r for r in rows if r[1] is not None]
    errors = [float(r[1]) - r[0] for r in found if r[1] is not None]
    per_decade: dict[str, dict[str, Any]] = {}
    for dec in sorted({_decade(r[0]) for r in rows}):
        errs = [abs(e) for r, e in zip(found, errors, strict=True) if _decade(r[0]) == dec]
        per_decade[dec] = {
            "n": len(errs),
            "mae": round(statistics.mean(errs), 2) if errs else None,
        }
    adults = [r for r in found if r[0] >= 18]
    band_share: dict[str, Any] = {}
    for name, b in bands.items():
        labels = [b.band(float(r[1]), r[2]) for r in adults if r[1] is not None]
        band_share[name] = {
            "adults": len(labels),
            "possible_minor": labels.count("possible_minor"),
            "likely_minor": labels.count("likely_minor"),
            "share_possible_minor": round(labels.count("possible_minor") / len(labels), 3)
            if labels
            else None,
            "share_banded_minor_any": round(
                (labels.count("possible_minor") + labels.count("likely_minor")) / len(labels), 3
            )
            if labels
            else None,
        }
    out: dict[str, Any] = {
        "n": len(rows),
        "faces_not_found": len(rows) - len(found),
        "mae": round(statistics.mean(abs(e) for e in errors), 2) if errors else None,
        "median_abs_error": round(statistics.median(abs(e) for e in errors), 2) if errors else None,
        "mean_signed_error": round(statistics.mean(errors), 2) if errors else None,
        "mae_per_decade": per_decade,
        "bands": band_share,
    }
    if per_face:
        out["faces"] = [
            {
                "true": r[0],
                "age": None if r[1] is None else round(float(r[1]), 1),
                "sigma": round(r[2], 2),
                "band": r[3],
                "interval": None
                if r[4] is None or r[5] is None
                else [round(r[4], 1), round(r[5], 1)],
            }
            for r in rows
        ]
    if k_for_coverage:
        inside = [
            r for r in found if r[4] is not None and r[5] is not None and r[4] <= r[0] <= r[5]
        ]
        out["interval_coverage"] = round(len(inside) / len(found), 3) if found else None
        out["mean_interval_width"] = (
            round(
                statistics.mean(
                    float(r[5]) - float(r[4])
                    for r in found
                    if r[4] is not None and r[5] is not None
                ),
                2,
            )
            if found
            else None
        )
    return out


def _rows_chip(
    est: AgeEstimator, faces: Sequence[LabelledFace]
) -> list[tuple[int, float | None, float, str | None, float | None, float | None]]:
    rows: list[tuple[int, float | None, float, str | None, float | None, float | None]] = []
    for f in faces:
        e = est.estimate(load_image(f.path))[0]
        rows.append((f.age, e.age, e.sigma, e.band, e.low, e.high))
    return rows


def _rows_detector(
    est: AgeEstimator, detector: Any, faces: Sequence[LabelledFace]
) -> list[tuple[int, float | None, float, str | None, float | None, float | None]]:
    rows: list[tuple[int, float | None, float, str | None, float | None, float | None]] = []
    for f in faces:
        rgb = load_image(f.path)
        found = detector.detect(rgb)
        if not found:
            rows.append((f.age, None, 0.0, None, None, None))
            continue
        best = max(found, key=lambda d: float(getattr(d, "score", 0.0)))
        e = est.estimate(rgb, [best])[0]
        rows.append((f.age, e.age, e.sigma, e.band, e.low, e.high))
    return rows


def evaluate(
    threads: int = 1, detectors_to_try: Sequence[str] = ("dlib-hog", "yunet")
) -> dict[str, Any]:
    """Old beside new on the test half (headline) and the tune half (in-sample, for contrast)."""
    tune, test = split_tune_test(labelled_faces())
    old = DlibAgeEstimator(
        bands=OLD_BANDS["default"], calibration=None, flip=False, refine_box=False, threads=threads
    )
    new = DlibAgeEstimator(threads=threads)
    cal = new.calibration
    assert cal is not None
    new_bands = {n: BAND_PRESETS[n] for n in ("default", "teen_strict")}
    out: dict[str, Any] = {
        "model": new.info.model_id,
        "split": SPLIT_RULE,
        "test_files": [f.name for f in test],
        "tune_files": [f.name for f in tune],
        "calibration": cal.summary() | {"rel_sigma": cal.rel_sigma, "flip_ref": cal.flip_ref},
        "old": "whole crop as the landmark box, no flip, no calibration; sigma = class spread; "
        "bands default-v1 (no interval) and teen_strict-v1 (estimate - 1 class-spread sigma)",
        "new": f"{new.method}; bands {', '.join(f'{n} (k={b.sigma_k})' for n, b in new_bands.items())}",
        "note": (
            "fixtures hold adults only (20-70): minor-side recall of the bands is NOT measured; "
            "figures on the test half were not used to choose the preprocessing, the calibration "
            "or its error model"
        ),
    }
    warm = load_image(tune[0].path)
    old.estimate(warm)
    new.estimate(warm)
    for half, faces in (("test", test), ("tune_in_sample", tune)):
        timing = {}
        rows = {}
        for key, est in (("old", old), ("new", new)):
            t0 = time.perf_counter()
            rows[key] = _rows_chip(est, faces)
            timing[key] = round(1000 * (time.perf_counter() - t0) / len(faces), 1)
        out[half] = {
            "chip": {
                "old": _summary(rows["old"], OLD_BANDS, False, per_face=half == "test"),
                "new": _summary(rows["new"], new_bands, True, per_face=half == "test"),
                "ms_per_face_incl_jpeg_decode": timing,
            }
        }
    from detectors.faces import build_detector

    for name in detectors_to_try:
        try:
            det = build_detector(name, None, threads=threads, fallback=False)
        except Exception as exc:  # a detector that cannot load is reported, not fatal
            out["test"][f"detector:{name}"] = {"error": str(exc)}
            continue
        out["test"][f"detector:{name}"] = {
            "detector": det.info.model_id,
            "old": _summary(_rows_detector(old, det, test), OLD_BANDS, False),
            "new": _summary(_rows_detector(new, det, test), new_bands, True),
        }
    return out


def format_figures(r: dict[str, Any]) -> str:
    """A few lines a reader can check: old beside new, test half."""
    lines = [
        f"age (test half, {len(r['test_files'])} adult crops; calibration {r['calibration']['version']}):"
    ]
    for key, v in r["test"].items():
        if "error" in v:
            lines.append(f"  {key}: {v['error']}")
            continue
        o, n = v["old"], v["new"]
        lines.append(
            f"  {key}: MAE old {o['mae']} -> new {n['mae']}; not found {o['faces_not_found']} -> "
            f"{n['faces_not_found']}; adults possible_minor (default) "
            f"{o['bands']['default']['possible_minor']}/{o['bands']['default']['adults']} -> "
            f"{n['bands']['default']['possible_minor']}/{n['bands']['default']['adults']}, "
            f"(teen_strict) {o['bands']['teen_strict']['possible_minor']} -> "
            f"{n['bands']['teen_strict']['possible_minor']}; interval coverage "
            f"{n.get('interval_coverage')}"
            + (
                f"; ms/face {v['ms_per_face_incl_jpeg_decode']['old']} -> "
                f"{v['ms_per_face_incl_jpeg_decode']['new']}"
                if "ms_per_face_incl_jpeg_decode" in v
                else ""
            )
        )
        dec = ", ".join(
            f"{d} {o['mae_per_decade'][d]['mae']}->{n['mae_per_decade'][d]['mae']} (n={n['mae_per_decade'][d]['n']})"
            for d in n["mae_per_decade"]
        )
        lines.append(f"    MAE per decade: {dec}")
    lines.append(f"  {r['note']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="refit detectors/data/age_calibration.json")
    ap.add_argument("--out", type=Path, default=CALIBRATION_PATH)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.fit:
        cal, report = fit_calibration(args.threads)
        write_calibration(cal, report, args.out)
        print(json.dumps({"version": cal.version, "written": str(args.out)} | report, indent=2))
        return
    r = evaluate(args.threads)
    print(json.dumps(r, indent=2))
    print(format_figures(r))


if __name__ == "__main__":
    main()
