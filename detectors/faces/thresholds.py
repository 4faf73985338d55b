"""Same-person cosine-similarity thresholds per embedder model id, with where each number came from.

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
            "(SCRFD landmarks). Same-person min 0.930, impostor max 0.913, in-sample"
        ),
        false_accept_rate=0.0,
        true_accept_rate=1.0,
    ),
}


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
