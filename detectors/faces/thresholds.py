"""Same-person cosine-similarity thresholds per embedder model id (pairs and video tracks), with sources.

Thresholds are data: each was chosen by ``python -m bench.faces`` on the
labelled pairs of ``shared/fixtures/faces/PAIRS.tsv`` (see that benchmark's
output for the ROC). A model without measured pairs has no entry and
:func:`threshold_for` refuses it rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

from detectors.base import ModelUnavailable


@dataclass(frozen=True)
class Threshold:
    value: float  # cosine similarity of L2-normalised embeddings; >= value means same person
    source: str
    false_accept_rate: float | None = None  # measured at this threshold on the source data
    true_accept_rate: float | None = None


THRESHOLDS: dict[str, Threshold] = {
    "dlib-resnet-v1": Threshold(
        value=0.92,
        source=(
            "bench.faces on shared/fixtures/faces: 178 same-person PAIRS.tsv pairs vs 1968 "
            "impostor pairs (66 from PAIRS.tsv + all cross-identity MANIFEST pairs); max "
            "balanced accuracy, midpoint of the gap: 0.9217 (dlib-hog landmarks), 0.9198 "
            "(SCRFD landmarks), 0.9215 (YuNet landmarks, padded two-pass backend, issue 15). "
            "Same-person min 0.930, impostor max 0.913, in-sample (dlib-hog). Held apart "
            "(identities split into tune/test halves, `python -m bench.faces --sections "
            "verification`, re-run with YuNet the default: its video settings do not touch "
            "stills): chosen on the tune half 0.9265 (dlib-hog) / 0.9272 (YuNet); on the "
            "test half (63 same / 330 impostor pairs) same min 0.930 / 0.930, impostor max "
            "0.907 / 0.898: 0.92 gives TAR 1.0, FAR 0 there for both detectors"
        ),
        false_accept_rate=0.0,
        true_accept_rate=1.0,
    ),
}


# Track-level thresholds: cosine of a video face track's mean embedding and a
# likeness owner's mean stored embedding (what pipeline.likeness matches on).
# Averaging steadies single frames, so this statistic has its own calibration,
# separate from the single-pair thresholds above.
TRACK_THRESHOLDS: dict[str, Threshold] = {
    "dlib-resnet-v1": Threshold(
        value=0.955,
        source=(
            "bench.likeness on shared/fixtures/videos (0.5 s keyframes), cameo enrolled from "
            "liveportrait_d3 0-7.7 s. dlib-hog: its held-out clips score 0.985-0.994 (track mean "
            "vs cameo mean), the nearest other person (liveportrait_s18, another woman) 0.930, "
            "Sintel 0.915, the anime face 0.901, d13 0.850; about the midpoint of the gap. The "
            "single-pair threshold 0.92 from PAIRS.tsv would match s18 to d3. Re-measured with "
            "YuNet, the default detector since issue 15 (`python -m bench.likeness`, same run): "
            "genuine 0.985-0.994, s18 0.931, Sintel 0.929, BBB 0.896, anime 0.894, d13 0.845: "
            "0.955 gives TAR 1.0, FAR 0 for both detectors. Held apart (clips split into TUNE "
            "rest_a, d13, Sintel, BBB and TEST rest_b, s18, anime): chosen on TUNE 0.954 "
            "(dlib-hog) / 0.961 (YuNet); on TEST TAR 1/1, FAR 0/2 for both. Tiny sets: one "
            "cameo, six other faces"
        ),
        false_accept_rate=0.0,
        true_accept_rate=1.0,
    ),
}


def track_threshold_for(model_id: str) -> Threshold:
    """The track-level match threshold for ``model_id``; the pair threshold where none is measured."""
    return TRACK_THRESHOLDS.get(model_id) or threshold_for(model_id)


def threshold_for(model_id: str, override: float | None = None) -> Threshold:
    """The same-person threshold for ``model_id`` (an explicit ``override`` wins)."""
    if override is not None:
        return Threshold(value=float(override), source="explicit override")
    try:
        return THRESHOLDS[model_id]
    except KeyError:
        raise ModelUnavailable(
            f"no measured same-person threshold for embedder {model_id}; run "
            "`python -m bench.faces` with its weights and add it to "
            "detectors/faces/thresholds.py, or pass a threshold explicitly"
        ) from None
