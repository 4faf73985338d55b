"""Remix lineage: who may remix which parent, and the parent's findings re-judged today.

A remix is judged with its ancestors. :func:`require_remixable` refuses, at
every door, a parent the remixer cannot see (answered like a missing clip) or
one that is not live. :class:`LineageSource` is a signal source: each
ancestor's prompt is checked against today's character registry and each
ancestor's cameo matches against today's consents, so a character blocked
after the parent was published, or a cameo revoked since, stops the remix.
Its signals carry ``via_parent`` (the ancestor's clip id) in their data and
explanation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from detectors.base import Explanation, Signal
from pipeline.sources import ScanInput
from store.clips import Clips
from store.db import Conflict, NotFound, Store
from store.decisions import Decisions
from store.users import User

if TYPE_CHECKING:
    from pipeline.characters import CharacterService
    from pipeline.likeness import LikenessService

STAFF_ROLES = frozenset({"admin", "moderator"})
MAX_ANCESTORS = 8
LINEAGE_MODEL = "greenroom-lineage-v1"


def can_see(clip: dict[str, Any], viewer: User | None) -> bool:
    """Creator and staff see everything; others only live clips for their audience."""
    if viewer is not None and (clip["creator_id"] == viewer.id or viewer.role in STAFF_ROLES):
        return True
    return clip["status"] == "published" and not (
        clip["audience"] == "adults" and (viewer is None or viewer.is_teen)
    )


def require_remixable(clips: Clips, parent_clip_id: str, remixer: User | None) -> dict[str, Any]:
    """The parent clip, if ``remixer`` may remix it: visible to them and live."""
    parent = clips.find(str(parent_clip_id)[:64])
    if parent is None or not can_see(parent, remixer):
        # A clip the remixer may not see answers exactly like a missing one.
        raise NotFound(f"no clip {str(parent_clip_id)[:64]}")
    if parent["status"] != "published":
        raise Conflict(
            f"clip {parent['id']} is {parent['status']}; only published clips can be remixed"
        )
    return parent


class LineageSource:
    """Signals of a remix's ancestors, judged against today's registry and consents."""

    name = "lineage"

    def __init__(
        self, store: Store, characters: CharacterService, likeness: LikenessService
    ) -> None:
        self.clips = Clips(store)
        self.decisions = Decisions(store)
        self.characters = characters
        self.likeness = likeness

    def ancestors(self, parent_clip_id: str) -> list[dict[str, Any]]:
        parent = self.clips.find(parent_clip_id)
        if parent is None:
            return []
        return [parent, *self.clips.lineage(parent["id"], max_depth=MAX_ANCESTORS - 1)]

    def signals(self, scan: ScanInput) -> list[Signal]:
        if not scan.parent_clip_id:
            return []
        out: list[Signal] = []
        for ancestor in self.ancestors(scan.parent_clip_id):
            out += self._character_signals(scan, ancestor)
            out += self._cameo_signals(scan, ancestor)
        return out

    def _character_signals(self, scan: ScanInput, ancestor: dict[str, Any]) -> list[Signal]:
        if not ancestor["prompt"]:
            return []
        probe = ScanInput(
            stage="prompt", creator=scan.creator, audience=scan.audience, prompt=ancestor["prompt"]
        )
        out = []
        for s in self.characters.signals(probe):
            # Found in a prompt (the policy view's source), the parent's: via_parent says whose.
            data = {**s.data, "via_parent": ancestor["id"]}
            explanation = replace(
                s.explanation,
                details={**(s.explanation.details or {}), "via_parent": ancestor["id"]},
            )
            out.append(Signal(s.kind, s.model_id, data, explanation))
        return out

    def _cameo_signals(self, scan: ScanInput, ancestor: dict[str, Any]) -> list[Signal]:
        _, scan_id = self.decisions.latest_view(ancestor["id"])
        if scan_id is None:
            return []
        out = []
        seen: set[str] = set()
        for data in self.decisions.signals_of(scan_id):
            if not isinstance(data, dict) or data.get("kind") != "likeness.match":
                continue
            nested = data.get("data")
            fields: dict[str, Any] = nested if isinstance(nested, dict) else data
            cameo_id = str(fields.get("cameo_id") or "")
            if fields.get("match_kind") != "cameo" or not cameo_id or cameo_id in seen:
                continue
            seen.add(cameo_id)
            try:
                consent = self.likeness.consent(scan.creator, cameo_id)
            except NotFound:
                continue
            out.append(
                Signal(
                    kind="likeness.match",
                    # The parent's model: the policy's per-model threshold still applies.
                    model_id=str(data.get("model") or LINEAGE_MODEL),
                    data={
                        "match_kind": "cameo",
                        "cameo_id": cameo_id,
                        "owner": fields.get("owner", ""),
                        "name": fields.get("name", ""),
                        "similarity": fields.get("similarity", 0.0),
                        "threshold": fields.get("threshold", 0.0),
                        "consent": consent.consent,
                        "consent_reason": consent.reason,
                        "start_s": 0.0,
                        "end_s": 0.0,
                        "via_parent": ancestor["id"],
                    },
                    explanation=Explanation(
                        model_id=LINEAGE_MODEL,
                        method="a cameo found in an ancestor clip; consent re-checked today",
                        score=float(fields.get("similarity") or 0.0),
                        threshold=float(fields.get("threshold") or 0.0),
                        details={"via_parent": ancestor["id"], "consent": consent.consent},
                    ),
                )
            )
        return out

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        likeness = [s for s in signals if s.kind == "likeness.match"]
        characters = [s for s in signals if s.kind != "likeness.match"]
        part: dict[str, Any] = {}
        if characters:
            part.update(self.characters.view(scan, characters))
        if likeness:
            part.update(self.likeness.view(scan, likeness))
        return part
