"""A clip's dossier for staff: everything known about one clip, in one document.

Lineage (ancestors and remixes), every scan's decision with its rules,
values and signals, the review history (queue items in every state),
reports, appeals, evidence holds and the audit entries about the clip, its
items and its decisions. Read-only; each part comes from the store module
that owns its table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store import audit
from store import reports as report_rows
from store.clips import Clips
from store.queue import QueueItems

if TYPE_CHECKING:
    from pipeline.gate import Gate
    from pipeline.review import ReviewService
    from store.db import Store

# The audit entries shown with a dossier: the newest this many.
AUDIT_ROWS = 200


class ClipDossier:
    """Builds the staff view of one clip."""

    def __init__(self, store: Store, gate: Gate, review: ReviewService) -> None:
        self.store = store
        self.gate = gate
        self.review = review
        self.clips = Clips(store)
        self.queue = QueueItems(store)

    def build(self, clip_id: str) -> dict[str, Any]:
        clip = self.gate.clip(str(clip_id)[:64])
        clip_id = clip["id"]
        creator = self.store.query("SELECT handle FROM users WHERE id = ?", [clip["creator_id"]])
        decisions = self.gate.decisions(clip_id, full=True)
        items = self.queue.for_clip(clip_id)
        filed = report_rows.for_clip(self.store, clip_id)
        subjects = (clip_id, *(i["id"] for i in items), *(d["id"] for d in decisions))
        entries, _ = audit.search(
            self.store.conn, audit.AuditFilter(subject_ids=subjects), limit=AUDIT_ROWS
        )
        return {
            "clip": {**clip, "creator": creator[0][0] if creator else None},
            "lineage": {
                "ancestors": self.clips.lineage(clip_id),
                "remixes": self.clips.remixes(clip_id),
            },
            "decisions": decisions,
            "queue_items": items,
            "reports": filed["reports"],
            "appeals": filed["appeals"],
            "evidence_holds": self.review.evidence_holds(clip_id),
            "audit": entries,
        }
