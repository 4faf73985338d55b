"""The gate's media and prompt doors: accept the input, build the scan, hand it to the decision path.

One scan decodes the media once (``pipeline.intake``) into a
:class:`~pipeline.sources.ScanInput` and asks :class:`pipeline.decide.DecisionPath`
to decide it: every source's signals, the policy (active, shadow, audience,
forced review when a source failed), one transaction for scan, signals,
decision, clip and queue item. Remixes are refused at every door when the
parent is hidden from the remixer or not live (:func:`pipeline.lineage.require_remixable`).

Scans also run as durable ``scan`` jobs (:meth:`Gate.submit` and
:meth:`Gate.run_job`), so an upload is accepted at once and decided by a
worker, once, even across a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.answers import stored_decision_for_user
from pipeline.decide import (
    Decided,
    DecisionPath,
    DecisionRequest,
    Override,
    clip_status_for,
    prompt_digest,
)
from pipeline.intake import MediaItem, keyframes
from pipeline.lineage import require_remixable
from pipeline.sources import ScanInput, Stage
from policies.schema import UNOVERRIDABLE_REASON
from store import clips as clip_rows
from store import jobs
from store.clips import Clips, NewClip
from store.db import new_id
from store.decisions import AlreadyRecorded, Decisions
from store.jsondoc import loads
from store.queue import due_in
from store.reports import overturned_prompt_appeal
from store.users import User, Users

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.intake import MediaIntake
    from store.db import Store

log = logging.getLogger("greenroom.gate")

MEDIA_STAGES: tuple[str, ...] = ("output", "upload", "remix", "report")
ORIGINS: tuple[str, ...] = ("generated", "upload", "remix")
# The door each media stage comes through when the caller does not name one.
STAGE_DOORS = {
    "output": "generate_output",
    "upload": "upload",
    "remix": "remix",
    "report": "report",
}
SCAN_JOB = "scan"
MAX_CAMEOS = 8
# Kept for callers that name the result by its old name.
GateResult = Decided

__all__ = ["MEDIA_STAGES", "SCAN_JOB", "Gate", "GateResult", "clip_status_for", "due_in"]


class Gate:
    """The media and prompt doors."""

    def __init__(
        self,
        store: Store,
        users: Users,
        intake: MediaIntake,
        path: DecisionPath,
        config: PipelineConfig,
    ) -> None:
        self.store = store
        self.users = users
        self.intake = intake
        self.path = path
        self.config = config
        self.clips = Clips(store)
        self.records = Decisions(store)

    # -- public entry points ------------------------------------------------------------------

    def check_prompt(
        self,
        creator: User,
        prompt: str,
        cameos: list[str] | None = None,
        parent_clip_id: str | None = None,
        *,
        door: str = "prompt",
    ) -> Decided:
        """The prompt stage: text signals, character names, consent for requested cameos.

        Records a scan and decision with no clip (a blocked prompt makes no clip).
        """
        prompt = self._check_prompt_text(prompt)
        cameos = [str(c).strip().lstrip("@").lower() for c in (cameos or []) if str(c).strip()]
        if len(cameos) > MAX_CAMEOS:
            raise ValueError(f"at most {MAX_CAMEOS} cameos per clip")
        if parent_clip_id is not None:
            parent_clip_id = require_remixable(self.clips, parent_clip_id, creator)["id"]
        scan = ScanInput(
            stage="prompt",
            creator=creator,
            audience="teen" if creator.is_teen else "adult",
            prompt=prompt,
            requested_cameos=cameos,
            parent_clip_id=parent_clip_id,
        )
        return self.path.decide(
            DecisionRequest(
                door=door, scan=scan, origin="generated", waiver=self._waiver(creator, prompt)
            )
        )

    def scan(
        self,
        source: Path | bytes,
        creator: User | None,
        prompt: str | None = None,
        stage: Stage = "upload",
        clip_id: str | None = None,
        parent_clip_id: str | None = None,
        origin: str = "upload",
        *,
        declared_name: str | None = None,
        job_id: str | None = None,
        door: str | None = None,
    ) -> Decided:
        """Scan media, decide, and record everything (creating the clip unless ``clip_id``)."""
        if stage not in MEDIA_STAGES:
            raise ValueError(f"stage must be one of {', '.join(MEDIA_STAGES)}")
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(ORIGINS)}")
        if prompt is not None:
            prompt = self._check_prompt_text(prompt)
        clip = self.clips.get(clip_id) if clip_id is not None else None
        if clip is not None:
            prompt = prompt if prompt is not None else clip["prompt"]
            parent_clip_id = parent_clip_id or clip["parent_clip_id"]
            origin = clip["origin"]
            if creator is None and clip["creator_id"]:
                creator = self.users.get(clip["creator_id"])
        if parent_clip_id is not None and clip is None:
            parent_clip_id = require_remixable(self.clips, parent_clip_id, creator)["id"]
            if origin == "upload":
                origin = "remix"
        item = self.intake.ingest(source, declared_name)
        return self._scan_item(
            item, creator, prompt, stage, clip, parent_clip_id, origin, job_id,
            door or STAGE_DOORS[stage],
        )  # fmt: skip

    def _scan_item(
        self,
        item: MediaItem,
        creator: User | None,
        prompt: str | None,
        stage: str,
        clip: dict[str, Any] | None,
        parent_clip_id: str | None,
        origin: str,
        job_id: str | None,
        door: str,
    ) -> Decided:
        frames = keyframes(item, limits=self.config.media)
        scan = ScanInput(
            stage=stage,  # type: ignore[arg-type]
            creator=creator,
            audience="teen" if creator is not None and creator.is_teen else "adult",
            prompt=prompt,
            media_path=item.path,
            media_kind=item.kind,
            media_sha256=item.sha256,
            frames=frames,
            clip_id=clip["id"] if clip else None,
            parent_clip_id=parent_clip_id,
        )
        return self.path.decide(
            DecisionRequest(
                door=door,
                scan=scan,
                clip=clip,
                origin=origin,
                media=item,
                job_id=job_id,
                # The output of a prompt cleared on appeal is not blocked again for the same reasons.
                waiver=self._waiver(creator, prompt) if stage == "output" else None,
            )
        )

    def _waiver(
        self, creator: User | None, prompt: str | None
    ) -> Callable[[dict[str, Any]], Override | None] | None:
        """Waive a blocked prompt's reasons a moderator cleared on appeal (never sexual_minors).

        Only when every reason the policy gives now was cleared, and no source
        failed: a new reason, or a finding in the generated media, decides as usual.
        """
        if creator is None or not prompt:
            return None
        creator_id, digest = creator.id, prompt_digest(prompt)

        def waive(doc: dict[str, Any]) -> Override | None:
            reasons = set(doc.get("reasons") or [])
            if doc["outcome"] == "allow" or doc.get("errors") or not reasons:
                return None
            if UNOVERRIDABLE_REASON in reasons:
                return None
            # Asked only for a decision a waiver could change: most prompts are allowed,
            # and this join over appeals, decisions and scans was a query on every check.
            cleared = overturned_prompt_appeal(self.store, creator_id, digest)
            if cleared is None or not reasons <= set(cleared["reasons"]):
                return None
            return Override(
                outcome="allow",
                reason=f"appeal {cleared['appeal_id']} overturned the block of this prompt",
                details={
                    "appeal_id": cleared["appeal_id"],
                    "appealed_decision": cleared["decision_id"],
                    "waived_reasons": sorted(reasons),
                },
            )

        return waive

    # -- asynchronous scans -----------------------------------------------------------------------

    def submit(
        self,
        source: Path | bytes,
        creator: User,
        prompt: str | None = None,
        *,
        declared_name: str | None = None,
        parent_clip_id: str | None = None,
        stage: Stage = "upload",
    ) -> dict[str, Any]:
        """Accept an upload now and scan it in a worker: clip ``draft`` + a durable ``scan`` job."""
        if stage not in MEDIA_STAGES:
            raise ValueError(f"stage must be one of {', '.join(MEDIA_STAGES)}")
        if prompt is not None:
            prompt = self._check_prompt_text(prompt)
        if parent_clip_id is not None:
            parent_clip_id = require_remixable(self.clips, parent_clip_id, creator)["id"]
        item = self.intake.ingest(source, declared_name)
        request_id = new_id("scanreq")
        origin = "remix" if parent_clip_id else "upload"
        with self.store.transaction() as tx:
            clip_id = clip_rows.insert(
                tx,
                NewClip(
                    creator_id=creator.id,
                    prompt=prompt,
                    origin=origin,
                    status="draft",
                    parent_clip_id=parent_clip_id,
                    media_sha256=item.sha256,
                ),
                creator.id,
            )
            job_id = jobs.enqueue(
                tx,
                SCAN_JOB,
                {
                    "request_id": request_id,
                    "clip_id": clip_id,
                    "sha256": item.sha256,
                    "stage": stage,
                },
                idempotency_key=f"scan:{clip_id}",
                actor_id=creator.id,
            )
        return {"job_id": job_id, "clip_id": clip_id, "status": "draft", "media": item.to_dict()}

    def run_job(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The ``scan`` job handler: scan a stored upload for its draft clip, exactly once."""
        request_id = str(payload["request_id"])
        existing = self.records.scan_by_job(request_id)
        if existing is not None:
            return {**existing, "repeated": True}
        clip = self.clips.get(str(payload["clip_id"]))
        creator = self.users.get(clip["creator_id"]) if clip["creator_id"] else None
        item = self.intake.open_stored(str(payload["sha256"]))
        stage = str(payload.get("stage") or "upload")
        try:
            result = self._scan_item(
                item, creator, clip["prompt"], stage, clip, clip["parent_clip_id"],
                clip["origin"], request_id, STAGE_DOORS.get(stage, "upload"),
            )  # fmt: skip
        except AlreadyRecorded as done:
            return {"scan_id": done.scan_id, "clip_id": clip["id"], "repeated": True}
        return {
            "scan_id": result.scan_id,
            "clip_id": result.clip_id,
            "decision_id": result.decision_id,
            "outcome": result.decision["outcome"],
            "ran_on": result.decision["explanation"]["ran_on"],
        }

    # -- reading ---------------------------------------------------------------------------------

    def _check_prompt_text(self, prompt: str) -> str:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty")
        limit = self.config.max_prompt_chars
        if len(prompt) > limit:
            raise ValueError(f"the prompt is {len(prompt)} characters; the limit is {limit}")
        return prompt.strip()

    def clip(self, clip_id: str) -> dict[str, Any]:
        """A clip with its latest decision's outcome (for its creator and staff)."""
        row = self.clips.get(clip_id)
        latest = self.store.query_dicts(
            "SELECT id, outcome, policy_version, decided_by, created_at FROM decisions "
            "WHERE clip_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
            [row["id"]],
        )
        row["latest_decision"] = latest[0] if latest else None
        return row

    def decisions(self, clip_id: str, *, full: bool) -> list[dict[str, Any]]:
        """A clip's decisions, newest first.

        ``full`` (staff): rules with values, shadow, details and the scan's
        signals. Otherwise (the creator): outcome, reasons and rule ids only,
        so nobody else's data (a cameo owner, a rights holder's other
        characters, matched values) reaches them.
        """
        self.clips.get(clip_id)
        rows = self.store.query_dicts(
            "SELECT id, scan_id, outcome, rules, shadow, policy_version, queue, priority, "
            "decided_by, reason, created_at, details FROM decisions WHERE clip_id = ? "
            "ORDER BY created_at DESC, id DESC",
            [clip_id],
        )
        out = []
        for row in rows:
            row["rules"] = loads(row["rules"]) or []
            row["shadow"] = loads(row["shadow"])
            row["details"] = loads(row["details"]) or {}
            if not full:
                out.append(stored_decision_for_user(row))
                continue
            row["signals"] = self.signals_of(row["scan_id"]) if row["scan_id"] else []
            out.append(row)
        return out

    def signals_of(self, scan_id: str) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT data FROM signals WHERE scan_id = ? ORDER BY id", [scan_id])
        return [loads(r[0]) for r in rows]
