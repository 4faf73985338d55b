"""Known-bad hash banks in the store: banks, their entries, and the audit of every change.

Rows only: hashing, matching and the bank file format belong to
``detectors.hashing`` and ``pipeline.banks`` (the store imports nothing of
ours). The checks here are the last line of defence (kinds, 64-hex hashes,
severities, name syntax), so a bug elsewhere cannot store a malformed entry.
A bank never holds the same (kind, hash) twice; adding one again is counted
as skipped, not an error, so re-banking a clip is harmless. ``added_at`` is
when an entry entered *this* store (also for imports), so "entries added
since T" is how a matcher catches up without a restart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.db import Conflict, NotFound, Store, Tx, new_id, now
from store.events import HashBankCreated, HashBankEntriesAdded

KINDS = ("pdq", "sha256")
SEVERITIES = ("low", "medium", "high", "critical")
# Categories the policy engine's ``hash[].category`` compares against; ""
# means unspecified. Free text would let a typo ("sexaul") bypass a rule.
CATEGORIES = ("", "sexual", "sexual_minors", "violence", "terrorism", "self_harm", "hate", "other")
SOURCES = ("manual", "clip", "import")
BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_DESCRIPTION_CHARS = 2000
MAX_LABEL_CHARS = 500
_INSERT_CHUNK = 500


@dataclass(frozen=True)
class NewEntry:
    """One hash to bank."""

    kind: str
    hash: str
    label: str
    severity: str
    source_clip_id: str | None = None
    added_by: str | None = None
    quality: int | None = None
    t: float | None = None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"hash kind must be one of {list(KINDS)}, got {self.kind!r}")
        if not isinstance(self.hash, str) or not _HEX64.match(self.hash):
            raise ValueError(f"a {self.kind} hash must be 64 lowercase hex characters")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {list(SEVERITIES)}, got {self.severity!r}")
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError("every bank entry needs a label (why it is banked)")
        if len(self.label) > MAX_LABEL_CHARS:
            raise ValueError(f"label is longer than {MAX_LABEL_CHARS} characters")
        if self.quality is not None and not 0 <= int(self.quality) <= 100:
            raise ValueError("PDQ quality must be 0-100")


def validate_bank_name(name: str) -> str:
    if not isinstance(name, str) or not BANK_NAME.match(name):
        raise ValueError(
            "a bank name is 1-64 characters of letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


def validate_category(category: str) -> str:
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {[c for c in CATEGORIES if c]} or empty")
    return category


_BANK_COLS = (
    "b.id, b.name, b.description, coalesce(m.category, '') AS category, m.created_by, b.created_at"
)
_ENTRY_COLS = (
    "e.id, e.kind, e.hash, e.label, e.severity, e.source_clip_id, e.added_by, e.added_at, "
    "e.quality, e.t"
)


class Banks:
    """Repository over ``hash_banks``, ``hash_bank_meta`` and ``hash_bank_entries``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- banks -------------------------------------------------------------------------

    def create(
        self,
        tx: Tx,
        name: str,
        *,
        description: str = "",
        category: str = "",
        actor_id: str | None = None,
    ) -> dict[str, Any]:
        validate_bank_name(name)
        validate_category(category)
        description = (description or "").strip()
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise ValueError(f"description is longer than {MAX_DESCRIPTION_CHARS} characters")
        if tx.execute("SELECT 1 FROM hash_banks WHERE name = ?", [name]).fetchone():
            raise Conflict(f"a hash bank named {name!r} exists")
        bank_id = new_id("bank")
        at = now()
        tx.execute(
            "INSERT INTO hash_banks (id, name, description, created_at) VALUES (?, ?, ?, ?)",
            [bank_id, name, description, at],
        )
        tx.execute(
            "INSERT INTO hash_bank_meta (bank_id, category, created_by) VALUES (?, ?, ?)",
            [bank_id, category, actor_id],
        )
        tx.audit(HashBankCreated(actor_id, bank_id=bank_id, bank=name, category=category))
        return {
            "id": bank_id,
            "name": name,
            "description": description,
            "category": category,
            "created_by": actor_id,
            "created_at": at,
            "entries": 0,
        }

    def _row(self, rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
        if not rows:
            raise NotFound(f"no hash bank named {str(name)[:64]!r}")
        return rows[0]

    def get(self, name: str, tx: Tx | None = None) -> dict[str, Any]:
        sql = (
            f"SELECT {_BANK_COLS} FROM hash_banks b "
            "LEFT JOIN hash_bank_meta m ON m.bank_id = b.id WHERE b.name = ?"
        )
        if tx is not None:
            cursor = tx.execute(sql, [name])
            names = [d[0] for d in cursor.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        else:
            rows = self.store.query_dicts(sql, [name])
        return self._row(rows, name)

    def list_all(self) -> list[dict[str, Any]]:
        """Every bank with its entry counts per kind."""
        return self.store.query_dicts(
            f"SELECT {_BANK_COLS}, count(e.id) AS entries, "
            "count(e.id) FILTER (WHERE e.kind = 'pdq') AS pdq, "
            "count(e.id) FILTER (WHERE e.kind = 'sha256') AS sha256 "
            "FROM hash_banks b LEFT JOIN hash_bank_meta m ON m.bank_id = b.id "
            "LEFT JOIN hash_bank_entries e ON e.bank_id = b.id "
            "GROUP BY ALL ORDER BY b.name"
        )

    # -- entries -------------------------------------------------------------------------

    def add_entries(
        self,
        tx: Tx,
        bank: str,
        entries: Sequence[NewEntry],
        *,
        source: str = "manual",
        actor_id: str | None = None,
        clip_id: str | None = None,
        reason: str | None = None,
        file_bank: str | None = None,
    ) -> dict[str, Any]:
        """Add entries to a bank in the caller's transaction; duplicates are skipped.

        Returns ``{"bank", "added", "skipped", "ids"}``; every entry is checked
        before the first is written, so a bad one leaves the bank unchanged.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {list(SOURCES)}")
        row = self.get(bank, tx)
        for entry in entries:
            entry.check()
        at = now()
        # One query for what the bank already holds, then multi-row inserts:
        # a row-at-a-time check and insert costs ~3 ms per entry in DuckDB,
        # which made a 20k-entry import take a minute.
        existing = {
            (k, h)
            for k, h in tx.execute(
                "SELECT kind, hash FROM hash_bank_entries WHERE bank_id = ?", [row["id"]]
            ).fetchall()
        }
        added_ids: list[str] = []
        kinds: dict[str, int] = {}
        skipped = 0
        rows: list[list[Any]] = []
        for entry in entries:
            key = (entry.kind, entry.hash)
            if key in existing:
                skipped += 1
                continue
            existing.add(key)
            entry_id = new_id("hbe")
            rows.append(
                [
                    entry_id,
                    row["id"],
                    entry.kind,
                    entry.hash,
                    entry.label.strip(),
                    entry.severity,
                    entry.source_clip_id,
                    entry.added_by,
                    at,
                    entry.quality,
                    entry.t,
                ]
            )
            added_ids.append(entry_id)
            kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            tx.execute(
                "INSERT INTO hash_bank_entries (id, bank_id, kind, hash, label, severity, "
                "source_clip_id, added_by, added_at, quality, t) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                [v for r in chunk for v in r],
            )
        tx.audit(
            HashBankEntriesAdded(
                actor_id,
                bank_id=row["id"],
                bank=row["name"],
                source=source,
                added=len(added_ids),
                skipped=skipped,
                kinds=kinds,
                clip_id=clip_id,
                reason=(reason or None) and str(reason)[:500],
                file_bank=file_bank,
            )
        )
        return {"bank": row["name"], "added": len(added_ids), "skipped": skipped, "ids": added_ids}

    def entries(self, bank: str) -> list[dict[str, Any]]:
        """A bank's entries in the order they were added."""
        row = self.get(bank)
        return self.store.query_dicts(
            f"SELECT {_ENTRY_COLS} FROM hash_bank_entries e WHERE e.bank_id = ? "
            "ORDER BY e.added_at, e.id",
            [row["id"]],
        )

    def all_entries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Every entry of every bank with its bank's name and category (to build a matcher)."""
        sql = (
            f"SELECT {_ENTRY_COLS}, b.name AS bank, coalesce(m.category, '') AS category "
            "FROM hash_bank_entries e JOIN hash_banks b ON b.id = e.bank_id "
            "LEFT JOIN hash_bank_meta m ON m.bank_id = b.id"
        )
        params: list[Any] = []
        if since is not None:
            sql += " WHERE e.added_at >= ?"
            params.append(since)
        return self.store.query_dicts(sql + " ORDER BY e.added_at, e.id", params)

    def stamp(self) -> tuple[int, datetime | None]:
        """(entry count, latest added_at): a cheap check that the in-memory index is current."""
        rows = self.store.query("SELECT count(*), max(added_at) FROM hash_bank_entries")
        count, latest = rows[0] if rows else (0, None)
        return int(count), latest
