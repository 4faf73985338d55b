"""The ranked feed: published clips for their audience, with an optional plain-language instruction.

The feed shows published clips only, never age-restricted ones to teens, and
stops at a daily limit. How it is ordered is the reader's choice
(``personalized_feed`` in their settings):

- personalised (the default): mutuals first, then people you follow, then
  everyone else; within each group by recency, re-ranked by an optional
  instruction ("more animals, no sports") read by the meaning of each clip's
  prompt (all-MiniLM-L6-v2, loaded once), with a creator's further clips
  counting a little less;
- not personalised: only the people you follow, newest first, and nothing
  else (an instruction is not applied; the answer says so).

Every item carries ``attribution``: ``[{character_id, name, text}]`` for the
characters its latest decision labelled under ``character_attribution``
(their rights holders' current text), ``[]`` otherwise.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from store.characters import Characters
from store.db import as_aware, now
from store.users import User

if TYPE_CHECKING:
    from detectors.characters.semantic import TextEmbedder
    from pipeline.teens import TeenService
    from store.db import Store
MAX_INSTRUCTION_CHARS = 300
MAX_TERMS = 8
MAX_FEED_LIMIT = 100
CANDIDATES = 500

# Groups, in the order they are shown when the feed is personalised.
TIER_MUTUAL = 0
TIER_FOLLOWING = 1
TIER_OTHERS = 2
# Ranking weights within a group. Recency halves every RECENCY_HALF_LIFE_H hours.
RECENCY_HALF_LIFE_H = 24.0
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


def _today() -> date:
    return now().date()


class FeedService:
    """The ranked feed."""

    def __init__(
        self,
        store: Store,
        teens: TeenService,
        *,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.store = store
        self.teens = teens
        self.characters = Characters(store)
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        # Prompt embeddings by clip id: prompts never change once a clip exists.
        self._prompt_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = 50_000

    @property
    def embedder(self) -> TextEmbedder:
        with self._embedder_lock:
            if self._embedder is None:
                from detectors.characters.semantic import MiniLMTextEmbedder

                self._embedder = MiniLMTextEmbedder()
            return self._embedder

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

    def feed(
        self, user: User, instruction: str | None = None, limit: int = 20, offset: int = 0
    ) -> dict[str, Any]:
        """Ranked live clips for ``user``: ``{"items": [{clip_id, creator, reason, ...}], ...}``.

        ``offset`` skips that many clips of the ranking; ``next_offset`` is where the next
        page starts (null: none). An account with a daily limit is never served a clip twice a
        day, so its served clips leave the ranking and its next page starts at the same offset.
        """
        started = time.perf_counter()
        limit, offset = int(limit), int(offset)
        if not 1 <= limit <= MAX_FEED_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_FEED_LIMIT}")
        if offset < 0:
            raise ValueError("offset must not be negative")
        parsed = parse_instruction(instruction) if instruction and instruction.strip() else None
        # Daily limits (teens by default, any account that set one) live in the teen service.
        limits = self.teens
        personalized = bool(limits.effective(user)["personalized_feed"])
        remaining = limits.remaining_today(user)
        doc: dict[str, Any] = {
            "items": [],
            "personalized": personalized,
            "instruction": None
            if parsed is None
            else {"text": parsed.text, "more": parsed.more, "less": parsed.less},
            "limit_reached": False,
            "remaining_today": remaining,
            "offset": offset,
            "next_offset": None,
        }
        if not personalized:
            doc["order"] = "people you follow, newest first (personalisation is off)"
            if parsed is not None:
                doc["instruction_applied"] = False
                doc["note"] = "personalisation is off, so the instruction was not applied"
                parsed = None
        else:
            doc["order"] = "mutuals, then people you follow, then everyone else"
        if remaining is not None and remaining <= 0:
            doc["limit_reached"] = True
            doc["notice"] = "daily limit reached: no more clips today"
            return doc
        # Everyone's newest clips and, separately, the newest of the people followed, so an
        # older clip of a mutual is not crowded out of the candidates by strangers' new ones.
        clips = self._candidates(user, followed_only=True, limited=remaining is not None)
        if personalized:
            seen = {c["id"] for c in clips}
            clips += [
                c
                for c in self._candidates(user, followed_only=False, limited=remaining is not None)
                if c["id"] not in seen
            ]
            clips.sort(key=lambda c: (as_aware(c["created_at"], now()), c["id"]), reverse=True)
        take = limit if remaining is None else min(limit, remaining)
        # Rank one clip past the page: whether it exists says whether a next page does.
        upto = offset + take + 1
        if personalized:
            ranked, excluded = self._ranked(clips, parsed, upto)
            doc["excluded_by_instruction"] = excluded
        else:
            ranked = [
                _item(clip, ["from a mutual" if clip["follows_you"] else "from someone you follow"])
                for clip in clips[:upto]
            ]
        items = ranked[offset : offset + take]
        if len(ranked) > offset + take:
            doc["next_offset"] = offset if remaining is not None else offset + take
        credits = self.characters.attributions([it["clip_id"] for it in items])
        for it in items:
            it["attribution"] = credits.get(it["clip_id"], [])
        doc["items"] = items
        if remaining is not None:
            limits.record_views(user, [it["clip_id"] for it in items])
            doc["remaining_today"] = remaining - len(items)
            if doc["remaining_today"] <= 0:
                doc["limit_reached"] = True
                doc["notice"] = "daily limit reached: no more clips today"
                doc["next_offset"] = None
        doc["ranking"] = {
            "model": self.embedder.info.model_id if parsed is not None else None,
            "candidates": len(clips),
            "ms": round((time.perf_counter() - started) * 1000.0, 1),
        }
        return doc

    def _candidates(
        self, user: User, *, followed_only: bool, limited: bool
    ) -> list[dict[str, Any]]:
        """Live clips ``user`` may see, newest first (at most ``CANDIDATES``)."""
        where = "AND c.audience <> 'adults' " if user.is_teen else ""
        params: list[Any] = [user.id, user.id, user.id]
        if followed_only:
            where += (
                "AND EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ? "
                "AND f.followee_id = c.creator_id) "
            )
            params.append(user.id)
        if limited:
            # A limited account is not served today's clips again: the limit counts clips.
            where += (
                "AND c.id NOT IN (SELECT clip_id FROM feed_views WHERE user_id = ? AND day = ?) "
            )
            params += [user.id, _today()]
        return self.store.query_dicts(
            "SELECT c.id, c.creator_id, c.prompt, c.origin, c.parent_clip_id, c.audience, "
            "c.created_at, u.handle AS creator, "
            "EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ? AND f.followee_id = c.creator_id) "
            "AS following, "
            "EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = c.creator_id AND f.followee_id = ?) "
            "AS follows_you "
            "FROM clips c JOIN users u ON u.id = c.creator_id "
            "WHERE c.status = 'published' AND NOT u.disabled AND c.creator_id <> ? "
            f"{where}"
            "ORDER BY c.created_at DESC, c.id LIMIT ?",
            [*params, CANDIDATES],
        )

    def _ranked(
        self, clips: list[dict[str, Any]], parsed: Instruction | None, take: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Mutuals, then people followed, then the rest; recency and the instruction within each."""
        at = now()
        sims_more = sims_less = None
        if parsed is not None and clips and (parsed.more or parsed.less):
            prompts = self._prompt_matrix(clips)
            if parsed.more:
                sims_more = prompts @ self.embedder.embed(parsed.more).T
            if parsed.less:
                sims_less = prompts @ self.embedder.embed(parsed.less).T
        excluded = 0
        tiers: dict[int, list[tuple[float, dict[str, Any], list[str]]]] = {}
        for i, clip in enumerate(clips):
            age_h = max(0.0, (at - as_aware(clip["created_at"], at)).total_seconds() / 3600.0)
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
            if clip["following"] and clip["follows_you"]:
                tier = TIER_MUTUAL
                reasons.append("from a mutual")
            elif clip["following"]:
                tier = TIER_FOLLOWING
                reasons.append("from someone you follow")
            else:
                tier = TIER_OTHERS
                if not reasons:
                    reasons.append(f"recent from @{clip['creator']}")
            tiers.setdefault(tier, []).append((score, clip, reasons))
        items: list[dict[str, Any]] = []
        for tier in sorted(tiers):
            if len(items) >= take:
                break
            items += _diversified(tiers[tier], take - len(items))
        return items, excluded

    # -- reports ---------------------------------------------------------------------------


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
        items.append(_item(clip, reasons, round(adjusted, 4)))
    return items


def _item(clip: dict[str, Any], reasons: list[str], score: float | None = None) -> dict[str, Any]:
    return {
        "clip_id": clip["id"],
        "creator": clip["creator"],
        "reason": "; ".join(reasons),
        "score": score,
        "prompt": clip["prompt"],
        "origin": clip["origin"],
        "parent_clip_id": clip["parent_clip_id"],
        "created_at": clip["created_at"].isoformat()
        if isinstance(clip["created_at"], datetime)
        else clip["created_at"],
    }
