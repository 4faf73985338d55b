"""The gate's minor-safety source: ages per face track, nudity on keyframes, prompt categories.

:class:`SafetySource` turns one scan into
``minor.age_estimate`` (per face track in a video, per face in an image),
``nudity.score`` (per analysed keyframe) and ``prompt.category`` signals, and
into the ``minor``, ``nudity`` and ``prompt`` parts of the policy view
(``policies.schema``: MinorSignal, NuditySignal, PromptSignal).

Teen audiences (a teen creator) get the stricter ``teen_strict`` age bands of
``detectors.age`` (challenge age 30, estimate minus one sigma under 18); the
policy engine separately applies the teen side of its thresholds. Age and
nudity run on a bounded, evenly spread subset of keyframes: a clip's faces
and content do not change every half second, and the gate must stay fast on
a 2-core machine.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from detectors.age import BAND_ADULT, AgeBands, AgeEstimate, AgeEstimator, bands_for
from detectors.base import Explanation, Signal
from detectors.faces.tracking import track_faces
from detectors.faces.types import FaceDetector
from pipeline.media import Frame
from pipeline.sources import ScanInput
from policies.schema import NO_FACE_AGE, NUDENET_CLASSES, PROMPT_CATEGORIES

if TYPE_CHECKING:
    from pipeline.models import Models

MAX_FACE_FRAMES = 24
MAX_NUDITY_FRAMES = 8
AGE_SAMPLES_PER_TRACK = 5
TRACK_GAP_S = 1.5
# Worst first: the view's worst_band is the first of these any face has.
BAND_ORDER = ("likely_minor", "possible_minor", "adult")


def spread(frames: Sequence[Frame], limit: int) -> list[Frame]:
    """At most ``limit`` frames, evenly spread over the clip, first and last included."""
    if len(frames) <= limit:
        return list(frames)
    if limit <= 1:
        return [frames[0]]
    step = (len(frames) - 1) / (limit - 1)
    return [frames[round(i * step)] for i in range(limit)]


def image_face_ages(
    rgb: Any, detector: FaceDetector, estimator: AgeEstimator, bands: AgeBands
) -> list[dict[str, Any]]:
    """Every face of a still image with its age, spread and band."""
    faces = detector.detect(rgb)
    out = []
    for face, est in zip(faces, estimator.estimate(rgb, faces), strict=True):
        out.append(
            {
                "age": round(est.age, 2),
                "sigma": round(est.sigma, 2),
                "band": bands.band(est.age, est.sigma),
                "interval": _interval(bands, est.age, est.sigma),
                "box": [round(float(v), 1) for v in face.box],
                "face_score": round(float(face.score), 4),
                "t": 0.0,
                "track": None,
                "samples": 1,
                "model_values": _model_values([est]),
            }
        )
    return out


def _interval(bands: AgeBands, age: float, sigma: float) -> list[float]:
    """The interval the band is judged on: ``age -+ sigma_k * sigma`` (detectors.age)."""
    return [round(age - bands.sigma_k * sigma, 2), round(age + bands.sigma_k * sigma, 2)]


def _model_values(ests: Sequence[AgeEstimate]) -> dict[str, Any]:
    """What the age model itself said per sample: raw age, flips, calibration version."""
    details = [e.explanation.details for e in ests]
    calibration = next((d["calibration"] for d in details if d.get("calibration")), None)
    return {
        "raw_ages": [d.get("raw_age") for d in details],
        "flip_ages": [d.get("flip_ages") for d in details],
        "box_source": [d.get("box_source") for d in details],
        "calibration": calibration,
    }


def video_face_ages(
    frames: Sequence[Frame],
    detector: FaceDetector,
    estimator: AgeEstimator,
    bands: AgeBands,
    max_frames: int = MAX_FACE_FRAMES,
) -> list[dict[str, Any]]:
    """One age per face track: the median of up to five samples, band from median and spread."""
    chosen = spread(frames, max_frames)
    if not chosen:
        return []
    # Subsampling widens the gaps between frames; a track must survive them.
    gap = TRACK_GAP_S
    if len(chosen) > 1:
        gap = max(gap, 2.0 * (chosen[-1].t - chosen[0].t) / (len(chosen) - 1))
    by_t = {f.t: f.rgb for f in chosen}
    out = []
    for track in track_faces(chosen, detector, embedder=None, max_gap_s=gap):
        samples = track.samples
        step = max(1, len(samples) // AGE_SAMPLES_PER_TRACK)
        picked = samples[::step][:AGE_SAMPLES_PER_TRACK]
        ests = [(s.t, s.face, estimator.estimate(by_t[s.t], [s.face])[0]) for s in picked]
        ages = [e.age for _, _, e in ests]
        age = statistics.median(ages)
        # The samples' disagreement adds to the model's own spread; take the larger.
        sigma = max(statistics.median(e.sigma for _, _, e in ests), statistics.pstdev(ages))
        youngest_t, youngest_face, youngest = min(ests, key=lambda x: x[2].age)
        out.append(
            {
                "age": round(age, 2),
                "sigma": round(sigma, 2),
                "band": bands.band(age, sigma),
                "interval": _interval(bands, age, sigma),
                "box": [round(float(v), 1) for v in youngest_face.box],
                "t": round(youngest_t, 3),
                "track": track.id,
                "start_s": round(track.start_s, 3),
                "end_s": round(track.end_s, 3),
                "youngest_sample_age": round(youngest.age, 2),
                "samples": len(ests),
                "model_values": _model_values([e for _, _, e in ests]),
            }
        )
    return out


class SafetySource:
    """Ages, nudity and prompt categories for the gate."""

    name = "safety"

    def __init__(
        self,
        models: Models,
        max_face_frames: int = MAX_FACE_FRAMES,
        max_nudity_frames: int = MAX_NUDITY_FRAMES,
    ) -> None:
        self.models = models
        self.max_face_frames = max_face_frames
        self.max_nudity_frames = max_nudity_frames
        # Sampling every frame (keyframe_every_s = 0) is the baseline that shows what
        # sampling loses: capping the frames looked at again would defeat it.
        if models.config.media.keyframe_every_s == 0:
            self.max_face_frames = self.max_nudity_frames = models.config.media.max_keyframes

    def bands(self, audience: str) -> AgeBands:
        """The age bands for an audience: teen_strict for teens, the estimator's own otherwise."""
        if audience == "teen":
            return bands_for("teen_strict")
        return self.models.age_estimator.bands

    # -- signals --------------------------------------------------------------------------

    def age_signals(self, scan: ScanInput) -> list[Signal]:
        if not scan.frames:
            return []
        estimator = self.models.age_estimator
        bands = self.bands(scan.audience)
        if scan.media_kind == "video":
            faces = video_face_ages(
                scan.frames,
                # The likeness source runs the same detector on the same frames: once per scan.
                scan.memo.detector(self.models.video_face_detector),
                estimator,
                bands,
                self.max_face_frames,
            )
            method = f"median of per-sample ages over a face track; each: {estimator.method}"
        else:
            faces = image_face_ages(scan.frames[0].rgb, self.models.face_detector, estimator, bands)
            method = estimator.method
        return [
            Signal(
                kind="minor.age_estimate",
                model_id=estimator.info.model_id,
                data={**face, "bands": bands.name},
                explanation=Explanation(
                    model_id=estimator.info.model_id,
                    method=method,
                    score=float(face["age"]),
                    threshold=bands.challenge_age,
                    details={
                        "sigma": face["sigma"],
                        "band": face["band"],
                        "interval": face["interval"],
                        "interval_k": bands.sigma_k,
                        "calibration": face["model_values"]["calibration"],
                        "model_values": face["model_values"],
                        "bands": bands.to_dict(),
                        "audience": scan.audience,
                        "licence": estimator.info.licence,
                    },
                ),
            )
            for face in faces
        ]

    def nudity_signals(self, scan: ScanInput) -> list[Signal]:
        if not scan.frames:
            return []
        detector = self.models.nudity_detector
        out = []
        for frame in spread(scan.frames, self.max_nudity_frames):
            result = detector.detect(frame.rgb, t=frame.t)
            signal = result.to_signal()
            # Per-class scores (the view's nudity.classes) travel with the signal.
            classes: dict[str, float] = {}
            for d in result.detections:
                classes[d.label] = max(classes.get(d.label, 0.0), round(d.score, 4))
            signal.data["classes"] = classes
            out.append(signal)
        return out

    def prompt_signals(self, scan: ScanInput) -> list[Signal]:
        if not scan.prompt:
            return []
        out = []
        found = self.models.prompt_safety.check(scan.prompt)
        # A check cut short by its work budget must not pass quietly: the source fails,
        # and the decision path forces review.
        found.raise_if_exhausted("prompt safety check")
        for finding in found:
            signal = finding.to_signal()
            signal.data["evidence"] = finding.evidence
            signal.data["threshold"] = finding.threshold
            out.append(signal)
        return out

    def signals(self, scan: ScanInput) -> list[Signal]:
        return self.prompt_signals(scan) + self.age_signals(scan) + self.nudity_signals(scan)

    # -- the view ---------------------------------------------------------------------------

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        part: dict[str, Any] = {}
        if scan.frames:
            faces = [
                {"age": float(s.data["age"]), "band": s.data["band"]}
                for s in signals
                if s.kind == "minor.age_estimate"
            ]
            worst = "none"
            if faces:
                present = {f["band"] for f in faces}
                worst = next((b for b in BAND_ORDER if b in present), BAND_ADULT)
            part["minor"] = {
                "faces": faces,
                "min_age": min((f["age"] for f in faces), default=NO_FACE_AGE),
                "worst_band": worst,
            }
            classes = dict.fromkeys(NUDENET_CLASSES, 0.0)
            max_score = 0.0
            for s in signals:
                if s.kind != "nudity.score":
                    continue
                max_score = max(max_score, float(s.data["score"]))
                for name, score in s.data.get("classes", {}).items():
                    classes[name] = max(classes.get(name, 0.0), float(score))
            part["nudity"] = {"max_score": max_score, "classes": classes}
        if scan.prompt:
            categories = dict.fromkeys(PROMPT_CATEGORIES, 0.0)
            findings = []
            for s in signals:
                if s.kind != "prompt.category":
                    continue
                name = str(s.data["category"])
                categories[name] = max(categories.get(name, 0.0), float(s.data["score"]))
                findings.append(
                    {
                        "name": name,
                        "score": float(s.data["score"]),
                        "evidence": _evidence_text(s.data.get("evidence")),
                    }
                )
            part["prompt"] = {"categories": categories, "findings": findings}
        return part


def _evidence_text(evidence: Any) -> str:
    """The view's one-line evidence (the schema's ``findings[].evidence`` is a string)."""
    if not isinstance(evidence, dict):
        return str(evidence or "")
    pieces = []
    for hit in evidence.get("lexicon") or []:
        term = (hit.get("term") or hit.get("match")) if isinstance(hit, dict) else hit
        pieces.append(f"term {term!r}")
    semantic = evidence.get("semantic")
    if isinstance(semantic, dict) and semantic.get("example"):
        pieces.append(
            f"similar to {semantic['example']!r} ({float(semantic.get('similarity', 0.0)):.2f})"
        )
    if evidence.get("derived_from"):
        pieces.append(f"derived from {sorted(evidence['derived_from'])}")
    return "; ".join(pieces)[:500]
