"""Takedowns after a cameo revocation: the takedown door of the decision path, run as a durable job.

Revoking a cameo (:meth:`pipeline.likeness.LikenessService.revoke`) takes
every live clip with that likeness out of the feeds at once and enqueues a
``takedown`` job. The job re-decides each clip's last scan with the cameo's
consent revoked through :class:`pipeline.decide.DecisionPath` (door
``takedown``), so the decision is recorded and explained like any other; a
clip a moderator decided meanwhile is left alone. Safe to run twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.decide import DecisionPath, DecisionRequest
from pipeline.likeness import TAKEDOWN_JOB, LikenessService
from pipeline.sources import ScanInput
from store.cameos import Cameo
from store.clips import LIVE_STATUSES, Clips
from store.db import Store
from store.decisions import Decisions, RecordedDecision
from store.events import CameoTakedownApplied
from store.users import Users

__all__ = ["TAKEDOWN_JOB", "TakedownService"]


class _DecidedMeanwhile(Exception):
    """The clip left the live states before its takedown decision was recorded."""


class TakedownService:
    """Runs ``takedown`` jobs."""

    def __init__(
        self, store: Store, users: Users, path: DecisionPath, likeness: LikenessService
    ) -> None:
        self.store = store
        self.users = users
        self.path = path
        self.likeness = likeness
        self.clips = Clips(store)
        self.records = Decisions(store)

    def run_takedown(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The ``takedown`` job: re-decide each live clip with the cameo's consent revoked.

        Safe to run more than once: a clip already taken down is skipped. Clips
        that matched after the revocation are picked up too.
        """
        cameo_id = str(payload.get("cameo_id") or "")
        cameo = self.likeness.cameos.get(cameo_id)
        clip_ids = {str(c) for c in payload.get("clip_ids") or []}
        clip_ids |= {
            str(r["clip_id"])
            for r in self.likeness.matched_clips(cameo.id)
            if r["clip_id"] and r["status"] in LIVE_STATUSES
        }
        done: list[dict[str, Any]] = []
        for clip_id in sorted(clip_ids):
            outcome = self._takedown_clip(clip_id, cameo)
            if outcome is not None:
                done.append({"clip_id": clip_id, **outcome})
        return {"cameo_id": cameo.id, "clips": done}

    def _takedown_clip(self, clip_id: str, cameo: Cameo) -> dict[str, Any] | None:
        """The takedown door: re-decide the clip's last scan with this cameo's consent revoked."""
        clip = self.clips.find(clip_id)
        if clip is None or clip["status"] not in LIVE_STATUSES:
            return None
        view, scan_id = self.records.latest_view(clip_id)
        stored_context = dict(view.get("context") or {})
        for match in view.get("likeness", []) or []:
            if match.get("cameo_id") == cameo.id:
                match["consent"] = "revoked"
        consent = dict(stored_context.get("consent") or {})
        consent["revoked"] = sorted({*(consent.get("revoked") or []), cameo.id})
        stored_context["consent"] = consent
        view["context"] = stored_context
        creator = self.users.get(clip["creator_id"]) if clip["creator_id"] else None
        previous = clip["status"]

        def before(tx: Any) -> None:
            current = tx.execute("SELECT status FROM clips WHERE id = ?", [clip_id]).fetchone()
            if current is None or current[0] not in LIVE_STATUSES:
                raise _DecidedMeanwhile  # a moderator, or an earlier run

        def status_rule(doc: dict[str, Any]) -> str | None:
            return "taken_down" if doc["outcome"] in ("takedown", "block") else None

        def also(tx: Any, recorded: RecordedDecision) -> None:
            tx.audit(
                CameoTakedownApplied(
                    None,
                    clip_id=clip_id,
                    cameo_id=cameo.id,
                    outcome=recorded_outcome[0],
                    decision_id=recorded.decision_id,
                )
            )

        recorded_outcome: list[str] = []

        def status_and_note(doc: dict[str, Any]) -> str | None:
            recorded_outcome.append(doc["outcome"])
            return status_rule(doc)

        stage = str(stored_context.get("stage") or "upload")
        try:
            decided = self.path.decide(
                DecisionRequest(
                    door="takedown",
                    scan=ScanInput(
                        stage=stage if stage in ("output", "upload", "remix") else "upload",  # type: ignore[arg-type]
                        creator=creator,
                        audience="teen" if creator is not None and creator.is_teen else "adult",
                        prompt=clip["prompt"],
                        clip_id=clip_id,
                        parent_clip_id=clip["parent_clip_id"],
                    ),
                    clip={
                        **clip,
                        "status": "published",
                    },  # judged as live: harms call for a takedown
                    replay_view=view,
                    replay_scan_id=scan_id,
                    context={
                        "revocation": {"cameo_id": cameo.id, "previous_status": previous},
                    },
                    status_rule=status_and_note,
                    before=before,
                    also=also,
                )
            )
        except _DecidedMeanwhile:
            return None
        return {
            "outcome": decided.decision["outcome"],
            "status": decided.status or previous,
            "decision_id": decided.decision_id,
        }
