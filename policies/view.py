"""The signal view as a type tree: validating, defaulting and pruning raw signals for CEL.

The tree is derived from the pydantic models in ``schema.py`` (one source of
truth). A compiled policy set knows which fields its conditions read (a
:class:`Use` tree); :func:`build` turns raw signal/context dicts into exactly
those fields, typed and defaulted. Pruning matters for speed: the CEL binding
converts every value it is given, about a microsecond each.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel

from policies.errors import SignalError
from policies.schema import NO_FACE_AGE, SignalView

ELEMENT = "[]"  # path segment for "an element of this list"


@dataclass(frozen=True)
class Scalar:
    kind: Literal["float", "int", "str", "bool"]
    default: Any
    enum: tuple[str, ...] | None = None

    def describe(self) -> str:
        if self.enum:
            return "one of " + ", ".join(repr(v) for v in self.enum)
        return self.kind


@dataclass(frozen=True)
class ListOf:
    item: Node

    def describe(self) -> str:
        return "list"


@dataclass(frozen=True)
class Obj:
    fields: dict[str, Node]

    def describe(self) -> str:
        return "object"


@dataclass(frozen=True)
class MapOf:
    """A string-keyed map of scores whose keys are declared (absent keys read 0.0)."""

    keys: tuple[str, ...]

    def describe(self) -> str:
        return "map"


Node = Scalar | ListOf | Obj | MapOf


def _node_for(annotation: Any, default: Any, extra: Any) -> Node:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _obj_for(annotation)
    if origin is Literal:
        return Scalar("str", default, tuple(str(a) for a in args))
    if origin is list:
        return ListOf(_node_for(args[0], None, None))
    if origin is dict:
        keys = tuple(extra.get("keys", ())) if isinstance(extra, dict) else ()
        return MapOf(keys)
    if origin in (Union, types.UnionType):
        raise TypeError(f"signal view fields must not be optional: {annotation}")
    kinds = {float: "float", int: "int", str: "str", bool: "bool"}
    if annotation in kinds:
        return Scalar(kinds[annotation], default)  # type: ignore[arg-type]
    raise TypeError(f"unsupported signal view annotation {annotation!r}")


def _obj_for(model: type[BaseModel]) -> Obj:
    hints = typing.get_type_hints(model)
    fields: dict[str, Node] = {}
    for name, info in model.model_fields.items():
        default = None if info.default_factory is not None else info.default
        fields[name] = _node_for(hints[name], default, info.json_schema_extra)
    return Obj(fields)


VIEW: Obj = _obj_for(SignalView)


# --- use trees ---------------------------------------------------------------------


@dataclass
class Use:
    """Which parts of a node the conditions read: ``full`` or the listed children."""

    full: bool = False
    children: dict[str, Use] = field(default_factory=dict)

    def add(self, path: tuple[str, ...], full: bool) -> None:
        node = self
        for segment in path:
            node = node.children.setdefault(segment, Use())
        if full:
            node.full = True


def resolve(path: tuple[str, ...], root: Node = VIEW) -> Node:
    """The node at ``path``; raises ``KeyError`` with a user-facing message when it does not exist."""
    node = root
    walked: list[str] = []
    for segment in path:
        shown = ".".join(walked).replace(".[]", "[]") or "the signal view"
        if isinstance(node, Obj):
            if segment not in node.fields:
                known = ", ".join(sorted(node.fields))
                raise KeyError(f"unknown field {segment!r} of {shown} (known: {known})")
            node = node.fields[segment]
        elif isinstance(node, ListOf):
            if segment != ELEMENT:
                raise KeyError(
                    f"{shown} is a list; read its elements with a macro, "
                    f"e.g. {shown}.exists(x, x.{segment} ...)"
                )
            node = node.item
        elif isinstance(node, MapOf):
            if segment not in node.keys and segment != ELEMENT:
                raise KeyError(
                    f"unknown key {segment!r} of {shown} (known: {', '.join(node.keys)})"
                )
            return Scalar("float", 0.0)
        else:
            raise KeyError(f"{shown} is a {node.kind} and has no field {segment!r}")
        walked.append(segment)
    return node


# --- building the CEL input ----------------------------------------------------------------


def _scalar(node: Scalar, raw: Any, where: str) -> Any:
    if raw is None:
        return node.default
    kind = node.kind
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise SignalError(f"{where}: expected a number, got {type(raw).__name__}")
        return float(raw)
    if kind == "str":
        if not isinstance(raw, str):
            raise SignalError(f"{where}: expected a string, got {type(raw).__name__}")
        if node.enum is not None and raw not in node.enum:
            raise SignalError(f"{where}: {raw!r} is not {node.describe()}")
        return raw
    if kind == "bool":
        if not isinstance(raw, bool):
            raise SignalError(f"{where}: expected true or false, got {type(raw).__name__}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int):
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        raise SignalError(f"{where}: expected an integer, got {type(raw).__name__}")
    return raw


def build(node: Node, use: Use, raw: Any, where: str) -> Any:
    """Raw JSON-like data -> the typed, defaulted, pruned value for ``use``."""
    if isinstance(node, Scalar):
        return _scalar(node, raw, where)
    if isinstance(node, ListOf):
        if raw is None:
            return []
        if not isinstance(raw, (list, tuple)):
            raise SignalError(f"{where}: expected a list, got {type(raw).__name__}")
        item_use = use if use.full else use.children.get(ELEMENT, Use())
        if item_use.full:
            item_use = Use(full=True)
        return [build(node.item, item_use, x, f"{where}[{i}]") for i, x in enumerate(raw)]
    if isinstance(node, MapOf):
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SignalError(f"{where}: expected a map, got {type(raw).__name__}")
        if use.full:
            out = dict.fromkeys(node.keys, 0.0)
            names: Any = raw.keys()
        else:
            out = {}
            names = use.children.keys()
        for name in names:
            value = raw.get(name)
            out[str(name)] = 0.0 if value is None else _scalar(_SCORE, value, f"{where}.{name}")
        return out
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SignalError(f"{where}: expected an object, got {type(raw).__name__}")
    selected = node.fields if use.full else use.children
    result: dict[str, Any] = {}
    for name in selected:
        child = node.fields[name]
        child_use = use if use.full else use.children[name]
        result[name] = build(child, child_use, raw.get(name), f"{where}.{name}")
    return result


_SCORE = Scalar("float", 0.0)


def derive_minor(raw: Any) -> Any:
    """Fill ``min_age`` / ``worst_band`` from ``faces`` when a producer gave only the faces."""
    if not isinstance(raw, Mapping):
        return raw
    faces = raw.get("faces")
    if not isinstance(faces, list) or not faces:
        return raw
    if raw.get("min_age") is not None and raw.get("worst_band") is not None:
        return raw
    out = dict(raw)
    ages = [f.get("age") for f in faces if isinstance(f, Mapping)]
    numeric = [a for a in ages if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if out.get("min_age") is None:
        out["min_age"] = min(numeric) if numeric else NO_FACE_AGE
    if out.get("worst_band") is None:
        bands = {f.get("band") for f in faces if isinstance(f, Mapping)}
        for band in ("likely_minor", "possible_minor", "adult"):
            if band in bands:
                out["worst_band"] = band
                break
    return out


def sample(node: Node, variant: int) -> Any:
    """A fully populated value of the node's type; variants differ in every scalar."""
    if isinstance(node, Scalar):
        if node.enum:
            return node.enum[0] if variant == 0 else node.enum[-1]
        return {
            "float": (0.5, 0.95)[variant],
            "int": (1, 7)[variant],
            "str": ("sample", "other")[variant],
            "bool": (True, False)[variant],
        }[node.kind]
    if isinstance(node, ListOf):
        return [sample(node.item, variant)]
    if isinstance(node, MapOf):
        return {k: (0.5, 0.95)[variant] for k in node.keys}
    return {name: sample(child, variant) for name, child in node.fields.items()}


def values_at(data: Any, path: tuple[str, ...]) -> Any:
    """The value(s) at ``path`` in built data; a list segment collects over the elements."""
    if not path:
        return data
    head, rest = path[0], path[1:]
    if head == ELEMENT:
        if isinstance(data, Mapping):  # a macro over a map iterates its keys
            return [values_at(k, rest) for k in data]
        if not isinstance(data, list):
            return None
        return [values_at(x, rest) for x in data]
    if isinstance(data, Mapping):
        return values_at(data.get(head), rest)
    return None


Builder = Callable[[Any], Any]
_EMPTY: Mapping[str, Any] = {}


def compile_builder(node: Node, use: Use, where: str) -> Builder:
    """:func:`build` specialised for one (node, use) pair: the per-decision hot path.

    Same results and errors as :func:`build` (error locations name list
    elements as ``[]``), without re-dispatching on the node type per value.
    """
    if isinstance(node, Scalar):
        return _scalar_builder(node, where)
    if isinstance(node, ListOf):
        item_use = use if use.full else use.children.get(ELEMENT, Use())
        if item_use.full:
            item_use = Use(full=True)
        item = compile_builder(node.item, item_use, f"{where}[]")

        def build_list(raw: Any) -> Any:
            if raw is None:
                return []
            if type(raw) is not list and not isinstance(raw, (list, tuple)):
                raise SignalError(f"{where}: expected a list, got {type(raw).__name__}")
            return [item(x) for x in raw]

        return build_list
    if isinstance(node, MapOf):
        full = use.full
        declared = dict.fromkeys(node.keys, 0.0)
        wanted = tuple(use.children)
        score = _scalar_builder(_SCORE, where)

        def build_map(raw: Any) -> Any:
            if raw is None:
                raw = _EMPTY
            elif not isinstance(raw, Mapping):
                raise SignalError(f"{where}: expected a map, got {type(raw).__name__}")
            if full:
                out = dict(declared)
                for name, value in raw.items():
                    out[str(name)] = score(value)
                return out
            return {name: score(raw.get(name)) for name in wanted}

        return build_map
    selected = node.fields if use.full else use.children
    parts = tuple(
        (
            name,
            compile_builder(
                node.fields[name], use if use.full else use.children[name], f"{where}.{name}"
            ),
        )
        for name in selected
    )

    def build_obj(raw: Any) -> Any:
        if raw is None:
            raw = _EMPTY
        elif type(raw) is not dict and not isinstance(raw, Mapping):
            raise SignalError(f"{where}: expected an object, got {type(raw).__name__}")
        get = raw.get
        return {name: part(get(name)) for name, part in parts}

    return build_obj


def _scalar_builder(node: Scalar, where: str) -> Builder:
    default = node.default
    if node.kind == "float":

        def build_float(raw: Any) -> Any:
            kind = type(raw)
            if kind is float:
                return raw
            if raw is None:
                return default
            if kind is int:
                return float(raw)
            return _scalar(node, raw, where)

        return build_float
    if node.kind == "str" and node.enum is None:

        def build_str(raw: Any) -> Any:
            if type(raw) is str:
                return raw
            return _scalar(node, raw, where)

        return build_str
    if node.kind == "str":
        allowed = frozenset(node.enum or ())

        def build_enum(raw: Any) -> Any:
            if type(raw) is str and raw in allowed:
                return raw
            return _scalar(node, raw, where)

        return build_enum
    if node.kind == "bool":

        def build_bool(raw: Any) -> Any:
            if raw is True or raw is False:
                return raw
            return _scalar(node, raw, where)

        return build_bool

    def build_other(raw: Any) -> Any:
        return _scalar(node, raw, where)

    return build_other
