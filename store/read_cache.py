"""Reads kept in memory until a commit writes one of their tables.

Every request reads the same few rows again: the token it carries and its
user, the user's strikes and settings. In DuckDB a point read costs 0.6-2 ms of CPU, a
fifth of a prompt check's. :class:`ReadCache` keeps such reads, stamped with
the write counters of the tables they came from, and answers from memory
while no commit has written those tables since.

Correctness rests on three things:

- a transaction notes which cached tables it may write (any statement that
  is not a plain ``SELECT`` and names one, and deferred inserts into one:
  over-noting only costs a miss), and the store bumps their counters only
  *after* its COMMIT returned;
- a read takes the stamp *before* it queries, so a commit landing during the
  read leaves the entry stale-stamped, a miss next time, never a stale hit;
- a read inside a write transaction is never cached (it may see that
  transaction's uncommitted rows).

So a caller whose commit has returned (a token revoked, an account
suspended, a strike recorded) is never answered from before it by a later
read. Only the tables in :data:`CACHED_TABLES` may be cached: a table has
to be watched from the store's start, or a write already in flight when it
was first cached would go unnoticed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

# The tables whose reads may be cached (lower case). Add one here, not at run time.
CACHED_TABLES = frozenset({"api_tokens", "users", "strikes", "user_settings"})

_MENTIONS = re.compile(r"\b(" + "|".join(sorted(CACHED_TABLES)) + r")\b", re.IGNORECASE)
_PLAIN_SELECT = re.compile(r"\s*select\b", re.IGNORECASE)
_MAX_ENTRIES = 20_000


def tables_written_by(sql: str) -> set[str]:
    """The cached tables a statement may write: none for a plain SELECT, else those it names."""
    if _PLAIN_SELECT.match(sql):
        return set()
    return {m.lower() for m in _MENTIONS.findall(sql)}


class ReadCache:
    """Per-table write counters and the reads stamped with them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions = dict.fromkeys(CACHED_TABLES, 0)
        self._entries: dict[Hashable, tuple[tuple[int, ...], Any]] = {}
        self.hits = 0
        self.misses = 0

    def stamp(self, tables: tuple[str, ...]) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._versions[t] for t in tables)

    def committed(self, tables: Iterable[str]) -> None:
        """A commit that wrote ``tables`` has returned: reads of them from before are stale."""
        with self._lock:
            for table in tables:
                self._versions[table] += 1

    def get(self, key: Hashable, tables: tuple[str, ...], load: Callable[[], T]) -> T:
        """``load()``'s answer for ``key``, from memory while ``tables`` are unwritten since."""
        unknown = set(tables) - CACHED_TABLES
        if unknown:
            raise ValueError(f"not cacheable (not in CACHED_TABLES): {sorted(unknown)}")
        stamp = self.stamp(tables)  # before the read: see the module docstring
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stamp:
                self.hits += 1
                return entry[1]  # type: ignore[no-any-return]
            self.misses += 1
        value = load()
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (stamp, value)
        return value
