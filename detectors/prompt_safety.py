"""Prompt safety: which harm categories a generation prompt touches, with the evidence.

Two methods, combined per category:

* a **lexicon** (terms, regular expressions, innocent-use patterns) matched on
  several normalisations of the prompt, so obfuscations (NFKC look-alikes,
  Cyrillic homoglyphs, leetspeak, "s.e.x" / "s e x", "seeexxx", invisible
  characters) still match while "a killer workout" or "the kids' menu" do not;
* **semantic similarity** of each prompt sentence to short example phrases per
  category with an offline sentence-embedding model (all-MiniLM-L6-v2), with
  negative examples that veto look-alikes.

``sexual_minors`` is always the most severe category and is listed first; it
is matched by its own terms and *derived* whenever sexual cues (even weak
ones such as "sexy") co-occur with a minors hit. Categories, terms and
examples are data files in ``detectors/data/prompt_safety`` (see its README).

Every check takes time linear in the prompt's length (issue 11: a leetspeak
pattern that backtracked cubically let 4,000 digits hold a worker for four
minutes): the text is normalised in single passes (:mod:`detectors.text_normalise`)
and each lexicon pattern can only start where a word starts. Each call also
has a work budget, counted in characters scanned; a prompt that runs it out
(or normalises to more than ``max_normalised_chars``) is not passed silently:
the result says ``budget_exhausted`` with the reason, for the caller to send
to review.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from detectors.base import DetectorError, Explanation, ModelInfo, Signal
from detectors.text_normalise import (
    BudgetedResult,
    BudgetExhausted,
    WorkBudget,
    cap_combining_runs,
    cut_at_space,
    translate_lettered_tokens,
)

DATA_DIR = Path(__file__).resolve().parent / "data" / "prompt_safety"
DEFAULT_MAX_CHARS = 4000
# NFKC can lengthen text (one "ﷺ" becomes 18 characters); past this many
# normalised characters per allowed prompt character only the start is read.
NORMALISED_CHARS_PER_CHAR = 4
# Characters scanned per call, summed over every lexicon pattern and text
# variant. The shipped lexicon (~470 patterns) reads a 4,000-character prompt
# in 2 to 6 million, and one at the normalised-length cap in under 30 million;
# the ceiling is there for a grown lexicon or a raised prompt limit.
DEFAULT_WORK_BUDGET = 60_000_000
STRONG_SCORE = 0.9
WEAK_SCORE = 0.45
# A weak term flags its category when a prompt sentence is at least this close
# to the category's examples (threshold minus the margin).
WEAK_SUPPORT_MARGIN = 0.12
MAX_SENTENCES = 16
REQUIRED_CATEGORIES = (
    "sexual",
    "minors",
    "sexual_minors",
    "violence",
    "self_harm",
    "hate",
    "real_person",
)
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17,
}  # fmt: skip


# ---------------------------------------------------------------- data files


class _Terms(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strong: list[str] = Field(default_factory=list)
    weak: list[str] = Field(default_factory=list)


class CategorySpec(BaseModel):
    """One category file (``categories/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    severity: int = Field(ge=1, le=5)
    description: str = ""
    semantic_threshold: float = Field(default=0.62, gt=0.0, le=1.0)
    age_below: int | None = None
    derived_from: list[str] = Field(default_factory=list)
    terms: _Terms = Field(default_factory=_Terms)
    patterns: list[str] = Field(default_factory=list)
    innocent: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    negatives: list[str] = Field(default_factory=list)

    @field_validator("patterns", "innocent")
    @classmethod
    def _compiles(cls, values: list[str]) -> list[str]:
        for v in values:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"bad regular expression {v!r}: {exc}") from None
        return values


class _Normalisation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    invisible: list[str] = Field(default_factory=list)
    homoglyphs: dict[str, str] = Field(default_factory=dict)
    leet: dict[str, str] = Field(default_factory=dict)
    separators: str = " .-_*"


class _Figure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    aliases: list[str] = Field(default_factory=list)


class _Figures(BaseModel):
    model_config = ConfigDict(extra="forbid")
    figures: list[_Figure] = Field(default_factory=list)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DetectorError(f"cannot read prompt-safety data file {path.name}: {exc}") from None


def _validated(model: type[BaseModel], path: Path) -> Any:
    try:
        return model.model_validate(_load_yaml(path) or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DetectorError(
            f"invalid prompt-safety data file {path.name}: {where}: {first['msg']}"
        ) from None


# ---------------------------------------------------------------- normalisation


class Normaliser:
    """The text variants the lexicon runs on; each variant is named in the evidence."""

    def __init__(self, spec: _Normalisation) -> None:
        self._invisible = {ord(c): None for c in spec.invisible}
        self._homoglyphs = str.maketrans({k: v for k, v in spec.homoglyphs.items()})
        self._leet = str.maketrans({k: v for k, v in spec.leet.items()})
        leet_chars = "".join(re.escape(c) for c in spec.leet)
        sep = "".join(re.escape(c) for c in spec.separators)
        unit = f"[a-z0-9{leet_chars}]"
        # Three or more single characters separated by separator runs: "s.e.x", "s e x".
        # Linear: a failed start costs at most two separator+unit steps, and a
        # match never gives back what it took (nothing follows the repeat).
        self._spaced = re.compile(rf"(?<![a-z0-9]){unit}(?:[{sep}]{{1,3}}{unit}(?![a-z0-9])){{2,}}")
        self._sep_chars = re.compile(f"[{sep}]")

    def base(self, text: str) -> str:
        # Marks past the 30th of a run are dropped before the Unicode
        # normalisations, whose mark reordering is quadratic in a run's length.
        text = unicodedata.normalize("NFKC", cap_combining_runs(text))
        text = cap_combining_runs(text.translate(self._invisible))
        text = text.translate(self._homoglyphs).casefold()
        # Accents off ("séx" -> "sex"), then the look-alike map once more for
        # letters NFKD exposed.
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
        text = text.translate(self._homoglyphs)
        return re.sub(r"\s+", " ", text).strip()

    def leet(self, base: str) -> str:
        # Only tokens holding a letter: "13 year old" keeps its number. A
        # token-by-token pass, not a pattern: the pattern this replaced
        # ("\S*[a-z]\S*|\S*[4...]\S*[a-z]\S*") retried every start inside a
        # run of digits, cubic in the run's length (issue 11).
        return translate_lettered_tokens(base, self._leet)

    def despaced(self, text: str) -> str:
        return self._spaced.sub(lambda m: self._sep_chars.sub("", m.group(0)), text)

    def variants(self, text: str) -> dict[str, str]:
        return self.variants_of_base(self.base(text))

    def variants_of_base(self, base: str) -> dict[str, str]:
        """The variants of text that :meth:`base` has already normalised."""
        leet = self.leet(base)
        out = {"normalised": base, "leetspeak": leet, "separators": self.despaced(base)}
        out["separators+leetspeak"] = self.leet(out["separators"])
        # Drop variants identical to an earlier one so evidence names the simplest.
        seen: set[str] = set()
        unique = {}
        for name, v in out.items():
            if v not in seen:
                seen.add(v)
                unique[name] = v
        return unique


def _term_regex(term: str, normaliser: Normaliser) -> re.Pattern[str]:
    """Whole-word regex for a phrase; each letter run may repeat, a plural may follow."""
    words = normaliser.base(term).split()
    if not words:
        return re.compile(r"(?<![a-z0-9])(?:e?s)?(?![a-z0-9])")
    parts = []
    for w in words:
        runs = [m.group(0) for m in re.finditer(r"(.)\1*", w)]
        parts.append("".join(re.escape(r[0]) + ("+" if r[0].isalnum() else "") for r in runs))
    body = r"[\s\-_]*".join(parts)
    # The word-start test comes after the first character, not before it:
    # "x(?<![a-z0-9]x)x*" matches what "(?<![a-z0-9])x+" matches, but a
    # pattern that opens with a literal lets the regex engine jump from one
    # "x" to the next instead of trying the lookbehind at every position
    # (ten times faster; ~400 patterns read every prompt variant).
    first = re.escape(words[0][0])
    rest = body[len(first) :]
    if rest.startswith("+"):
        rest = f"{first}*{rest[1:]}"
    return re.compile(rf"{first}(?<![a-z0-9]{first}){rest}(?:e?s)?(?![a-z0-9])")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class CategoryFinding:
    name: str
    score: float
    severity: int
    threshold: float
    evidence: dict[str, Any]
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": round(self.score, 4),
            "severity": self.severity,
            "threshold": self.threshold,
            "evidence": self.evidence,
        }

    def to_signal(self) -> Signal:
        return Signal(
            kind="prompt.category",
            model_id=self.explanation.model_id,
            data={"category": self.name, "score": round(self.score, 4), "severity": self.severity},
            explanation=self.explanation,
        )


class PromptFindings(BudgetedResult[CategoryFinding]):
    """The categories found (a list, most severe first) plus ``budget_exhausted`` and ``budget``."""


@dataclass
class _Hits:
    strong: list[dict[str, Any]] = field(default_factory=list)
    weak: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)


class _Spans:
    """Sorted spans answering "does one of them contain (s, e)?" in log time.

    The lexicon asks this for every term match; a scan of every innocent span
    per match was quadratic in a prompt that repeats an innocent phrase.
    """

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        spans.sort()
        self._starts = [a for a, _ in spans]
        self._reach: list[int] = []  # the furthest end among spans starting at or before
        far = -1
        for _, b in spans:
            far = max(far, b)
            self._reach.append(far)

    def contains(self, s: int, e: int) -> bool:
        i = bisect.bisect_right(self._starts, s) - 1
        return i >= 0 and self._reach[i] >= e


@dataclass(frozen=True)
class _Compiled:
    spec: CategorySpec
    strong: list[tuple[str, re.Pattern[str]]]
    weak: list[tuple[str, re.Pattern[str]]]
    patterns: list[re.Pattern[str]]
    innocent: list[re.Pattern[str]]


def _any_of(patterns: Sequence[re.Pattern[str]]) -> re.Pattern[str] | None:
    """One pattern that matches somewhere exactly when one of ``patterns`` does.

    At a position where a branch can match, the alternation matches (with that branch or
    an earlier one), and each branch reads the same text and lookbehinds as alone; so
    "no match" from it proves that no term matches, in one scan instead of one per term.
    None when the branches cannot be joined (a capturing group would renumber).
    """
    if not patterns or any(p.groups for p in patterns):
        return None
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns))


class PromptSafetyClassifier:
    """Lexicon + semantic prompt classifier; ``check(text)`` returns the categories found."""

    def __init__(
        self,
        data_dir: Path = DATA_DIR,
        semantic: bool = True,
        model_path: Path | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        max_normalised_chars: int | None = None,
        work_budget: int = DEFAULT_WORK_BUDGET,
    ) -> None:
        self.max_chars = max_chars
        self.max_normalised_chars = max_normalised_chars or NORMALISED_CHARS_PER_CHAR * max_chars
        self.work_budget = work_budget
        data_dir = Path(data_dir)
        if not (data_dir / "categories").is_dir():
            raise DetectorError(f"prompt-safety data not found at {data_dir}")
        self.normaliser = Normaliser(_validated(_Normalisation, data_dir / "normalisation.yaml"))
        specs = [
            _validated(CategorySpec, p) for p in sorted((data_dir / "categories").glob("*.yaml"))
        ]
        names = [s.name for s in specs]
        missing = [n for n in REQUIRED_CATEGORIES if n not in names]
        if missing or len(set(names)) != len(names):
            raise DetectorError(
                f"prompt-safety categories missing or duplicated: missing={missing}"
            )
        figures: _Figures = _validated(_Figures, data_dir / "public_figures.yaml")
        self._figure_terms: list[tuple[str, str, re.Pattern[str]]] = [
            (f.name, alias, _term_regex(alias, self.normaliser))
            for f in figures.figures
            for alias in [re.sub(r"\s*\(.*\)$", "", f.name), *f.aliases]
        ]
        self._cats: dict[str, _Compiled] = {
            s.name: _Compiled(
                spec=s,
                strong=[(t, _term_regex(t, self.normaliser)) for t in s.terms.strong],
                weak=[(t, _term_regex(t, self.normaliser)) for t in s.terms.weak],
                patterns=[re.compile(p) for p in s.patterns],
                innocent=[re.compile(p) for p in s.innocent],
            )
            for s in specs
        }
        # Per category: its lexicon terms, and all their patterns joined (see _lexicon).
        self._term_lists = {name: self._terms(name) for name in self._cats}
        self._any_term: dict[str, re.Pattern[str] | None] = {
            name: _any_of([r for _, _, r in terms]) for name, terms in self._term_lists.items()
        }
        self._model: Any = None
        self.text_model: ModelInfo | None = None
        if semantic:
            self._load_model(model_path)
        self.info = ModelInfo(
            model_id="prompt-safety-lexicon-v1" + ("+minilm" if semantic else ""),
            task="prompt_safety",
            licence="lexicon: project data; all-MiniLM-L6-v2: Apache-2.0",
            embedding_dim=384 if semantic else None,
        )

    def _load_model(self, model_path: Path | None) -> None:
        from detectors.text_embedding import shared_sentence_embedder

        # One model per process, shared with the character matcher (and its embedding cache).
        self._shared = shared_sentence_embedder(model_path)
        self._model = self._shared.model
        self.text_model = ModelInfo(
            model_id="all-MiniLM-L6-v2",
            task="text_embedding",
            licence="Apache-2.0",
            embedding_dim=384,
        )
        self._ex: dict[str, tuple[list[str], np.ndarray, list[str], np.ndarray]] = {}
        for name, c in self._cats.items():
            pos = c.spec.examples
            neg = c.spec.negatives
            self._ex[name] = (pos, self._embed(pos), neg, self._embed(neg))

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        assert self._model is not None
        return self._shared.embed(list(texts))

    @property
    def categories(self) -> list[str]:
        return list(self._cats)

    # ------------------------------------------------------------ matching

    def _terms(self, name: str) -> list[tuple[str, str, re.Pattern[str]]]:
        """(strength, term as shown in evidence, pattern) for every lexicon term of ``name``."""
        c = self._cats[name]
        terms: list[tuple[str, str, re.Pattern[str]]] = [("strong", t, r) for t, r in c.strong]
        terms += [("weak", t, r) for t, r in c.weak]
        if name == "real_person":
            terms += [("strong", f"{fig} ({alias})", r) for fig, alias, r in self._figure_terms]
        return terms

    def _lexicon(
        self, name: str, variants: dict[str, str], budget: WorkBudget, hits: _Hits
    ) -> None:
        """Fill ``hits`` for category ``name``; raises BudgetExhausted with what was found so far kept."""
        c = self._cats[name]
        seen: set[tuple[str, str]] = set()
        terms = self._term_lists[name]
        any_term = self._any_term.get(name)
        for variant, text in variants.items():
            # Every pattern reads the variant once (each is linear), so the
            # work is the variant's length per pattern.
            budget.spend(len(text) * len(c.innocent), f"{name}: innocent uses")
            term_work = len(text) * len(terms)
            if any_term is not None and budget.fits(term_work) and not any_term.search(text):
                # No term occurs in this variant (most prompts, most categories): the
                # per-term loop below would find nothing, so count the same work and skip
                # it. A budget that would run out part-way takes the loop, which stops
                # where it always did.
                budget.spend(term_work, f"{name}: lexicon")
            else:
                self._terms_in(name, variant, text, terms, c.innocent, budget, hits, seen)
            if c.spec.age_below is not None and variant == "normalised":
                budget.spend(len(text) * len(c.patterns), f"{name}: age patterns")
                for p in c.patterns:
                    for m in p.finditer(text):
                        raw = m.groupdict().get("age")
                        if raw is None:
                            continue
                        age = int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw, 99)
                        if age < c.spec.age_below and ("age", m.group(0)) not in seen:
                            seen.add(("age", m.group(0)))
                            hits.strong.append(
                                {
                                    "pattern": "age",
                                    "match": m.group(0),
                                    "age": age,
                                    "variant": variant,
                                }
                            )

    @staticmethod
    def _terms_in(
        name: str,
        variant: str,
        text: str,
        terms: list[tuple[str, str, re.Pattern[str]]],
        innocent_uses: list[re.Pattern[str]],
        budget: WorkBudget,
        hits: _Hits,
        seen: set[tuple[str, str]],
    ) -> None:
        """Each term's matches in one variant, those inside an innocent use suppressed."""
        innocent = _Spans([m.span() for p in innocent_uses for m in p.finditer(text)])
        for strength, term, rx in terms:
            budget.spend(len(text), f"{name}: lexicon")
            for m in rx.finditer(text):
                s, e = m.span()
                if innocent.contains(s, e):
                    key = ("suppressed", term)
                    if key not in seen:
                        seen.add(key)
                        hits.suppressed.append(
                            {"term": term, "match": m.group(0), "variant": variant}
                        )
                    continue
                if (strength, term) in seen:
                    continue
                seen.add((strength, term))
                item = {"term": term, "match": m.group(0), "variant": variant}
                (hits.strong if strength == "strong" else hits.weak).append(item)

    @staticmethod
    def _drop_weak_also_strong(hits: _Hits) -> None:
        # A weak term also found strong (e.g. "shooting" in "mass shooting") adds nothing.
        strong_terms = {h.get("term") for h in hits.strong}
        hits.weak = [h for h in hits.weak if h["term"] not in strong_terms]

    def _semantic(self, sentences: list[str], sent_vecs: np.ndarray) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, (pos, pos_v, neg, neg_v) in self._ex.items():
            if not len(pos):
                continue
            sims = sent_vecs @ pos_v.T  # (sentences, examples)
            i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
            best = float(sims[i, j])
            neg_best, neg_ex = 0.0, None
            if len(neg):
                nsims = sent_vecs[i] @ neg_v.T
                k = int(np.argmax(nsims))
                neg_best, neg_ex = float(nsims[k]), neg[k]
            out[name] = {
                "similarity": round(best, 4),
                "example": pos[j],
                "sentence": sentences[i],
                "nearest_negative": neg_ex,
                "negative_similarity": round(neg_best, 4),
                "vetoed": neg_best >= best,
            }
        return out

    def check(self, text: str) -> PromptFindings:
        """Categories found in ``text``, most severe first (``sexual_minors`` always first).

        The result is a list; its ``budget_exhausted`` is True when the check
        read only part of the prompt (see the module docstring), and then
        ``budget["reason"]`` says why.
        """
        if not isinstance(text, str):
            raise DetectorError("a prompt must be text")
        if len(text) > self.max_chars:
            raise DetectorError(f"prompt is {len(text)} characters; the limit is {self.max_chars}")
        budget = WorkBudget(self.work_budget)
        base = self.normaliser.base(text) if text.strip() else ""
        if not base:
            raise DetectorError("prompt is empty")
        if len(base) > self.max_normalised_chars:
            budget.stop(
                f"the prompt normalises to {len(base)} characters; "
                f"only the first {self.max_normalised_chars} were examined"
            )
            base = cut_at_space(base, self.max_normalised_chars)
        variants = self.normaliser.variants_of_base(base)
        lex = {name: _Hits() for name in self._cats}
        try:
            # The normalisation passes: the prompt, then a few per variant.
            budget.spend(len(text) + 8 * len(base), "normalising")
            # Most severe first: if the budget runs out, what was left unread matters least.
            for name in sorted(self._cats, key=lambda n: (-self._cats[n].spec.severity, n)):
                self._lexicon(name, variants, budget, lex[name])
        except BudgetExhausted:
            pass  # the budget says so; what was found before stays found
        for h in lex.values():
            self._drop_weak_also_strong(h)
        sem: dict[str, dict[str, Any]] = {}
        if self._model is not None:
            best_variant = variants.get("separators+leetspeak") or variants["normalised"]
            pieces = [p.strip() for p in re.split(r"[.!?;\n]+", best_variant) if p.strip()]
            sentences = ([best_variant] + [p for p in pieces if p != best_variant])[:MAX_SENTENCES]
            sem = self._semantic(sentences, self._embed(sentences))

        scores: dict[str, tuple[float, dict[str, Any]]] = {}
        raw_scores: dict[str, float] = {}
        for name, c in self._cats.items():
            h = lex[name]
            s = sem.get(name)
            thr = c.spec.semantic_threshold
            sim = s["similarity"] if s and not s["vetoed"] else 0.0
            lex_score = 0.0
            if h.strong:
                lex_score = min(1.0, STRONG_SCORE + 0.02 * (len(h.strong) - 1))
            elif h.weak:
                lex_score = WEAK_SCORE
            # Raw evidence of the category, flagged or not (feeds sexual_minors).
            raw_scores[name] = max(lex_score, sim if sim >= thr - WEAK_SUPPORT_MARGIN else 0.0)
            flagged = (
                bool(h.strong) or sim >= thr or (bool(h.weak) and sim >= thr - WEAK_SUPPORT_MARGIN)
            )
            if not flagged:
                continue
            score = max(lex_score, sim, 0.6 if h.weak else 0.0)
            evidence: dict[str, Any] = {"lexicon": h.strong + h.weak}
            if h.suppressed:
                evidence["suppressed"] = h.suppressed
            if s:
                evidence["semantic"] = s
            scores[name] = (score, evidence)

        # sexual_minors: derived from sexual cues (weak ones count) with a minors hit.
        derived = self._cats["sexual_minors"].spec.derived_from
        if all(raw_scores.get(n, 0.0) > 0 for n in derived) and any(
            n in scores for n in derived[1:]
        ):
            own = scores.get("sexual_minors", (0.0, {"lexicon": []}))
            score = max(own[0], max(raw_scores[n] for n in derived), 0.9)
            ev = dict(own[1])
            ev["derived_from"] = {n: round(raw_scores[n], 4) for n in derived}
            scores["sexual_minors"] = (min(1.0, score), ev)

        model_id = self.info.model_id
        findings = [
            CategoryFinding(
                name=name,
                score=score,
                severity=self._cats[name].spec.severity,
                threshold=self._cats[name].spec.semantic_threshold,
                evidence=ev,
                explanation=Explanation(
                    model_id=model_id,
                    method="lexicon on normalised variants + MiniLM similarity to category examples",
                    score=score,
                    threshold=self._cats[name].spec.semantic_threshold,
                    details=ev,
                ),
            )
            for name, (score, ev) in scores.items()
        ]
        findings.sort(key=lambda f: (f.name != "sexual_minors", -f.severity, -f.score, f.name))
        return PromptFindings(findings, budget)
