"""The gate: media or prompt → signals from every source → policy decision → recorded → queued.

One scan decodes the media once (``pipeline.intake``), asks each area's
:class:`pipeline.sources.SignalSource` for signals and its part of the signal
view, merges the parts with the decision context (creator, audience, stage,
remix lineage, whether the clip is live), and asks the active policy version
(plus the shadow version, recorded but never enforced). Scan, signals,
decision, clip status and queue item are written in ONE transaction with
their audit events; the merged view is stored on the scan row so a backtest
can re-decide it later.

A source that fails at run time is recorded and the decision is raised to at
least ``review`` (a clip is never published because a detector crashed).
Scans also run as durable ``scan`` jobs (:meth:`Gate.submit`,
:func:`build_worker`), so an upload is accepted at once and decided by a
worker, once, even across a restart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectors.base import MediaError, Signal
from pipeline.intake import MediaItem, keyframes
from pipeline.sources import ScanInput, Stage
from policies.schema import OUTCOME_RANK, SIGNAL_ROOTS
from policies.shadow import compare
from store import jobs
from store.db import NotFound, new_id, now
from store.events import ClipStatusChanged, QueueItemChanged, ScanRecorded
from store.users import User, Users

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.intake import MediaIntake
    from pipeline.policy_store import PolicyService
    from pipeline.sources import SignalSource
    from store.db import Store

log = logging.getLogger("greenroom.gate")

MEDIA_STAGES: tuple[str, ...] = ("output", "upload", "remix", "report")
ORIGINS: tuple[str, ...] = ("generated", "upload", "remix")
SCAN_JOB = "scan"
SOURCE_ERROR_QUEUE = "scan_errors"
SOURCE_ERROR_PRIORITY = 50
MAX_CAMEOS = 8


def due_in(priority: int | None) -> timedelta:
    """How long a queue item may wait, from its priority (0..100, higher is more urgent)."""
    p = priority or 0
    if p >= 90:
        return timedelta(hours=1)
    if p >= 70:
        return timedelta(hours=4)
    if p >= 40:
        return timedelta(hours=24)
    return timedelta(hours=72)


def clip_status_for(outcome: str, stage: str) -> str:
    """The clip status a decision leads to (output clips wait for signing before they go live)."""
    if outcome in ("allow", "label", "age_restrict"):
        return "pending" if stage == "output" else "published"
    return {"review": "queued", "block": "blocked", "takedown": "taken_down"}[outcome]


@dataclass
class GateResult:
    """What one pass through the gate decided and recorded."""

    clip_id: str | None
    scan_id: str
    decision_id: str
    decision: dict[str, Any]
    signals: list[dict[str, Any]]
    sources_run: list[str]
    duration_ms: float
    stage: str = "upload"
    status: str | None = None
    audience: str = "everyone"
    queue_item_id: str | None = None
    source_errors: list[dict[str, str]] = field(default_factory=list)
    media: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "clip_id": self.clip_id,
            "scan_id": self.scan_id,
            "decision_id": self.decision_id,
            "stage": self.stage,
            "status": self.status,
            "audience": self.audience,
            "queue_item_id": self.queue_item_id,
            "decision": self.decision,
            "signals": self.signals,
            "sources_run": self.sources_run,
            "source_errors": self.source_errors,
            "duration_ms": self.duration_ms,
            "media": self.media,
        }


def _merge(
    view: dict[str, Any], context: dict[str, Any], part: Mapping[str, Any], who: str
) -> None:
    """Fold one source's view part into the merged view (lists extend, objects merge)."""
    for key, value in part.items():
        if key == "context":
            if isinstance(value, Mapping):
                for ckey, cvalue in value.items():
                    if isinstance(cvalue, Mapping) and isinstance(context.get(ckey), dict):
                        context[ckey].update(cvalue)
                    else:
                        context[ckey] = cvalue
            continue
        if key not in SIGNAL_ROOTS:
            log.warning("source %s returned unknown view key %r (ignored)", who, key)
            continue
        if isinstance(value, list):
            view.setdefault(key, [])
            if isinstance(view[key], list):
                view[key].extend(value)
        elif isinstance(value, Mapping) and isinstance(view.get(key), dict):
            view[key].update(value)
        else:
            view[key] = value


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, allow_nan=False)


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class Gate:
    """The scan flow."""

    def __init__(
        self,
        store: Store,
        users: Users,
        intake: MediaIntake,
        policies: PolicyService,
        sources: Sequence[SignalSource],
        config: PipelineConfig,
    ) -> None:
        self.store = store
        self.users = users
        self.intake = intake
        self.policies = policies
        self.sources = tuple(sources)
        self.config = config

    # -- sources ---------------------------------------------------------------------

    def _run_sources(
        self, scan: ScanInput
    ) -> tuple[
        list[tuple[str, Signal]], dict[str, Any], dict[str, Any], list[str], list[dict[str, str]]
    ]:
        """Run every registered source: (signals, view, context parts, ran, errors)."""
        signals: list[tuple[str, Signal]] = []
        view: dict[str, Any] = {}
        context: dict[str, Any] = {}
        ran: list[str] = []
        errors: list[dict[str, str]] = []
        for source in self.sources:
            name = source.name
            try:
                found = list(source.signals(scan))
                part = source.view(scan, found)
            except MediaError:
                raise  # the upload itself is bad: the caller refuses it
            except Exception as exc:  # one source's failure must not decide the clip
                log.exception("gate: source %s failed", name)
                errors.append({"source": name, "error": f"{type(exc).__name__}: {exc}"[:500]})
                continue
            ran.append(name)
            signals += [(name, s) for s in found]
            if isinstance(part, Mapping):
                _merge(view, context, part, name)
        return signals, view, context, ran, errors

    # -- context -------------------------------------------------------------------------

    def _strikes(self, creator: User | None) -> int:
        if creator is None:
            return 0
        # Strikes are counted by moderators (pipeline.review), not inferred from
        # clip status: a takedown for a revoked cameo is not the creator's fault.
        row = self.store.query("SELECT count(*) FROM strikes WHERE user_id = ?", [creator.id])
        return int(row[0][0]) if row else 0

    def _context(
        self,
        creator: User | None,
        stage: str,
        *,
        published: bool,
        parent_clip_id: str | None,
        is_remix: bool,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        context: dict[str, Any] = {
            "creator": {
                "id": creator.id if creator else "",
                "role": creator.role if creator else "user",
                "is_teen": bool(creator and creator.is_teen),
                "verified": False,
                "strikes": self._strikes(creator),
            },
            # A teen's clip is judged by the teen thresholds; an adult's clip is
            # judged as adult content and separately checked for teen viewers.
            "audience": "teen" if creator is not None and creator.is_teen else "adult",
            "stage": stage,
            "published": published,
            "is_remix": is_remix,
            "parent_id": parent_clip_id or "",
        }
        for key, value in extra.items():
            if key in ("creator", "audience", "stage", "published", "is_remix", "parent_id"):
                continue  # the gate owns these; a source cannot change who or where
            context[key] = value
        return context

    # -- public entry points ------------------------------------------------------------------

    def check_prompt(
        self,
        creator: User,
        prompt: str,
        cameos: list[str] | None = None,
        parent_clip_id: str | None = None,
    ) -> GateResult:
        """The prompt stage: text signals, character names, consent for requested cameos.

        Records a scan and decision with no clip (a blocked prompt makes no clip).
        """
        prompt = self._check_prompt_text(prompt)
        cameos = [str(c).strip().lstrip("@").lower() for c in (cameos or []) if str(c).strip()]
        if len(cameos) > MAX_CAMEOS:
            raise ValueError(f"at most {MAX_CAMEOS} cameos per clip")
        if parent_clip_id is not None:
            self._clip_row(parent_clip_id)
        scan = ScanInput(
            stage="prompt",
            creator=creator,
            audience="teen" if creator.is_teen else "adult",
            prompt=prompt,
            requested_cameos=cameos,
            parent_clip_id=parent_clip_id,
        )
        return self._decide_and_record(
            scan,
            creator,
            clip=None,
            media=None,
            origin="generated",
            job_id=None,
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
    ) -> GateResult:
        """Scan media, decide, and record everything (creating the clip unless ``clip_id``)."""
        if stage not in MEDIA_STAGES:
            raise ValueError(f"stage must be one of {', '.join(MEDIA_STAGES)}")
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {', '.join(ORIGINS)}")
        if prompt is not None:
            prompt = self._check_prompt_text(prompt)
        clip = self._clip_row(clip_id) if clip_id is not None else None
        if clip is not None:
            prompt = prompt if prompt is not None else clip["prompt"]
            parent_clip_id = parent_clip_id or clip["parent_clip_id"]
            origin = clip["origin"]
            if creator is None and clip["creator_id"]:
                creator = self.users.get(clip["creator_id"])
        if parent_clip_id is not None and clip is None:
            self._clip_row(parent_clip_id)
            if origin == "upload":
                origin = "remix"
        item = self.intake.ingest(source, declared_name)
        return self._scan_item(item, creator, prompt, stage, clip, parent_clip_id, origin, job_id)

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
    ) -> GateResult:
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
        return self._decide_and_record(
            scan, creator, clip=clip, media=item, origin=origin, job_id=job_id
        )

    # -- the one flow ---------------------------------------------------------------------------

    def _decide_and_record(
        self,
        scan: ScanInput,
        creator: User | None,
        *,
        clip: dict[str, Any] | None,
        media: MediaItem | None,
        origin: str,
        job_id: str | None,
    ) -> GateResult:
        started = time.perf_counter()
        signals, view, extra_context, ran, errors = self._run_sources(scan)
        published = bool(clip and clip["status"] == "published")
        context = self._context(
            creator,
            scan.stage,
            published=published,
            parent_clip_id=scan.parent_clip_id,
            is_remix=scan.parent_clip_id is not None or origin == "remix" or scan.stage == "remix",
            extra=extra_context,
        )
        policies = self.policies
        active = policies.active()
        decision = active.evaluate(view, context)
        doc = decision.to_dict()
        # Shadow: rules marked shadow in the active set, plus a whole shadow version if set.
        shadow_doc: dict[str, Any] = {
            "rules": doc["shadow"],
            "outcome": doc["shadow_outcome"],
            "version": None,
            "comparison": None,
        }
        shadow_set = policies.shadow()
        if shadow_set is not None and shadow_set.version != active.version:
            other = shadow_set.evaluate(view, context)
            shadow_doc["version"] = shadow_set.version
            shadow_doc["comparison"] = compare(decision.outcome, decision.rule_ids, other).to_dict()
            shadow_doc["version_rules"] = [r.to_dict() for r in other.rules]
        doc["shadow"] = shadow_doc
        if errors and OUTCOME_RANK[doc["outcome"]] < OUTCOME_RANK["review"]:
            doc["outcome"] = "review"
            doc["queue"], doc["priority"] = SOURCE_ERROR_QUEUE, SOURCE_ERROR_PRIORITY
        elif errors and doc["queue"] is None:
            doc["queue"], doc["priority"] = SOURCE_ERROR_QUEUE, SOURCE_ERROR_PRIORITY
        audience = "everyone"
        teen_check: dict[str, Any] | None = None
        if scan.stage != "prompt" and context["audience"] == "adult":
            teen = active.evaluate(view, {**context, "audience": "teen"})
            teen_check = {"outcome": teen.outcome, "rules": teen.rule_ids}
            if OUTCOME_RANK[teen.outcome] > OUTCOME_RANK["label"]:
                audience = "adults"
        if doc["outcome"] == "age_restrict":
            audience = "adults"
        doc["explanation"] = {
            "sources_run": ran,
            "source_errors": errors,
            "stage": scan.stage,
            "audience": context["audience"],
            "clip_audience": audience,
            "teen_audience_check": teen_check,
            "signal_models": sorted({s.model_id for _, s in signals}),
        }
        duration_ms = (time.perf_counter() - started) * 1000.0
        signal_docs = [{**s.to_dict(), "source": name} for name, s in signals]
        return self._record(
            scan=scan,
            creator=creator,
            clip=clip,
            media=media,
            origin=origin,
            job_id=job_id,
            view={**view, "context": context},
            decision=doc,
            signals=signals,
            signal_docs=signal_docs,
            ran=ran,
            errors=errors,
            audience=audience,
            duration_ms=duration_ms,
        )

    def _record(
        self,
        *,
        scan: ScanInput,
        creator: User | None,
        clip: dict[str, Any] | None,
        media: MediaItem | None,
        origin: str,
        job_id: str | None,
        view: dict[str, Any],
        decision: dict[str, Any],
        signals: list[tuple[str, Signal]],
        signal_docs: list[dict[str, Any]],
        ran: list[str],
        errors: list[dict[str, str]],
        audience: str,
        duration_ms: float,
    ) -> GateResult:
        at = now()
        outcome = decision["outcome"]
        scan_id = new_id("scan")
        decision_id = new_id("dec")
        clip_id: str | None = clip["id"] if clip else None
        status: str | None = None
        item_id: str | None = None
        actor = creator.id if creator else None
        with self.store.transaction() as tx:
            if job_id is not None:
                done = tx.execute("SELECT id FROM scans WHERE job_id = ?", [job_id]).fetchone()
                if done is not None:
                    # The job ran to here before (crash before completion): keep the first.
                    raise _AlreadyScanned(str(done[0]))
            if scan.stage != "prompt":
                status = clip_status_for(outcome, scan.stage)
                if clip is None:
                    clip_id = new_id("clip")
                    tx.execute(
                        "INSERT INTO clips (id, creator_id, prompt, origin, parent_clip_id, "
                        "status, media_sha256, audience, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            clip_id,
                            actor,
                            scan.prompt,
                            origin,
                            scan.parent_clip_id,
                            status,
                            media.sha256 if media else None,
                            audience,
                            at,
                            at,
                        ],
                    )
                    previous = None
                else:
                    previous = clip["status"]
                    tx.execute(
                        "UPDATE clips SET status = ?, media_sha256 = ?, audience = ?, "
                        "updated_at = ? WHERE id = ?",
                        [
                            status,
                            media.sha256 if media else clip["media_sha256"],
                            audience,
                            at,
                            clip_id,
                        ],
                    )
                tx.audit(
                    ClipStatusChanged(
                        actor,
                        clip_id=clip_id or "",
                        previous=previous,
                        status=status,
                        audience=audience,
                        decision_id=decision_id,
                    )
                )
            scan_context = {
                **view["context"],
                "sources_run": ran,
                "source_errors": errors,
                "requested_cameos": scan.requested_cameos,
                "media": media.to_dict() if media else None,
            }
            tx.execute(
                "INSERT INTO scans (id, clip_id, stage, context, created_at, duration_ms, view, "
                "job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    scan_id,
                    clip_id,
                    scan.stage,
                    _json(scan_context),
                    at,
                    duration_ms,
                    _json(view),
                    job_id,
                ],
            )
            for (_, signal), signal_doc in zip(signals, signal_docs, strict=True):
                tx.execute(
                    "INSERT INTO signals (id, scan_id, kind, model_id, data) VALUES (?, ?, ?, ?, ?)",
                    [new_id("sig"), scan_id, signal.kind, signal.model_id, _json(signal_doc)],
                )
            details = {
                k: decision[k]
                for k in (
                    "reasons",
                    "preserve_evidence",
                    "overridden",
                    "errors",
                    "shadow_outcome",
                    "explanation",
                )
            }
            tx.execute(
                "INSERT INTO decisions (id, scan_id, clip_id, outcome, rules, shadow, "
                "policy_version, queue, priority, decided_by, reason, created_at, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                [
                    decision_id,
                    scan_id,
                    clip_id,
                    outcome,
                    _json(decision["rules"]),
                    _json(decision["shadow"]),
                    decision["version"],
                    decision["queue"],
                    decision["priority"],
                    ", ".join(decision["reasons"]) or None,
                    at,
                    _json(details),
                ],
            )
            if decision["queue"]:
                item_id = self._open_item(tx, clip_id, decision_id, decision, at)
            tx.audit(
                ScanRecorded(
                    actor,
                    scan_id=scan_id,
                    clip_id=clip_id,
                    stage=scan.stage,
                    decision_id=decision_id,
                    outcome=outcome,
                    policy_version=decision["version"],
                    signals=len(signals),
                )
            )
        return GateResult(
            clip_id=clip_id,
            scan_id=scan_id,
            decision_id=decision_id,
            decision=decision,
            signals=signal_docs,
            sources_run=ran,
            duration_ms=round(duration_ms, 1),
            stage=scan.stage,
            status=status,
            audience=audience,
            queue_item_id=item_id,
            source_errors=errors,
            media=media.to_dict() if media else None,
        )

    def _open_item(
        self, tx: Any, clip_id: str | None, decision_id: str, decision: dict[str, Any], at: Any
    ) -> str:
        queue = str(decision["queue"])
        if clip_id is not None:
            row = tx.execute(
                "SELECT id FROM queue_items WHERE clip_id = ? AND queue = ? "
                "AND status IN ('open', 'claimed')",
                [clip_id, queue],
            ).fetchone()
            if row is not None:
                return str(row[0])  # one open item per clip and queue; the new decision is on it
        item_id = new_id("qi")
        priority = int(decision["priority"] or 0)
        reason = ", ".join(decision["reasons"]) or "; ".join(
            e.get("message", "") for e in decision.get("errors", [])
        )
        tx.execute(
            "INSERT INTO queue_items (id, clip_id, decision_id, queue, priority, reason, status, "
            "due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
            [
                item_id,
                clip_id,
                decision_id,
                queue,
                priority,
                reason or decision["outcome"],
                at + due_in(priority),
                at,
            ],
        )
        tx.audit(
            QueueItemChanged(
                None,
                item_id=item_id,
                queue=queue,
                transition="opened",
                clip_id=clip_id,
                decision_id=decision_id,
            )
        )
        return item_id

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
            self._clip_row(parent_clip_id)
        item = self.intake.ingest(source, declared_name)
        clip_id = new_id("clip")
        request_id = new_id("scanreq")
        at = now()
        origin = "remix" if parent_clip_id else "upload"
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT INTO clips (id, creator_id, prompt, origin, parent_clip_id, status, "
                "media_sha256, audience, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'draft', ?, 'everyone', ?, ?)",
                [clip_id, creator.id, prompt, origin, parent_clip_id, item.sha256, at, at],
            )
            tx.audit(
                ClipStatusChanged(
                    creator.id, clip_id=clip_id, previous=None, status="draft", audience="everyone"
                )
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
        existing = self.store.query(
            "SELECT s.id, s.clip_id, d.id, d.outcome FROM scans s "
            "JOIN decisions d ON d.scan_id = s.id WHERE s.job_id = ?",
            [request_id],
        )
        if existing:
            scan_id, clip_id, decision_id, outcome = existing[0]
            return {
                "scan_id": scan_id,
                "clip_id": clip_id,
                "decision_id": decision_id,
                "outcome": outcome,
                "repeated": True,
            }
        clip = self._clip_row(str(payload["clip_id"]))
        creator = self.users.get(clip["creator_id"]) if clip["creator_id"] else None
        item = self.intake.open_stored(str(payload["sha256"]))
        try:
            result = self._scan_item(
                item,
                creator,
                clip["prompt"],
                str(payload.get("stage") or "upload"),
                clip,
                clip["parent_clip_id"],
                clip["origin"],
                request_id,
            )
        except _AlreadyScanned as done:
            return {"scan_id": done.scan_id, "clip_id": clip["id"], "repeated": True}
        return {
            "scan_id": result.scan_id,
            "clip_id": result.clip_id,
            "decision_id": result.decision_id,
            "outcome": result.decision["outcome"],
        }

    # -- reading ---------------------------------------------------------------------------------

    def _check_prompt_text(self, prompt: str) -> str:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty")
        limit = self.config.max_prompt_chars
        if len(prompt) > limit:
            raise ValueError(f"the prompt is {len(prompt)} characters; the limit is {limit}")
        return prompt.strip()

    def _clip_row(self, clip_id: str) -> dict[str, Any]:
        rows = self.store.query_dicts(
            "SELECT id, creator_id, prompt, origin, parent_clip_id, status, media_sha256, "
            "audience, created_at, updated_at FROM clips WHERE id = ?",
            [str(clip_id)[:64]],
        )
        if not rows:
            raise NotFound(f"no clip {str(clip_id)[:64]}")
        return rows[0]

    def clip(self, clip_id: str) -> dict[str, Any]:
        """A clip with its latest decision's outcome (for its creator and staff)."""
        row = self._clip_row(clip_id)
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
        self._clip_row(clip_id)
        rows = self.store.query_dicts(
            "SELECT id, scan_id, outcome, rules, shadow, policy_version, queue, priority, "
            "decided_by, reason, created_at, details FROM decisions WHERE clip_id = ? "
            "ORDER BY created_at DESC, id DESC",
            [clip_id],
        )
        out = []
        for row in rows:
            rules = _loads(row["rules"]) or []
            details = _loads(row["details"]) or {}
            if not full:
                out.append(
                    {
                        "id": row["id"],
                        "outcome": row["outcome"],
                        "by": "moderator" if row["decided_by"] else "policy",
                        "reasons": details.get("reasons")
                        or ([row["reason"]] if row["reason"] else []),
                        "rules": [
                            {"id": r.get("id"), "reason": r.get("reason")}
                            for r in rules
                            if isinstance(r, dict)
                        ],
                        "moderator_reason": row["reason"] if row["decided_by"] else None,
                        "policy_version": row["policy_version"],
                        "created_at": row["created_at"],
                    }
                )
                continue
            row["rules"] = rules
            row["shadow"] = _loads(row["shadow"])
            row["details"] = details
            row["signals"] = self.signals_of(row["scan_id"]) if row["scan_id"] else []
            out.append(row)
        return out

    def signals_of(self, scan_id: str) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT data FROM signals WHERE scan_id = ? ORDER BY id", [scan_id])
        return [_loads(r[0]) for r in rows]


class _AlreadyScanned(Exception):
    def __init__(self, scan_id: str) -> None:
        super().__init__(scan_id)
        self.scan_id = scan_id
