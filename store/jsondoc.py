"""The one JSON helper: how documents are written to and read from the store's JSON columns.

Writing is strict (no NaN, which DuckDB's JSON type refuses) and knows our
value types: objects with ``to_dict``, numpy arrays and scalars, sets and
tuples. Reading accepts what DuckDB hands back: a string, or an already
decoded value.
"""

from __future__ import annotations

import json
from typing import Any


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    """JSON text for a column (UTF-8 kept, NaN refused)."""
    return json.dumps(value, default=_default, ensure_ascii=False, allow_nan=False)


def loads(value: Any) -> Any:
    """A column's value as Python data (strings are parsed, anything else is returned as is)."""
    return json.loads(value) if isinstance(value, str) else value
