"""Posting and remixing clips: the upload and remix doors of the decision path, answered for the poster.

A remix keeps its parent id and the C2PA ingredients of its media, and is
refused when its parent is not live or not visible to the remixer
(:func:`pipeline.lineage.require_remixable`); the parent's findings are
re-judged with it (:class:`pipeline.lineage.LineageSource`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.answers import answer
from pipeline.decide import Decided
from pipeline.lineage import can_see, require_remixable
from store import accounts as account_rows
from store.clips import Clips
from store.users import User

if TYPE_CHECKING:
    from pipeline.gate import Gate
    from store.db import Store


class PostingService:
    """Uploads, remixes and a creator's own clips."""

    def __init__(self, store: Store, gate: Gate) -> None:
        self.store = store
        self.gate = gate
        self.clips = Clips(store)

    def _clip(self, clip_id: str) -> dict[str, Any]:
        return self.clips.get(clip_id)

    def _visible(self, clip: dict[str, Any], viewer: User) -> bool:
        return can_see(clip, viewer)

    def _posted(self, result: Decided, viewer: User) -> dict[str, Any]:
        """A decision path result as the poster sees it (:func:`pipeline.answers.answer`)."""
        return answer(result.to_dict(), viewer)

    def upload(
        self,
        creator: User,
        media: Path | bytes,
        prompt: str | None = None,
        *,
        declared_name: str | None = None,
    ) -> dict[str, Any]:
        """Post a new clip: scanned by the gate (stage ``upload``), then published, queued or blocked."""
        account_rows.require(self.store, creator, "upload")
        result = self.gate.scan(
            media,
            creator,
            prompt=prompt,
            stage="upload",
            origin="upload",
            declared_name=declared_name,
        )
        return self._posted(result, creator)

    def remix(
        self,
        creator: User,
        parent_clip_id: str,
        media: Path | bytes,
        prompt: str | None = None,
        *,
        declared_name: str | None = None,
    ) -> dict[str, Any]:
        """Post a remix: the parent must be live and visible; the gate (stage ``remix``) checks consents."""
        account_rows.require(self.store, creator, "upload")
        # The creator and staff can see their blocked clip, but not give it a second life.
        parent = require_remixable(self.clips, parent_clip_id, creator)
        result = self.gate.scan(
            media,
            creator,
            prompt=prompt,
            stage="remix",
            parent_clip_id=parent["id"],
            origin="remix",
            declared_name=declared_name,
        )
        ingredients: list[dict[str, Any]] = []
        for signal in result.signals:
            if signal.get("kind") != "provenance.state":
                continue
            details = (signal.get("explanation") or {}).get("details") or {}
            for ing in details.get("ingredients") or []:
                if isinstance(ing, dict):
                    keys = ("title", "relationship", "format", "manifest_id", "clip_id")
                    ingredients.append({k: ing.get(k) for k in keys})
        doc = self._posted(result, creator)
        doc["lineage"] = {
            "parent_clip_id": parent["id"],
            "c2pa_ingredients": ingredients,
            # Our own signed clips name their clip id in the ingredient's metadata.
            "c2pa_names_parent": any(i.get("clip_id") == parent["id"] for i in ingredients),
        }
        return doc

    def my_clips(self, user: User, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """The user's own clips, newest first, with each one's latest decision outcome."""
        return self.store.query_dicts(
            "SELECT c.id AS clip_id, c.prompt, c.origin, c.parent_clip_id, c.status, c.audience, "
            "c.created_at, d.id AS decision_id, d.outcome AS decision_outcome, "
            "d.reason AS decision_reason FROM clips c LEFT JOIN ("
            "  SELECT clip_id, id, outcome, reason, row_number() OVER "
            "  (PARTITION BY clip_id ORDER BY created_at DESC, id DESC) AS n FROM decisions"
            ") d ON d.clip_id = c.id AND d.n = 1 "
            "WHERE c.creator_id = ? ORDER BY c.created_at DESC, c.id LIMIT ? OFFSET ?",
            [user.id, max(1, min(int(limit), 501)), max(0, int(offset))],
        )

    # -- the feed ------------------------------------------------------------------------
