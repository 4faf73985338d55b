"""The one decision path: door → signal sources → merge → policy → record → actions → result.

Every door (upload, scan, prompt check, generate at the prompt and output
stage, remix, report, appeal and dispute verdicts, takedown after a
revocation, a moderator's decision) hands a :class:`DecisionRequest` to
:meth:`DecisionPath.decide`:

1. **Signals.** Live sources (the registry the composition root assembled)
   run on the request's :class:`~pipeline.sources.ScanInput`, or a stored
   signal view is replayed (a report, a takedown, a verdict re-decide what
   the clip's last scan found). A source that fails is recorded, never
   fatal -- except a bad upload (:class:`MediaError`), which the door refuses.
2. **Merge** the sources' view parts and the decision context (who, which
   audience, which stage, remix lineage, whether the clip is live).
3. **Policy** (:func:`judge`): the active version decides; the shadow
   version is evaluated and compared, never enforced; an adult's clip is
   checked again for a teen audience; a failed source forces at least
   ``review``. Backtests replay stored views through the same function.
4. **Override.** A moderator's decision, or a door's forced outcome (a
   takedown after a revocation), replaces the outcome -- the policy's view
   stays in the record beside it.
5. **Record** the scan, signals, decision, clip move, queue item and audit
   events in one transaction (:mod:`store.decisions`), with the door's own
   rows (a report, an appeal verdict) in the same transaction.
6. **Actions** follow from the outcome: publish, hold (queue), block, take
   down, and the queue item a human needs.

The result is a :class:`Decided`; :mod:`pipeline.answers` shapes it for the
person who asked.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from detectors.base import Signal
from pipeline.executor import Executor, LocalExecutor, Ran
from pipeline.judge import judge
from pipeline.sources import ScanInput, SignalSource
from policies.schema import SIGNAL_ROOTS
from store.accounts import strike_summary
from store.clips import NewClip
from store.db import Store, Tx
from store.decisions import (
    ClipChange,
    DecisionRecord,
    Decisions,
    RecordedDecision,
    ScanRecord,
    SignalRecord,
)
from store.jsondoc import dumps
from store.queue import QueueRequest
from store.users import User

if TYPE_CHECKING:
    from pipeline.intake import MediaItem
    from pipeline.policy_store import PolicyService

log = logging.getLogger("greenroom.decide")

# Context keys the path owns: a source cannot change who is judged or where.
OWNED_CONTEXT = ("creator", "audience", "stage", "published", "is_remix", "parent_id")


def clip_status_for(outcome: str, stage: str) -> str:
    """The clip status a decision leads to (output clips wait for signing before they go live)."""
    if outcome in ("allow", "label", "age_restrict"):
        return "pending" if stage == "output" else "published"
    return {"review": "queued", "block": "blocked", "takedown": "taken_down"}[outcome]


def merge_part(
    view: dict[str, Any], context: dict[str, Any], part: Mapping[str, Any], who: str
) -> None:
    """Fold one source's view part into the merged view (lists extend, objects merge)."""
    for key, value in part.items():
        if key == "context":
            if isinstance(value, Mapping):
                for ckey, cvalue in value.items():
                    if isinstance(cvalue, Mapping) and isinstance(context.get(ckey), dict):
                        _fold(context[ckey], cvalue)
                    else:
                        context[ckey] = dict(cvalue) if isinstance(cvalue, Mapping) else cvalue
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


def _fold(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Two sources' parts of one context object: lists extend, counts add, the rest is replaced."""
    for key, value in part.items():
        have: Any = into.get(key)
        if isinstance(have, list) and isinstance(value, list):
            into[key] = [*have, *value]
        elif isinstance(have, int | float) and isinstance(value, int | float):
            into[key] = have + value
        else:
            into[key] = value


def _dedupe_lists(view: dict[str, Any]) -> None:
    """A replayed view and a fresh run can list the same finding twice; keep it once."""
    for key, value in view.items():
        if isinstance(value, list):
            seen: set[str] = set()
            kept = []
            for item in value:
                mark = dumps(item)
                if mark not in seen:
                    seen.add(mark)
                    kept.append(item)
            view[key] = kept


@dataclass(frozen=True)
class Override:
    """An outcome that replaces the policy's: a moderator's decision or a door's forced one."""

    outcome: str
    reason: str
    decided_by: str | None = None  # the moderator; None for a door's forced outcome
    status: str | None = None  # the clip status it leads to (None: leave the clip as it is)
    audience: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class DecisionRequest:
    """Everything one door hands the path."""

    door: str
    scan: ScanInput
    actor: User | None = None  # who caused it (default: the creator)
    clip: dict[str, Any] | None = None  # the clip decided about, when it exists
    origin: str = "upload"  # for a clip the decision creates
    media: MediaItem | None = None
    # Re-decide a stored signal view instead of running the live sources.
    replay_view: dict[str, Any] | None = None
    replay_scan_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    override: Override | None = None
    # A door's conditional override, decided from the policy's decision document
    # (an overturned prompt appeal waives the reasons the moderator cleared).
    waiver: Callable[[dict[str, Any]], Override | None] | None = None
    # A door's own queue (reports), fixed or computed from the policy's decision document.
    queue: QueueRequest | Callable[[dict[str, Any]], QueueRequest] | None = None
    # Clip status the door decides itself (a report moves only a live clip); None: from the outcome.
    status_rule: Callable[[dict[str, Any]], str | None] | None = None
    job_id: str | None = None
    # False: no signal source runs (the account door judges the account's history only).
    live_sources: bool = True
    before: Callable[[Tx], Any] | None = None
    also: Callable[[Tx, RecordedDecision], Any] | None = None


@dataclass
class Decided:
    """What one pass through the path decided, recorded and did."""

    door: str
    clip_id: str | None
    scan_id: str | None
    decision_id: str
    decision: dict[str, Any]
    signals: list[dict[str, Any]]
    sources_run: list[str]
    duration_ms: float
    stage: str = "upload"
    status: str | None = None
    previous_status: str | None = None
    audience: str = "everyone"
    queue_item_id: str | None = None
    queue_transition: str | None = None
    queue_priority: int | None = None
    queue_due_at: Any = None
    source_errors: list[dict[str, str]] = field(default_factory=list)
    media: dict[str, Any] | None = None
    extra: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "door": self.door,
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


class DecisionPath:
    """Runs every door's request through sources, policy, record and actions."""

    def __init__(
        self,
        store: Store,
        policies: PolicyService,
        sources: Sequence[SignalSource],
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.policies = policies
        self.sources = tuple(sources)
        self.decisions = Decisions(store)
        # Where the sources compute (pipeline.executor); recording stays here.
        self.executor: Executor = executor or LocalExecutor()

    # -- signals ------------------------------------------------------------------------

    def run_sources(
        self, scan: ScanInput, sources: Sequence[SignalSource] | None = None
    ) -> tuple[list[tuple[str, Signal]], dict[str, Any], dict[str, Any], list[str], list[dict[str, str]]]:  # fmt: skip
        """(signals, view, context parts, sources run, source errors) for one scan."""
        signals, view, context, ran, errors, _ = self._run_sources(scan, sources)
        return signals, view, context, ran, errors

    def _run_sources(
        self, scan: ScanInput, sources: Sequence[SignalSource] | None = None
    ) -> tuple[list[tuple[str, Signal]], dict[str, Any], dict[str, Any], list[str], list[dict[str, str]], Ran]:  # fmt: skip
        signals: list[tuple[str, Signal]] = []
        view: dict[str, Any] = {}
        context: dict[str, Any] = {}
        ran: list[str] = []
        errors: list[dict[str, str]] = []
        where = self.executor.run(scan, self.sources if sources is None else sources)
        for run in where.runs:
            name = run.name
            if run.error is not None:
                # The class name only: exception text can carry input values.
                errors.append({"source": name, "error": run.error})
                continue
            ran.append(name)
            signals += [(name, s) for s in run.signals]
            if isinstance(run.part, Mapping):
                merge_part(view, context, run.part, name)
        return signals, view, context, ran, errors, where

    # -- context ------------------------------------------------------------------------

    def _strikes(self, creator: User | None) -> dict[str, Any]:
        if creator is None:
            return {}
        # Strikes are counted by moderators (pipeline.review), not inferred from
        # clip status: a takedown for a revoked cameo is not the creator's fault.
        return strike_summary(self.store, creator.id)

    def context_for(
        self, req: DecisionRequest, extra: Mapping[str, Any], base: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        creator = req.scan.creator
        clip = req.clip
        context: dict[str, Any] = dict(base or {})
        context.update(
            {
                "creator": {
                    "id": creator.id if creator else "",
                    "role": creator.role if creator else "user",
                    "is_teen": bool(creator and creator.is_teen),
                    "verified": False,
                    **self._strikes(creator),
                },
                # A teen's clip is judged by the teen thresholds; an adult's clip is
                # judged as adult content and separately checked for teen viewers.
                "audience": "teen" if creator is not None and creator.is_teen else "adult",
                "stage": req.scan.stage,
                "published": bool(clip and clip["status"] == "published"),
                "is_remix": req.scan.parent_clip_id is not None
                or req.origin == "remix"
                or req.scan.stage == "remix",
                "parent_id": req.scan.parent_clip_id or "",
            }
        )
        for key, value in [*extra.items(), *req.context.items()]:
            if key in OWNED_CONTEXT:
                continue
            have = context.get(key)
            if isinstance(have, Mapping) and isinstance(value, Mapping):
                folded = dict(have)
                _fold(folded, value)
                context[key] = folded
            else:
                context[key] = value
        return context

    # -- the path -----------------------------------------------------------------------

    def decide(self, req: DecisionRequest) -> Decided:
        started = time.perf_counter()
        scan = req.scan
        # Live sources always run. A replaying door (report, takedown, a verdict)
        # hands them no media, so only the text side re-runs -- today's character
        # registry, today's consents for the lineage -- on top of the stored view.
        signals, view, extra, ran, errors, where = self._run_sources(
            scan, None if req.live_sources else ()
        )
        base: dict[str, Any] = {}
        if req.replay_view is not None:
            stored = dict(req.replay_view)
            base = dict(stored.pop("context", None) or {})
            fresh, view = view, stored
            merge_part(view, {}, fresh, "replay")
            _dedupe_lists(view)
            ran = ["replay", *ran]
        context = self.context_for(req, extra, base)
        active = self.policies.active()
        judgement = judge(
            active,
            self.policies.shadow(),
            view,
            context,
            source_errors=errors,
            stage=scan.stage,
        )
        doc = judgement.decision
        audience = judgement.audience
        policy_outcome = doc["outcome"]
        override = req.override
        if override is None and req.waiver is not None:
            override = req.waiver(doc)
        if override is not None:
            doc["policy_outcome"] = policy_outcome
            doc["outcome"] = override.outcome
            doc["override"] = {
                "outcome": override.outcome,
                "by": "moderator" if override.decided_by else req.door,
                "reason": override.reason,
                **dict(override.details),
            }
            if override.audience is not None:
                audience = override.audience
        doc["explanation"] = {
            "door": req.door,
            "sources_run": ran,
            "source_errors": errors,
            "stage": scan.stage,
            "audience": context["audience"],
            "clip_audience": audience,
            "teen_audience_check": judgement.teen_check,
            "forced_review": doc.get("forced_review", False),
            "signal_models": sorted({s.model_id for _, s in signals}),
            "replayed_scan": req.replay_scan_id,
            # Where the signals were computed: "local" or "ray:<node>" (pipeline.executor).
            "ran_on": where.ran_on,
        }
        if where.ran_on != "local" or where.fallback is not None:
            doc["explanation"]["ran_on_sources"] = where.placement
            # Store-free steps computed elsewhere for a source that ran here (face tracks).
            doc["explanation"]["ran_on_features"] = where.features_on
            doc["explanation"]["executor_fallback"] = where.fallback
        signal_docs = [{**s.to_dict(), "source": name} for name, s in signals]
        clip_change = self._clip_change(req, doc, audience, override)
        queue = self._queue_request(req, doc, override)
        actor = req.actor or scan.creator
        details = {
            k: doc.get(k)
            for k in (
                "reasons",
                "preserve_evidence",
                "overridden",
                "errors",
                "shadow_outcome",
                "explanation",
                "forced_review",
                "policy_outcome",
                "override",
            )
        }
        if override is not None:
            details.update(dict(override.details))
        duration_ms = (time.perf_counter() - started) * 1000.0
        record = DecisionRecord(
            door=req.door,
            actor_id=actor.id if actor else None,
            outcome=doc["outcome"],
            policy_version=doc["version"],
            rules=doc["rules"],
            shadow=doc["shadow"],
            details=details,
            queue=queue.queue if queue else None,
            priority=queue.priority if queue else None,
            reason=(override.reason if override else ", ".join(doc["reasons"])) or None,
            decided_by=override.decided_by if override else None,
            scan=ScanRecord(
                stage=scan.stage,
                context={
                    **context,
                    "door": req.door,
                    "sources_run": ran,
                    "source_errors": errors,
                    "requested_cameos": scan.requested_cameos,
                    "prompt_digest": prompt_digest(scan.prompt) if scan.prompt else None,
                    # A prompt-stage decision has no clip to hold the prompt: the reviewer reads it here.
                    "prompt": scan.prompt if scan.stage == "prompt" else None,
                    "media": req.media.to_dict() if req.media else None,
                },
                view={**view, "context": context},
                duration_ms=duration_ms,
                job_id=req.job_id,
            )
            if override is None or override.decided_by is None
            else None,
            scan_id=req.replay_scan_id if override is not None and override.decided_by else None,
            signals=[
                SignalRecord(s.kind, s.model_id, d)
                for (_, s), d in zip(signals, signal_docs, strict=True)
            ],
            clip=clip_change,
            clip_id=req.clip["id"] if req.clip else None,
            queue_request=queue,
        )
        recorded, extra_result = self.decisions.record(record, before=req.before, also=req.also)
        return Decided(
            door=req.door,
            clip_id=recorded.clip_id,
            scan_id=recorded.scan_id,
            decision_id=recorded.decision_id,
            decision=doc,
            signals=signal_docs,
            sources_run=ran,
            duration_ms=round(duration_ms, 1),
            stage=scan.stage,
            status=recorded.status or (req.clip["status"] if req.clip else None),
            previous_status=recorded.previous_status,
            audience=audience,
            queue_item_id=recorded.queue_item_id,
            queue_transition=recorded.queue_transition,
            queue_priority=recorded.queue_priority,
            queue_due_at=recorded.queue_due_at,
            source_errors=errors,
            media=req.media.to_dict() if req.media else None,
            extra=extra_result,
        )

    # -- actions ------------------------------------------------------------------------

    def _clip_change(
        self,
        req: DecisionRequest,
        doc: dict[str, Any],
        audience: str,
        override: Override | None,
    ) -> ClipChange | None:
        if req.scan.stage in ("prompt", "account") and req.clip is None:
            return None  # a prompt makes no clip until it is generated; an account has none
        if override is not None:
            if override.status is None or req.clip is None:
                return None
            return ClipChange(
                clip_id=req.clip["id"], status=override.status, audience=override.audience
            )
        if req.status_rule is not None:
            if req.clip is None:
                return None
            status = req.status_rule(doc)
            if status is None or status == req.clip["status"]:
                return None
            return ClipChange(clip_id=req.clip["id"], status=status)
        status = clip_status_for(doc["outcome"], req.scan.stage)
        sha = req.media.sha256 if req.media else None
        if req.clip is None:
            creator = req.scan.creator
            return ClipChange(
                new=NewClip(
                    creator_id=creator.id if creator else None,
                    prompt=req.scan.prompt,
                    origin=req.origin,
                    status=status,
                    parent_clip_id=req.scan.parent_clip_id,
                    media_sha256=sha,
                    audience=audience,
                )
            )
        return ClipChange(
            clip_id=req.clip["id"], status=status, audience=audience, media_sha256=sha
        )

    def _queue_request(
        self, req: DecisionRequest, doc: dict[str, Any], override: Override | None
    ) -> QueueRequest | None:
        if override is not None and (
            override.decided_by is not None or override.outcome == "allow"
        ):
            return None  # a human decided (now or on appeal): nothing more to queue
        if req.queue is not None:
            return req.queue(doc) if callable(req.queue) else req.queue
        if not doc.get("queue"):
            return None
        reason = ", ".join(doc.get("reasons") or []) or "; ".join(
            e.get("message", "") for e in doc.get("errors") or []
        )
        dedupe = None
        if req.clip is None and req.scan.stage == "prompt":
            creator = req.scan.creator
            # One item per creator and prompt: repeating a flagged prompt does not flood the queue.
            dedupe = (
                f"prompt:{creator.id if creator else ''}:{prompt_digest(req.scan.prompt or '')}"
            )
        return QueueRequest(
            queue=str(doc["queue"]),
            priority=int(doc.get("priority") or 0),
            reason=reason or doc["outcome"],
            dedupe_key=dedupe,
        )


def prompt_digest(text: str) -> str:
    """One prompt however it is spaced or cased: queue dedupe and appeal waivers match on it."""
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()[:32]
