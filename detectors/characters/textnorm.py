"""Normalise prompt and name text so look-alike spellings of a name compare equal.

One function family, used on both sides (registered names and prompts), so a
name and a prompt that a person reads as the same word reduce to the same
tokens: NFKC (full-width, mathematical and ligature forms), removal of
zero-width and other format characters, control characters as spaces, Unicode
case folding, common Cyrillic/Greek look-alikes of Latin letters, accents
stripped, and leetspeak variants of tokens that mix letters with digits or
``@``/``$``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import product

# Lower-case look-alikes only: text is case-folded before this map is applied.
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ѡ": "w", "ɡ": "g", "ь": "b",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ζ": "z", "μ": "u",
    # Latin extensions that NFKD does not decompose
    "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ß": "ss", "æ": "ae", "œ": "oe",
}  # fmt: skip
_HOMOGLYPH_TABLE = str.maketrans(_HOMOGLYPHS)

_LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "@": ("a",),
    "$": ("s",),
}
# A token with many '1's would explode into 2**n variants; past this we keep the first few.
MAX_VARIANTS = 8

_TOKEN_RE = re.compile(r"(?:[^\W_]|[@$])+")
_HAS_LETTER_RE = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class NormalizedText:
    """Normalised text plus what the normalisation had to undo (shown as evidence)."""

    text: str
    applied: frozenset[str]
    scripts: frozenset[str]

    @property
    def mixed_scripts(self) -> bool:
        return len(self.scripts - {"common"}) > 1


def _script_of(ch: str) -> str:
    if not ch.isalpha():
        return "common"
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0].lower() if name else "unknown"


def normalize(text: str) -> NormalizedText:
    """NFKC, drop format chars, controls → space, casefold, homoglyphs → Latin, strip accents."""
    applied: set[str] = set()
    nfkc = unicodedata.normalize("NFKC", text)
    if nfkc != text:
        applied.add("nfkc")
    out: list[str] = []
    for ch in nfkc:
        cat = unicodedata.category(ch)
        if cat == "Cf":
            # Zero-width joiners and friends are invisible: a name split by
            # one must still read as the name.
            applied.add("invisible_chars_removed")
            continue
        if cat in ("Cc", "Cs", "Co", "Cn") and ch not in " ":
            applied.add("control_chars_removed")
            out.append(" ")
            continue
        out.append(ch)
    cleaned = "".join(out)
    scripts = frozenset(_script_of(ch) for ch in cleaned if ch.isalpha())
    folded = cleaned.casefold()
    mapped = folded.translate(_HOMOGLYPH_TABLE)
    if mapped != folded:
        applied.add("homoglyphs")
    decomposed = unicodedata.normalize("NFKD", mapped)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if len(stripped) != len(decomposed):
        applied.add("accents")
    return NormalizedText(unicodedata.normalize("NFC", stripped), frozenset(applied), scripts)


def tokenize(normalized: str) -> list[tuple[str, int, int]]:
    """Word tokens with their character spans in the normalised text (``@``/``$`` stay in words)."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN_RE.finditer(normalized)]


def leet_variants(token: str) -> tuple[str, ...]:
    """The token itself, then its de-leeted readings when it mixes letters with leet characters."""
    if not any(c in _LEET for c in token) or not _HAS_LETTER_RE.search(
        token.replace("@", "").replace("$", "")
    ):
        # Pure numbers ("1999", "$5") are not leetspeak.
        return (token,)
    choices = [_LEET.get(c, (c,)) for c in token]
    variants: list[str] = [token]
    for combo in product(*choices):
        v = "".join(combo)
        if v not in variants:
            variants.append(v)
        if len(variants) > MAX_VARIANTS:
            break
    return tuple(variants)


def canonical_tokens(text: str) -> tuple[str, ...]:
    """A registered name or alias as tokens; leet in a name is read the same way as in a prompt."""
    toks = [t for t, _, _ in tokenize(normalize(text).text)]
    # A name written with digits ("C-3PO") keeps its first de-leeted reading so
    # that "c3po" and "c-3po" in prompts both reach it.
    return tuple(_first_reading(t) for t in toks)


def _first_reading(token: str) -> str:
    variants = leet_variants(token)
    return variants[1] if len(variants) > 1 else token
