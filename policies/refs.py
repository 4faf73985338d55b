"""Static reading of a CEL condition: which signal fields it names, checked against the signal view.

The CEL binding compiles without a type environment, so an unknown field would
only show up as a runtime error (or never, behind ``&&``). This module tokenises
the condition, follows dotted paths and comprehension variables
(``likeness.exists(m, m.similarity > 0.5)`` binds ``m`` to an element of
``likeness``) and reports every path that the view does not declare, every
unknown function, and string literals compared with an enumerated field that
can never match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from policies.view import ELEMENT, VIEW, ListOf, MapOf, Node, Obj, Scalar, resolve

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<str>(?:[rR][bB]?|[bB][rR]?)?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<num>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
  | (?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||\.\?|[-+*/%<>!?:.,()\[\]{}])
    """,
    re.VERBOSE,
)

MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Global functions of CEL's standard library that the binding implements, plus ours.
FUNCTIONS = frozenset(
    {
        "size",
        "has",
        "int",
        "uint",
        "double",
        "string",
        "bool",
        "bytes",
        "type",
        "dyn",
        "matches",
        "max",
        "min",
        "abs",
        "duration",
        "timestamp",
        "threshold",
    }
)
KEYWORDS = frozenset({"true", "false", "null", "in"})
THRESHOLDS_ROOT = "thresholds"
_IDENT = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")


def flat_name(path: tuple[str, ...]) -> str:
    """The variable a dotted path (without list elements) is passed as: ``context.stage`` -> ``context__stage``.

    The CEL binding converts each nested dict entry far slower than a top-level
    variable, so the engine passes the paths a condition reads as flat
    variables. ``__`` cannot clash with a real name: names are checked against
    the signal view, which has no such field.
    """
    return "__".join(path)


def apply_edits(source: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(edits, reverse=True):
        source = source[:start] + replacement + source[end:]
    return source


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


@dataclass
class ConditionRefs:
    """What a condition reads: view paths (with whether the whole subtree is needed) and thresholds."""

    paths: dict[tuple[str, ...], bool] = field(default_factory=dict)
    thresholds: set[str] = field(default_factory=set)
    # Thresholds read through threshold(name, model): their value depends on the model.
    model_thresholds: set[str] = field(default_factory=set)
    # Lists only iterated by a macro: their elements' fields are the interesting values.
    anchors: set[tuple[str, ...]] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    # (start, end, name): dotted paths to rewrite as one flat variable (see flat_name).
    flat_edits: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def uses_threshold_function(self) -> bool:
        return bool(self.model_thresholds)

    def value_paths(self) -> list[tuple[str, tuple[str, ...]]]:
        """(shown name, path) for each signal value worth recording when the rule fires."""
        return [
            (".".join(p).replace(".[]", "[]"), p)
            for p, full in self.paths.items()
            if full or p not in self.anchors
        ]


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ValueError(f"unexpected character {source[pos]!r} at offset {pos}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _literal(token: Token) -> str | None:
    if token.kind != "str":
        return None
    text = token.text.lstrip("rRbB")
    quote = 3 if text[:3] in ('"""', "'''") else 1
    return text[quote:-quote]


def analyse(source: str, threshold_names: set[str], roots: Node = VIEW) -> ConditionRefs:
    """Every path, threshold and function the condition names, with errors for unknown ones."""
    refs = ConditionRefs()
    try:
        tokens = tokenize(source)
    except ValueError as exc:
        refs.errors.append(str(exc))
        return refs
    assert isinstance(roots, Obj)
    bound: dict[str, tuple[str, ...]] = {}
    skip: set[int] = set()
    n = len(tokens)

    def text(k: int) -> str:
        return tokens[k].text if k < n else ""

    i = 0
    while i < n:
        tok = tokens[i]
        if tok.kind != "ident" or i in skip or tok.text in KEYWORDS or text(i - 1) in (".", ".?"):
            i += 1
            continue
        if text(i + 1) == "(":
            name = tok.text
            if name not in FUNCTIONS:
                refs.errors.append(f"unknown function {name}()")
            if name == "has":
                refs.errors.append(
                    "has() is not needed: every signal field has a default (see the signal view)"
                )
            if name == "threshold":
                arg = _literal(tokens[i + 2]) if i + 2 < n else None
                if arg is None or text(i + 3) != ",":
                    refs.errors.append(
                        "threshold() takes a threshold name (a string literal) and a model id"
                    )
                elif arg not in threshold_names:
                    refs.errors.append(f"unknown threshold {arg!r}")
                else:
                    refs.model_thresholds.add(arg)
            i += 1
            continue
        # A chain: root(.ident | [literal])*, stopping before a method call.
        segments = [tok.text]
        ends = [tok.pos + len(tok.text)]  # source offset where each segment ends
        j = i + 1
        method = ""
        while j < n:
            if text(j) in (".", ".?") and j + 1 < n and tokens[j + 1].kind == "ident":
                if text(j + 2) == "(":
                    method = tokens[j + 1].text
                    break
                segments.append(tokens[j + 1].text)
                ends.append(tokens[j + 1].pos + len(tokens[j + 1].text))
                j += 2
            elif text(j) == "[" and j + 2 < n and text(j + 2) == "]":
                inner = tokens[j + 1]
                key = _literal(inner)
                if key is not None:
                    segments.append(key)
                elif inner.kind == "num":
                    segments.append(ELEMENT)
                else:
                    break
                ends.append(tokens[j + 2].pos + 1)
                j += 3
            else:
                break
        root = segments[0]
        if root == THRESHOLDS_ROOT:
            if len(segments) < 2:
                refs.errors.append("thresholds must be read by name, e.g. thresholds.nudity")
            elif segments[1] not in threshold_names:
                refs.errors.append(f"unknown threshold {segments[1]!r}")
            else:
                refs.thresholds.add(segments[1])
            i = j
            continue
        if root in bound:
            path = bound[root] + tuple(segments[1:])
        elif root in roots.fields:
            path = tuple(segments)
            depth = path.index(ELEMENT) if ELEMENT in path else len(path)
            if depth > 1 and all(_IDENT.match(part) for part in path[:depth]):
                refs.flat_edits.append((tok.pos, ends[depth - 1], flat_name(path[:depth])))
        else:
            refs.errors.append(
                f"unknown name {root!r} (signals and context: {', '.join(sorted(roots.fields))}, "
                f"thresholds)"
            )
            i = j
            continue
        try:
            node = resolve(path, roots)
        except KeyError as exc:
            refs.errors.append(str(exc.args[0]))
            i = j
            continue
        binds = method in MACROS and j + 3 < n and tokens[j + 3].kind == "ident"
        if binds and text(j + 4) == ",":
            var_index = j + 3
            skip.add(var_index)
            if tokens[var_index].text in roots.fields or tokens[var_index].text == THRESHOLDS_ROOT:
                refs.errors.append(
                    f"{method}() variable {tokens[var_index].text!r} hides the signal of that name; "
                    "pick another name"
                )
            if isinstance(node, MapOf):
                bound[tokens[var_index].text] = (*path, ELEMENT)
                refs.paths[path] = True
            elif isinstance(node, ListOf):
                bound[tokens[var_index].text] = (*path, ELEMENT)
                refs.paths.setdefault(path, False)
                refs.anchors.add(path)
            else:
                refs.errors.append(f"{method}() needs a list or map, not {node.describe()}")
        else:
            # A composite used whole (size(), comparison, in) needs its whole subtree.
            refs.paths[path] = refs.paths.get(path, False) or not isinstance(node, Scalar)
            _check_literal(tokens, i, j, node, refs)
        i = j
    return refs


def _check_literal(
    tokens: list[Token], start: int, end: int, node: Node, refs: ConditionRefs
) -> None:
    """``stage == "pubish"`` can never be true: report literals outside a field's enumeration."""
    if not isinstance(node, Scalar) or not node.enum:
        return
    candidates: list[Token] = []
    if end + 1 < len(tokens) and tokens[end].text in ("==", "!="):
        candidates.append(tokens[end + 1])
    if start >= 2 and tokens[start - 1].text in ("==", "!="):
        candidates.append(tokens[start - 2])
    if end + 1 < len(tokens) and tokens[end].text == "in" and tokens[end + 1].text == "[":
        k = end + 2
        while k < len(tokens) and tokens[k].text != "]":
            candidates.append(tokens[k])
            k += 1
    for token in candidates:
        value = _literal(token)
        if value is not None and value not in node.enum:
            refs.errors.append(f"{value!r} can never match: the field is {node.describe()}")


def _float_literal(value: float) -> str:
    text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


def inline_thresholds(
    source: str,
    values: dict[str, float],
    model_values: dict[str, dict[str, float]],
) -> str:
    """The condition with thresholds written in as literals for one audience.

    ``thresholds.x`` becomes its value; ``threshold("x", EXPR)`` becomes
    ``(EXPR in {model: value, ...} ? {...}[EXPR] : default)``. Thresholds are
    constant per audience, so folding them in saves converting them into the
    CEL context on every decision. ``source`` must have passed :func:`analyse`.
    """
    tokens = tokenize(source)
    edits: list[tuple[int, int, str]] = []
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        after_dot = i > 0 and tokens[i - 1].text in (".", ".?")
        if tok.kind != "ident" or after_dot:
            i += 1
            continue
        if tok.text == THRESHOLDS_ROOT and i + 2 < n and tokens[i + 1].text == ".":
            name = tokens[i + 2].text
            end = tokens[i + 2].pos + len(name)
            edits.append((tok.pos, end, _float_literal(values[name])))
            i += 3
            continue
        if tok.text == "threshold" and i + 1 < n and tokens[i + 1].text == "(":
            name = _literal(tokens[i + 2]) or ""
            depth = 0
            close = i + 1
            for k in range(i + 1, n):
                if tokens[k].text in ("(", "[", "{"):
                    depth += 1
                elif tokens[k].text in (")", "]", "}"):
                    depth -= 1
                    if depth == 0:
                        close = k
                        break
            arg = source[tokens[i + 4].pos : tokens[close].pos].strip()
            table = dict(model_values[name])
            default = table.pop("default")
            if table:
                literal = (
                    "{"
                    + ", ".join(f"{json_string(m)}: {_float_literal(v)}" for m, v in table.items())
                    + "}"
                )
                text = f"(({arg}) in {literal} ? {literal}[{arg}] : {_float_literal(default)})"
            else:
                text = _float_literal(default)
            edits.append((tok.pos, tokens[close].pos + 1, text))
            i = close + 1
            continue
        i += 1
    for start, end, text in reversed(edits):
        source = source[:start] + text + source[end:]
    return source


def json_string(value: str) -> str:
    """A CEL string literal (JSON escaping is valid CEL escaping for these)."""
    import json

    return json.dumps(value)
