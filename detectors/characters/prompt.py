"""The prompt gate for characters: names/aliases by rule and descriptions by meaning, one result per character.

Runs before anything is generated, so it is built for speed: the name side is
an index (see :mod:`detectors.characters.names`), the meaning side one sentence
embedding plus a faiss search (see :mod:`detectors.characters.semantic`).

Can catch: registered names and aliases in any case, with accents, full-width
or look-alike letters, invisible characters, leetspeak, spacing changes and one
typo; prompts that describe a character's registered description closely.
Cannot catch: descriptions unlike the registered one, names in scripts that do
not separate words (CJK aliases are matched only as whole space-separated
words), or typos of more than one edit per word.

A check costs time linear in the prompt's length and has a work budget (see
:mod:`detectors.characters.names`); a prompt that runs it out gets a result
marked ``budget_exhausted`` (with the matches found so far) for the caller to
send to review, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from detectors.base import DetectorError, Explanation
from detectors.characters.names import MODEL_ID as NAME_MODEL_ID
from detectors.characters.names import (
    STOPWORDS,
    BruteForceNameMatcher,
    NameHit,
    NameIndex,
    load_common_words,
)
from detectors.characters.semantic import (
    DEFAULT_THRESHOLDS,
    BruteForceDescriptionIndex,
    DescriptionIndex,
    TextEmbedder,
    prompt_pieces,
)
from detectors.characters.textnorm import canonical_tokens, normalize
from detectors.characters.types import CharacterMatch, CharacterRef
from detectors.text_normalise import BudgetedResult, WorkBudget, cap_combining_runs

MAX_PROMPT_CHARS = 4000
# A name match is a rule, not a probability: exact = 1.0, one typo in an
# n-letter name = 1 - 1/n. Below this a "match" is mostly noise.
NAME_THRESHOLD = 0.75


class CharacterMatches(BudgetedResult[CharacterMatch]):
    """The matches (a list, best first) plus ``budget_exhausted`` and ``budget`` from the name check."""


@dataclass(frozen=True)
class _Meta:
    name: str
    description: str


def clean_prompt(prompt: object, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """Validate a prompt: a non-empty string of at most ``max_chars`` characters."""
    if not isinstance(prompt, str):
        raise DetectorError(f"prompt must be text, got {type(prompt).__name__}")
    if len(prompt) > max_chars:
        # Refused rather than truncated: a name after the cut would pass unseen.
        raise DetectorError(f"prompt is {len(prompt)} characters; the limit is {max_chars}")
    # Marks past the 30th of a run are cut before normalising (quadratic in a
    # run's length, and stripped anyway): the emptiness test needs no more.
    if not normalize(cap_combining_runs(prompt)).text.strip():
        raise DetectorError("prompt is empty (nothing but spaces, control or invisible characters)")
    return prompt


class PromptCharacterMatcher:
    """Find registered characters in a prompt. Build once, then ``add``/``remove`` single characters."""

    def __init__(
        self,
        refs: Iterable[CharacterRef] = (),
        embedder: TextEmbedder | None = None,
        semantic_threshold: float | None = None,
        context_threshold: float | None = None,
        brute_force: bool = False,
        common_words: frozenset[str] | None = None,
        max_prompt_chars: int = MAX_PROMPT_CHARS,
        name_budget: int | None = None,
    ) -> None:
        words = load_common_words() if common_words is None else common_words
        self._names: NameIndex | BruteForceNameMatcher = (
            BruteForceNameMatcher(words) if brute_force else NameIndex(words)
        )
        self._embedder = embedder
        self._desc: DescriptionIndex | BruteForceDescriptionIndex | None = None
        if embedder is not None:
            dim = int(embedder.info.embedding_dim or embedder.embed(["x"]).shape[1])
            self._desc = BruteForceDescriptionIndex(dim) if brute_force else DescriptionIndex(dim)
            mid = embedder.info.model_id
            self.semantic_threshold = semantic_threshold or DEFAULT_THRESHOLDS.get(mid, 0.6)
        else:
            self.semantic_threshold = semantic_threshold or 1.0
        # An ambiguous name ("tux") with a prompt this close to the description
        # counts as corroborated, even with no shared context word.
        self.context_threshold = context_threshold or round(self.semantic_threshold * 0.7, 3)
        self.max_prompt_chars = max_prompt_chars
        self.name_budget = name_budget
        self._meta: dict[str, _Meta] = {}
        self.add_many(list(refs))

    def __len__(self) -> int:
        return len(self._meta)

    @property
    def model_ids(self) -> list[str]:
        return [NAME_MODEL_ID] + ([self._embedder.info.model_id] if self._embedder else [])

    def add_many(self, refs: list[CharacterRef]) -> None:
        """Register several characters (descriptions embedded in one batch)."""
        for ref in refs:
            self._names.add(ref.character_id, ref.name, ref.aliases, ref.description)
            self._meta[ref.character_id] = _Meta(ref.name, ref.description)
        with_desc = [r for r in refs if r.description.strip()]
        if self._embedder is not None and self._desc is not None:
            for r in refs:
                self._desc.remove(r.character_id)
            if with_desc:
                vecs = self._embedder.embed([r.description for r in with_desc])
                self._desc.add_many([r.character_id for r in with_desc], vecs)

    def add(self, ref: CharacterRef) -> None:
        """Register or replace one character; the next ``check`` sees it."""
        self.add_many([ref])

    def remove(self, character_id: str) -> None:
        self._names.remove(character_id)
        self._meta.pop(character_id, None)
        if self._desc is not None:
            self._desc.remove(character_id)

    def check(self, prompt: str) -> CharacterMatches:
        """Characters in ``prompt``, best first. Raises DetectorError for empty or over-long prompts.

        The result is a list; its ``budget_exhausted`` is True when the name
        check stopped before reading the whole prompt (``budget["reason"]``).
        """
        prompt = clean_prompt(prompt, self.max_prompt_chars)
        norm = normalize(cap_combining_runs(prompt))
        budget = WorkBudget(self.name_budget) if self.name_budget else None
        hits = self._names.find(prompt, budget)
        pieces: list[str] = []
        sem: dict[str, tuple[float, int]] = {}
        if self._embedder is not None and self._desc is not None and len(self._desc):
            pieces = prompt_pieces(prompt)
            floor = min(self.semantic_threshold, self.context_threshold)
            sem = self._desc.search(self._embedder.embed(pieces), floor)
        by_char: dict[str, list[NameHit]] = {}
        for h in hits:
            by_char.setdefault(h.character_id, []).append(h)
        out: list[CharacterMatch] = []
        for cid in sorted(set(by_char) | set(sem)):
            meta = self._meta.get(cid)
            if meta is None:
                continue
            m = self._decide(cid, meta, by_char.get(cid, []), sem.get(cid), pieces, prompt, norm)
            if m is not None:
                out.append(m)
        out.sort(key=lambda m: (-m.score, m.character_id))
        return CharacterMatches(out, hits.budget)

    def _decide(
        self,
        cid: str,
        meta: _Meta,
        hits: list[NameHit],
        sem: tuple[float, int] | None,
        pieces: list[str],
        prompt: str,
        norm: object,
    ) -> CharacterMatch | None:
        sem_score = sem[0] if sem else None
        corroborated = [
            h
            for h in hits
            if h.score >= NAME_THRESHOLD
            and (
                not h.needs_context
                or (sem_score is not None and sem_score >= self.context_threshold)
            )
        ]
        common = {
            "normalisation": sorted(getattr(norm, "applied", ())),
            "mixed_scripts": bool(getattr(norm, "mixed_scripts", False)),
        }
        if corroborated:
            best = max(corroborated, key=lambda h: (h.score, h.end - h.start, h.kind == "name"))
            evidence = {
                "source": "prompt",
                "matched_text": best.matched_text,
                "form": best.form,
                "form_kind": best.kind,
                "method": best.method,
                "edits": best.distance,
                "leetspeak": best.leet,
                "span": [best.start, best.end],
                "ambiguous_name": best.ambiguous,
                "context_words": list(best.context_words),
                **common,
            }
            if sem_score is not None:
                evidence["description_similarity"] = round(sem_score, 4)
            expl = Explanation(
                model_id=NAME_MODEL_ID,
                method="name/alias rules: NFKC+homoglyphs+accents+casefold, leetspeak, word boundaries, "
                "OSA distance <= 1 for words of 5+ letters",
                score=best.score,
                threshold=NAME_THRESHOLD,
                details={"all_forms_found": sorted({h.form for h in hits}), **evidence},
            )
            return CharacterMatch(
                cid, meta.name, best.score, NAME_THRESHOLD, "prompt.name", evidence, expl
            )
        if (
            sem_score is not None
            and sem_score >= self.semantic_threshold
            and self._embedder is not None
        ):
            piece = pieces[sem[1]] if sem else prompt  # type: ignore[index]
            desc_words = {
                t for t in canonical_tokens(meta.description) if t not in STOPWORDS and len(t) > 2
            }
            shared = sorted(desc_words & set(canonical_tokens(piece)))
            evidence = {
                "source": "prompt",
                "description": meta.description,
                "prompt_text": piece,
                "shared_words": shared,
                **common,
            }
            mid = self._embedder.info.model_id
            expl = Explanation(
                model_id=mid,
                method="cosine similarity of sentence embeddings: prompt vs registered description",
                score=round(sem_score, 4),
                threshold=self.semantic_threshold,
                details=evidence,
            )
            return CharacterMatch(
                cid,
                meta.name,
                round(sem_score, 4),
                self.semantic_threshold,
                "prompt.semantic",
                evidence,
                expl,
            )
        return None
