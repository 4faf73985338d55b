"""Offset paging for list routes: one pair of query parameters and one page shape.

A route asks its store for ``page.fetch`` rows (one more than the page) from
``page.offset``; the extra row only says whether there is a next page, so no
list route counts its whole table to answer. Every paged answer carries
``offset`` and ``next_offset`` (null on the last page) beside its list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Query

# Deeper than any list should be read by paging; past it, narrow the filter instead.
OFFSET_CAP = 100_000


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int

    @property
    def fetch(self) -> int:
        """Rows to ask the store for: one more than the page tells whether another follows."""
        return self.limit + 1

    def doc(self, key: str, rows: Sequence[Any]) -> dict[str, Any]:
        return {
            key: list(rows[: self.limit]),
            "offset": self.offset,
            "next_offset": self.offset + self.limit if len(rows) > self.limit else None,
        }


def paging(default: int, maximum: int) -> Callable[..., Page]:
    """A FastAPI dependency reading ``limit`` (1..maximum) and ``offset`` (0..OFFSET_CAP)."""

    def dependency(
        limit: int = Query(default=default, ge=1, le=maximum, description="rows per page"),
        offset: int = Query(default=0, ge=0, le=OFFSET_CAP, description="rows to skip"),
    ) -> Page:
        return Page(offset=offset, limit=limit)

    return dependency
