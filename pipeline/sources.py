"""The contract between the gate and the areas that produce signals.

The gate (``pipeline/gate.py``) decodes media once into a :class:`ScanInput`
and asks every :class:`SignalSource` for its signals, then for its part of
the policy engine's signal view (the top-level keys of
``policies.schema.SignalView``: ``likeness``, ``character``, ``minor``,
``nudity``, ``provenance``, ``prompt``, ``hash``; and ``context`` keys such as
``consent``). The gate merges the parts, asks the policy engine, and records
signals and decision in one transaction. Sources never write decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from detectors.base import Signal
from pipeline.media import Frame
from store.users import User

Stage = Literal["prompt", "output", "upload", "remix", "report", "account"]


@dataclass
class ScanInput:
    """Everything a source may look at for one scan; media is decoded once, here."""

    stage: Stage
    creator: User | None
    audience: Literal["teen", "adult"]
    prompt: str | None = None
    media_path: Path | None = None
    media_kind: Literal["image", "video"] | None = None
    media_sha256: str | None = None
    # Keyframes, decoded once: one frame (t=0.0) for an image, about one per
    # half second for a video, downscaled to the gate's working size.
    frames: list[Frame] = field(default_factory=list)
    # Cameo owners' handles the creator asked to appear (generation requests).
    requested_cameos: list[str] = field(default_factory=list)
    clip_id: str | None = None
    parent_clip_id: str | None = None


class SignalSource(Protocol):
    """One area's detectors, as the gate sees them."""

    name: str

    def signals(self, scan: ScanInput) -> list[Signal]:
        """Findings for this scan (each with its model and explanation); [] when nothing applies."""
        ...

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        """This source's part of the policy signal view, from its own signals.

        Return only the keys this source owns, e.g. ``{"likeness": [...],
        "context": {"consent": {...}}}``; the gate merges ``context`` dicts.
        """
        ...
