"""The data the character detectors exchange: registered characters in, matches out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.base import DetectorError, Explanation, MediaError, Signal

SIGNAL_KIND = "character.match"


@dataclass(frozen=True)
class CharacterRef:
    """What the registry hands the detectors for one registered character.

    ``reference_images`` are RGB uint8 arrays (H, W, 3), already decoded and
    validated by ``pipeline.media.load_image``; detectors never read files.
    """

    character_id: str
    name: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    reference_images: tuple[np.ndarray, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.character_id, str) or not self.character_id.strip():
            raise DetectorError("a character needs a non-empty id")
        if not isinstance(self.name, str) or not self.name.strip():
            raise DetectorError(f"character {self.character_id!r} needs a non-empty name")
        for i, img in enumerate(self.reference_images):
            check_rgb(img, f"reference image {i} of character {self.character_id!r}")


@dataclass(frozen=True)
class CharacterMatch:
    """One character found in a prompt or an image, with the evidence a moderator reads."""

    character_id: str
    name: str
    score: float
    threshold: float
    backend: str
    evidence: dict[str, Any]
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``greenroom characters check`` (CLI.md) plus the explanation."""
        return {
            "character_id": self.character_id,
            "name": self.name,
            "score": self.score,
            "threshold": self.threshold,
            "backend": self.backend,
            "evidence": self.evidence,
            "explanation": self.explanation.to_dict(),
        }

    def to_signal(self) -> Signal:
        return Signal(
            kind=SIGNAL_KIND,
            model_id=self.explanation.model_id,
            data={
                "character_id": self.character_id,
                "name": self.name,
                "score": self.score,
                "threshold": self.threshold,
                "backend": self.backend,
                "evidence": self.evidence,
            },
            explanation=self.explanation,
        )


def check_rgb(img: object, what: str) -> np.ndarray:
    """Reject anything that is not an (H, W, 3) uint8 array, with a message a user can read."""
    if not isinstance(img, np.ndarray):
        raise MediaError(f"{what} is not a decoded image (got {type(img).__name__})")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise MediaError(f"{what} must be RGB uint8 (H, W, 3); got {img.dtype} {img.shape}")
    if img.shape[0] < 8 or img.shape[1] < 8:
        raise MediaError(f"{what} is too small ({img.shape[1]}x{img.shape[0]}); need at least 8x8")
    return img
