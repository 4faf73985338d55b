"""The app-client side of the pipeline: uploads and remixes through the gate, the ranked feed, reports, appeals.

Uploads and remixes are scanned by the gate like any other
media; a remix keeps its parent id and the C2PA ingredients of its media,
and is refused when its parent is not live (blocked, queued, taken down) or
not visible to the remixer. The feed shows published clips only, never
age-restricted ones to teens, stops at a teen's daily limit, and ranks by
recency, follows and mutuals, with an optional plain-language instruction
("more animals, no sports") re-ranking by the meaning of each clip's prompt
(all-MiniLM-L6-v2, loaded once). Reports open or escalate ONE ``reports``
queue item per clip with a deadline by reason, and re-decide the clip with
the active policy at stage ``report`` (a re-decision naming its own queue,
e.g. ``child_safety``, also opens or escalates ONE item there); appeals (the clip's creator only)
open an ``appeals`` item. Every change is audited in its own transaction.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.answers import answer
from pipeline.decide import Decided, DecisionRequest
from pipeline.lineage import can_see, require_remixable
from pipeline.sources import ScanInput
from store.clips import Clips
from store.db import Conflict, NotFound, now
from store.decisions import Decisions, RecordedDecision
from store.queue import QueueRequest, open_or_escalate
from store.reports import audit_report, insert_appeal, insert_report, open_reports
from store.users import User, Users

if TYPE_CHECKING:
    from detectors.characters.semantic import TextEmbedder
    from pipeline.decide import DecisionPath
    from pipeline.gate import Gate
    from pipeline.teens import TeenService
    from store.db import Store

STAFF_ROLES = frozenset({"admin", "moderator"})
REPORTS_QUEUE = "reports"
APPEALS_QUEUE = "appeals"

# Report reason -> (priority, deadline). Child safety is the only one-hour
# class; harms to a real person (likeness, self-harm) come next.
REPORT_REASONS: dict[str, tuple[int, timedelta]] = {
    "child_safety": (95, timedelta(hours=1)),
    "self_harm": (85, timedelta(hours=4)),
    "likeness": (80, timedelta(hours=4)),
    "sexual_content": (60, timedelta(hours=24)),
    "violence": (60, timedelta(hours=24)),
    "hate": (60, timedelta(hours=24)),
    "harassment": (50, timedelta(hours=24)),
    "copyright": (40, timedelta(hours=24)),
    "spam": (30, timedelta(hours=24)),
    "other": (30, timedelta(hours=24)),
}
# Each further distinct reporter makes the item a little more urgent.
ESCALATION_STEP = 5
MAX_PRIORITY = 100
# A report-stage decision at or above this priority holds the clip out of the
# feed until a human decides (lower ones stay live: reports alone must not let
# a brigade take a clip down).
HOLD_PRIORITY = 90
# Hiding a live clip before review needs this much corroboration: distinct reporters,
# each counting 1.0 (accounts 30+ days old), 0.5 (7+ days) or 0.25 (newer). Staff count at once.
CORROBORATION_WEIGHT = 2.0
APPEAL_PRIORITY = 50
APPEAL_DEADLINE = timedelta(hours=24)
APPEALABLE = frozenset({"block", "takedown", "age_restrict", "label"})
MAX_DETAILS_CHARS = 2000
MAX_INSTRUCTION_CHARS = 300
MAX_TERMS = 8
MAX_FEED_LIMIT = 100
CANDIDATES = 500

# Ranking weights. Recency halves every RECENCY_HALF_LIFE_H hours.
RECENCY_HALF_LIFE_H = 24.0
FOLLOW_BOOST = 0.6
MUTUAL_BOOST = 0.3
SAME_CREATOR_DECAY = 0.8
INSTRUCTION_WEIGHT = 5.0
# all-MiniLM-L6-v2 cosine, prompt vs. a short topic ("animals", "sports"): on
# bench/feed.py's labelled set no off-topic prompt reached 0.23 while 13 of 16
# on-topic ones scored 0.25 or more (precision 1.0, recall 0.81 at 0.25).
# Similarity below the floor adds nothing, so noise cannot outrank a follow.
NOISE_FLOOR = 0.15
MATCH_MIN = 0.25
EXCLUDE_MIN = 0.25

_SPLIT = re.compile(r"[,;.\n]+|\bbut\b|\band\b(?=\s+(?:no|not|less|fewer|more|without)\b)", re.I)
_NEGATION = re.compile(
    r"^(?:no|not|without|less|fewer|avoid|hide|skip|never|none|nothing with|"
    r"do not show|don'?t show|stop showing|no more)\s+(?:of\s+|any\s+|more\s+)?",
    re.I,
)
_POSITIVE = re.compile(
    r"^(?:(?:show|give)\s+me|more|some|lots of|plenty of|only|i want|i like|i love|"
    r"show)\s+(?:of\s+|more\s+)?",
    re.I,
)


@dataclass(frozen=True)
class Instruction:
    """A feed instruction split into wanted and unwanted topics."""

    text: str
    more: list[str] = field(default_factory=list)
    less: list[str] = field(default_factory=list)


def parse_instruction(text: str) -> Instruction:
    """``"more animals, no sports"`` -> more=["animals"], less=["sports"]; negations by leading word."""
    text = (text or "").strip()
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise ValueError(f"the instruction is longer than {MAX_INSTRUCTION_CHARS} characters")
    more: list[str] = []
    less: list[str] = []
    for raw in _SPLIT.split(text):
        part = (raw or "").strip().strip("'\"!? ")
        if not part:
            continue
        negated = _NEGATION.match(part)
        if negated:
            term = part[negated.end() :].strip()
            target = less
        else:
            positive = _POSITIVE.match(part)
            term = part[positive.end() :].strip() if positive else part
            target = more
        if term and term.lower() not in (t.lower() for t in more + less):
            target.append(term[:100])
    if len(more) + len(less) > MAX_TERMS:
        raise ValueError(f"at most {MAX_TERMS} topics in one instruction")
    return Instruction(text, more, less)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _today() -> date:
    return now().date()


class FeedService:
    """Posts, remixes, the feed, reports and appeals."""

    def __init__(
        self,
        store: Store,
        users: Users,
        gate: Gate,
        path: DecisionPath,
        teens: TeenService,
        *,
        threads: int = 1,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.store = store
        self.users = users
        self.gate = gate
        self.path = path
        self.teens = teens
        self.clips = Clips(store)
        self.records = Decisions(store)
        self.threads = threads
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        # Prompt embeddings by clip id: prompts never change once a clip exists.
        self._prompt_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = 50_000

    # -- models ------------------------------------------------------------------------

    @property
    def embedder(self) -> TextEmbedder:
        with self._embedder_lock:
            if self._embedder is None:
                from detectors.characters.semantic import MiniLMTextEmbedder

                self._embedder = MiniLMTextEmbedder(threads=self.threads)
            return self._embedder

    # -- posting -------------------------------------------------------------------------

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

    def my_clips(self, user: User, limit: int = 100) -> list[dict[str, Any]]:
        """The user's own clips, newest first, with each one's latest decision outcome."""
        return self.store.query_dicts(
            "SELECT c.id AS clip_id, c.prompt, c.origin, c.parent_clip_id, c.status, c.audience, "
            "c.created_at, d.id AS decision_id, d.outcome AS decision_outcome, "
            "d.reason AS decision_reason FROM clips c LEFT JOIN ("
            "  SELECT clip_id, id, outcome, reason, row_number() OVER "
            "  (PARTITION BY clip_id ORDER BY created_at DESC, id DESC) AS n FROM decisions"
            ") d ON d.clip_id = c.id AND d.n = 1 "
            "WHERE c.creator_id = ? ORDER BY c.created_at DESC, c.id LIMIT ?",
            [user.id, max(1, min(int(limit), 500))],
        )

    # -- the feed ------------------------------------------------------------------------

    def _prompt_matrix(self, clips: list[dict[str, Any]]) -> np.ndarray:
        missing = [c for c in clips if c["id"] not in self._prompt_vectors and c["prompt"]]
        if missing:
            vectors = self.embedder.embed([str(c["prompt"])[:1000] for c in missing])
            for clip, vec in zip(missing, vectors, strict=True):
                self._prompt_vectors[clip["id"]] = vec
            while len(self._prompt_vectors) > self._cache_size:
                self._prompt_vectors.popitem(last=False)
        dim = self.embedder.info.embedding_dim or 384
        rows = [
            self._prompt_vectors.get(c["id"], np.zeros(dim, np.float32))
            if c["prompt"]
            else np.zeros(dim, np.float32)
            for c in clips
        ]
        return np.vstack(rows) if rows else np.zeros((0, dim), np.float32)

    def feed(self, user: User, instruction: str | None = None, limit: int = 20) -> dict[str, Any]:
        """Ranked live clips for ``user``: ``{"items": [{clip_id, creator, reason, ...}], ...}``."""
        started = time.perf_counter()
        limit = int(limit)
        if not 1 <= limit <= MAX_FEED_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_FEED_LIMIT}")
        parsed = parse_instruction(instruction) if instruction and instruction.strip() else None
        # Daily limits (teens by default, any account that set one) live in the teen service.
        limits = self.teens
        remaining = limits.remaining_today(user)
        doc: dict[str, Any] = {
            "items": [],
            "instruction": None
            if parsed is None
            else {"text": parsed.text, "more": parsed.more, "less": parsed.less},
            "limit_reached": False,
            "remaining_today": remaining,
        }
        if remaining is not None and remaining <= 0:
            doc["limit_reached"] = True
            doc["notice"] = "daily limit reached: no more clips today"
            return doc
        audience_sql = "AND c.audience <> 'adults' " if user.is_teen else ""
        params: list[Any] = [user.id, user.id, user.id]
        if remaining is not None:
            # A limited account is not served today's clips again: the limit counts clips.
            audience_sql += (
                "AND c.id NOT IN (SELECT clip_id FROM feed_views WHERE user_id = ? AND day = ?) "
            )
            params += [user.id, _today()]
        clips = self.store.query_dicts(
            "SELECT c.id, c.creator_id, c.prompt, c.origin, c.parent_clip_id, c.audience, "
            "c.created_at, u.handle AS creator, "
            "EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ? AND f.followee_id = c.creator_id) "
            "AS following, "
            "EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = c.creator_id AND f.followee_id = ?) "
            "AS follows_you "
            "FROM clips c JOIN users u ON u.id = c.creator_id "
            "WHERE c.status = 'published' AND NOT u.disabled AND c.creator_id <> ? "
            f"{audience_sql}"
            "ORDER BY c.created_at DESC, c.id LIMIT ?",
            [*params, CANDIDATES],
        )
        at = now()
        scored: list[tuple[float, dict[str, Any], list[str]]] = []
        sims_more = sims_less = None
        if parsed is not None and clips and (parsed.more or parsed.less):
            prompts = self._prompt_matrix(clips)
            if parsed.more:
                sims_more = prompts @ self.embedder.embed(parsed.more).T
            if parsed.less:
                sims_less = prompts @ self.embedder.embed(parsed.less).T
        excluded = 0
        for i, clip in enumerate(clips):
            age_h = max(0.0, (at - _aware(clip["created_at"], at)).total_seconds() / 3600.0)
            score = math.pow(0.5, age_h / RECENCY_HALF_LIFE_H)
            reasons: list[str] = []
            if sims_less is not None and parsed is not None:
                j = int(np.argmax(sims_less[i]))
                if float(sims_less[i, j]) >= EXCLUDE_MIN:
                    excluded += 1
                    continue
            if sims_more is not None and parsed is not None:
                j = int(np.argmax(sims_more[i]))
                sim = float(sims_more[i, j])
                score += INSTRUCTION_WEIGHT * max(0.0, sim - NOISE_FLOOR)
                if sim >= MATCH_MIN:
                    reasons.append(f"matches '{parsed.more[j]}' ({sim:.2f})")
            if clip["following"]:
                score += FOLLOW_BOOST
                if clip["follows_you"]:
                    score += MUTUAL_BOOST
                    reasons.append("from a mutual")
                else:
                    reasons.append("from someone you follow")
            if not reasons:
                reasons.append(f"recent from @{clip['creator']}")
            scored.append((score, clip, reasons))
        take = limit if remaining is None else min(limit, remaining)
        items = _diversified(scored, take)
        doc["items"] = items
        doc["excluded_by_instruction"] = excluded
        if remaining is not None:
            limits.record_views(user, [it["clip_id"] for it in items])
            doc["remaining_today"] = remaining - len(items)
            if doc["remaining_today"] <= 0:
                doc["limit_reached"] = True
                doc["notice"] = "daily limit reached: no more clips today"
        doc["ranking"] = {
            "model": self.embedder.info.model_id if parsed is not None else None,
            "candidates": len(clips),
            "ms": round((time.perf_counter() - started) * 1000.0, 1),
        }
        return doc

    # -- reports ---------------------------------------------------------------------------

    def report(
        self, user: User, clip_id: str, reason: str, details: str | None = None
    ) -> dict[str, Any]:
        """Report a clip: the report door of the decision path, re-deciding its last scan.

        One ``reports`` queue item per clip (escalated by repeats). A live clip
        is held out of the feed before review only when the report is
        corroborated (see :func:`corroborated`) or the re-decision itself
        blocks it from a detector's finding; a re-decision naming its own queue
        (``child_safety`` at 90+) also opens or escalates an item there.
        """
        reason = (reason or "").strip().lower()
        if reason not in REPORT_REASONS:
            raise ValueError(f"reason must be one of: {', '.join(REPORT_REASONS)}")
        details = (details or "").strip() or None
        if details is not None and len(details) > MAX_DETAILS_CHARS:
            raise ValueError(f"details are longer than {MAX_DETAILS_CHARS} characters")
        clip = self._clip(clip_id)
        if not can_see(clip, user):
            raise NotFound(f"no clip {clip['id']}")
        if clip["creator_id"] == user.id:
            raise ValueError("you cannot report your own clip")
        at = now()
        others = [r for r in open_reports(self.store.conn, clip["id"]) if r[0] != user.id]
        reporters = [*{r[0] for r in others}, user.id]
        reasons = sorted({r[1] for r in others} | {reason})
        count = len(others) + 1
        base = max(REPORT_REASONS[r][0] for r in reasons)
        due = at + min(REPORT_REASONS[r][1] for r in reasons)
        view, scan_id = self.records.latest_view(clip["id"])
        creator = self.users.get(clip["creator_id"]) if clip["creator_id"] else None
        weight = self.reporter_weight(reporters)
        staff = user.role in STAFF_ROLES
        corroboration = {"reporters": len(reporters), "weight": round(weight, 2), "staff": staff}
        item_reason = f"reports: {count} ({', '.join(reasons)})"

        def status_rule(doc: dict[str, Any]) -> str | None:
            if clip["status"] != "published":
                return None
            if doc["outcome"] in ("block", "takedown"):
                return "taken_down"
            held = int(doc.get("priority") or 0) >= HOLD_PRIORITY
            if doc["outcome"] == "review" and held and (staff or weight >= CORROBORATION_WEIGHT):
                return "queued"
            return None

        report_id: list[str] = []

        def before(tx: Any) -> None:
            report_id.append(insert_report(tx, clip["id"], user.id, reason, details))

        def also(tx: Any, recorded: RecordedDecision) -> dict[str, Any]:
            doc = result_doc[0] if result_doc else {}
            specialist = doc.get("queue")
            item = None
            if specialist and specialist != REPORTS_QUEUE:
                item = open_or_escalate(
                    tx,
                    clip["id"],
                    recorded.decision_id,
                    QueueRequest(str(specialist), recorded.queue_priority or base,
                                 item_reason, recorded.queue_due_at),
                    user.id,
                )  # fmt: skip
            audit_report(
                tx, user.id, report_id[0], clip["id"], reason, count,
                recorded.queue_item_id or "", recorded.decision_id,
            )  # fmt: skip
            return {"specialist": item}

        result_doc: list[dict[str, Any]] = []
        decided_queue: list[QueueRequest] = []

        def queue_for(doc: dict[str, Any]) -> QueueRequest:
            # The policy's priority can raise the reports item and shorten its deadline.
            result_doc.append(doc)
            policy_priority = int(doc.get("priority") or 0)
            p = min(MAX_PRIORITY, max(base, policy_priority) + ESCALATION_STEP * (count - 1))
            d = min(due, at + timedelta(hours=1)) if policy_priority >= HOLD_PRIORITY else due
            why = item_reason + (f"; policy routes to {doc['queue']}" if doc.get("queue") else "")
            decided_queue.append(QueueRequest(REPORTS_QUEUE, p, why, d))
            return decided_queue[0]

        scan = ScanInput(
            stage="report",
            creator=creator,
            audience="teen" if creator is not None and creator.is_teen else "adult",
            prompt=clip["prompt"],
            clip_id=clip["id"],
        )
        req = DecisionRequest(
            door="report",
            scan=scan,
            actor=user,
            clip=clip,
            replay_view=view,
            replay_scan_id=scan_id,
            context={
                "report": {"reason": reason, "count": count, "reasons": reasons},
                "corroboration": corroboration,
            },
            status_rule=status_rule,
            queue=queue_for,
            before=before,
            also=also,
        )
        decided = self.path.decide(req)
        probe = result_doc[0]
        queued = decided_queue[0]
        specialist_item = (decided.extra or {}).get("specialist")
        return {
            "report_id": report_id[0],
            "clip_id": clip["id"],
            "queue_item_id": decided.queue_item_id,
            "queue": REPORTS_QUEUE,
            "priority": decided.queue_priority or queued.priority,
            "due_at": (decided.queue_due_at or queued.due_at or due).isoformat(),
            "reports": count,
            "transition": decided.queue_transition,
            "decision": {
                "id": decided.decision_id,
                "scan_id": decided.scan_id,
                "outcome": decided.decision["outcome"],
                "rules": [r["id"] for r in decided.decision["rules"]],
                "version": decided.decision["version"],
            },
            "clip_status": decided.status,
            "held": decided.status == "queued" and clip["status"] == "published",
            "specialist_queue": specialist_item and probe.get("queue"),
            "specialist_item_id": specialist_item.item_id if specialist_item else None,
        }

    def reporter_weight(self, reporter_ids: list[str]) -> float:
        """How much a set of distinct reporters counts: new accounts count less."""
        if not reporter_ids:
            return 0.0
        marks = ", ".join("?" for _ in reporter_ids)
        rows = self.store.query(
            f"SELECT id, created_at FROM users WHERE id IN ({marks})", list(reporter_ids)
        )
        at = now()
        total = 0.0
        for _, created in rows:
            age_days = (at - _aware(created, at)).total_seconds() / 86400.0
            total += 1.0 if age_days >= 30 else 0.5 if age_days >= 7 else 0.25
        return total

    def appeal(self, user: User, decision_id: str, message: str) -> dict[str, Any]:
        """The clip's creator appeals the latest decision on it: an ``appeals`` item with a deadline."""
        message = (message or "").strip()
        if not message:
            raise ValueError("an appeal needs a message")
        if len(message) > MAX_DETAILS_CHARS:
            raise ValueError(f"the message is longer than {MAX_DETAILS_CHARS} characters")
        decision_id = str(decision_id)[:64]
        rows = self.store.query_dicts(
            "SELECT d.id, d.clip_id, d.outcome, c.creator_id FROM decisions d "
            "JOIN clips c ON c.id = d.clip_id WHERE d.id = ?",
            [decision_id],
        )
        # Someone else's decision answers like a missing one: it is not theirs to know of.
        if not rows or rows[0]["creator_id"] != user.id:
            raise NotFound(f"no decision {decision_id}")
        decision = rows[0]
        latest = self.store.query(
            "SELECT id FROM decisions WHERE clip_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
            [decision["clip_id"]],
        )
        if latest and latest[0][0] != decision_id:
            raise Conflict("a newer decision replaced this one; appeal the latest decision")
        if decision["outcome"] not in APPEALABLE:
            raise ValueError(
                f"a decision with outcome {decision['outcome']!r} cannot be appealed; "
                f"appealable: {', '.join(sorted(APPEALABLE))}"
            )
        at = now()
        due = at + APPEAL_DEADLINE
        with self.store.transaction() as tx:
            item = open_or_escalate(
                tx,
                decision["clip_id"],
                decision_id,
                QueueRequest(
                    APPEALS_QUEUE,
                    APPEAL_PRIORITY,
                    f"appeal of {decision['outcome']}: {message[:200]}",
                    due,
                ),
                user.id,
            )
            appeal_id = insert_appeal(
                tx, decision_id, decision["clip_id"], user.id, message, item.item_id
            )
        item_id = item.item_id
        return {
            "appeal_id": appeal_id,
            "decision_id": decision_id,
            "clip_id": decision["clip_id"],
            "queue": APPEALS_QUEUE,
            "queue_item_id": item_id,
            "priority": APPEAL_PRIORITY,
            "due_at": due.isoformat(),
            "status": "open",
        }


def _aware(value: Any, reference: datetime) -> datetime:
    """DuckDB may hand back naive timestamps; read them in the reference's zone."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=reference.tzinfo)
    return value  # type: ignore[no-any-return]


def _diversified(
    scored: list[tuple[float, dict[str, Any], list[str]]], take: int
) -> list[dict[str, Any]]:
    """Best first, each further clip of a creator already shown counting a little less."""
    remaining = sorted(scored, key=lambda s: (-s[0], str(s[1]["id"])))
    shown: dict[str, int] = {}
    items: list[dict[str, Any]] = []
    while remaining and len(items) < take:
        best_i = max(
            range(len(remaining)),
            key=lambda i: (
                remaining[i][0] * SAME_CREATOR_DECAY ** shown.get(remaining[i][1]["creator_id"], 0)
            ),
        )
        score, clip, reasons = remaining.pop(best_i)
        adjusted = score * SAME_CREATOR_DECAY ** shown.get(clip["creator_id"], 0)
        shown[clip["creator_id"]] = shown.get(clip["creator_id"], 0) + 1
        items.append(
            {
                "clip_id": clip["id"],
                "creator": clip["creator"],
                "reason": "; ".join(reasons),
                "score": round(adjusted, 4),
                "prompt": clip["prompt"],
                "origin": clip["origin"],
                "parent_clip_id": clip["parent_clip_id"],
                "created_at": clip["created_at"].isoformat()
                if isinstance(clip["created_at"], datetime)
                else clip["created_at"],
            }
        )
    return items
