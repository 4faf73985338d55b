"""Types shared by every detector: model descriptions, explanations, signals, errors.

A detector turns media or text into *signals*. Every signal names the model that
produced it and carries an :class:`Explanation` (in the spirit of Presidio's
``AnalysisExplanation``): what method ran, on which input, which score against
which threshold, and the details a moderator needs to trust or doubt it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


class DetectorError(Exception):
    """A detector could not run on its input; the message is safe to show a user."""


class MediaError(DetectorError):
    """The media is unreadable, malformed, or outside the configured limits."""


class ModelUnavailable(DetectorError):
    """A backend's weights or package are missing; the message says what to install."""


@dataclass(frozen=True)
class ModelInfo:
    """What a backend is: stable id, licence, input and output shape.

    ``model_id`` is recorded with every signal and every stored vector, so a
    change of model can be detected and re-embedded.
    """

    model_id: str
    task: str
    licence: str
    input_size: tuple[int, int] | None = None
    embedding_dim: int | None = None
    notes: str = ""
    # True for weights built from a config with random values (tests only):
    # such a model's outputs are meaningless and must be labelled as such.
    random_weights: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Explanation:
    """Why a detector produced a finding."""

    model_id: str
    method: str
    score: float | None = None
    threshold: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Signal:
    """A typed fact with evidence.

    ``kind`` is one of the signal kinds named in DESIGN.md
    (``likeness.match``, ``character.match``, ``minor.age_estimate``,
    ``nudity.score``, ``provenance.state``, ``prompt.category``,
    ``hash.match``). ``data`` holds the kind's fields as plain JSON values so
    the pipeline can store it and the policy engine can read it without
    knowing how it was computed.
    """

    kind: str
    model_id: str
    data: dict[str, Any]
    explanation: Explanation

    RESERVED: ClassVar[frozenset[str]] = frozenset({"kind", "model", "explanation"})

    def __post_init__(self) -> None:
        # to_dict() flattens data beside these keys; a clash would silently
        # replace the signal's kind or model in stored evidence.
        clash = self.RESERVED & set(self.data)
        if clash:
            raise ValueError(f"signal data may not use the reserved keys {sorted(clash)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model_id,
            **self.data,
            "explanation": self.explanation.to_dict(),
        }
