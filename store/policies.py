"""The ``policy_versions`` and ``policy_state`` tables' repository: saved versions and the pointers.

A version is an immutable row keyed by its id (the policy set's content hash,
computed by the caller) with a sequence number, author, message and the
bundle. ``policy_state`` holds the ``active`` and ``shadow`` pointers. Saving
a version writes a ``policy.version_saved`` audit event, moving a pointer a
``policy.state_changed`` one, both in the caller's transaction. Rows only:
compiling and validating policies is the pipeline's job. Nothing outside
``store/`` writes these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store.db import NotFound, Store, Tx, now
from store.events import PolicyStateChanged, PolicyVersionSaved
from store.jsondoc import dumps, loads

ACTIVE = "active"
SHADOW = "shadow"
KEYS = (ACTIVE, SHADOW)
VERSION_COLUMNS = "id, seq, author_id, message, created_at"


def _check_key(key: str) -> str:
    if key not in KEYS:
        raise ValueError(f"unknown policy pointer {key!r}")
    return key


def seq_of(tx: Tx, version_id: str) -> int | None:
    """The version's sequence number, or None when it is not stored (read in ``tx``)."""
    row = tx.execute("SELECT seq FROM policy_versions WHERE id = ?", [version_id]).fetchone()
    return int(row[0]) if row else None


def insert_version(
    tx: Tx,
    version_id: str,
    bundle: Mapping[str, Any],
    *,
    author_id: str | None,
    message: str,
    rules: int,
) -> int:
    """Store a new version with the next sequence number (audited); returns the number."""
    seq_row = tx.execute("SELECT coalesce(max(seq), 0) + 1 FROM policy_versions").fetchone()
    seq = int(seq_row[0])
    tx.execute(
        "INSERT INTO policy_versions (id, seq, author_id, message, bundle, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [version_id, seq, author_id, message, dumps(bundle), now()],
    )
    tx.audit(
        PolicyVersionSaved(author_id, version_id=version_id, seq=seq, message=message, rules=rules)
    )
    return seq


def pointer(tx: Tx, key: str) -> str | None:
    """The version a pointer names, read in ``tx`` (None when unset)."""
    row = tx.execute(
        "SELECT version_id FROM policy_state WHERE key = ?", [_check_key(key)]
    ).fetchone()
    return str(row[0]) if row else None


def set_pointer(tx: Tx, key: str, version_id: str | None, actor_id: str | None) -> str | None:
    """Point ``key`` at a version (None clears it), audited when it changes; returns the previous."""
    previous = pointer(tx, key)
    if previous == version_id:
        return previous
    tx.execute("DELETE FROM policy_state WHERE key = ?", [key])
    if version_id is not None:
        tx.execute(
            "INSERT INTO policy_state (key, version_id, updated_at) VALUES (?, ?, ?)",
            [key, version_id, now()],
        )
    tx.audit(PolicyStateChanged(actor_id, key=key, version_id=version_id, previous=previous))
    return previous


class PolicyVersions:
    """Reading versions and pointers."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def pointers(self) -> dict[str, str | None]:
        """``{"active": id or None, "shadow": id or None}``."""
        rows = dict(self.store.query("SELECT key, version_id FROM policy_state"))
        return {key: rows.get(key) for key in KEYS}

    def has_active(self) -> bool:
        return bool(self.store.query("SELECT 1 FROM policy_state WHERE key = ?", [ACTIVE]))

    def bundle(self, version_id: str) -> Any:
        """The stored bundle of a version; :class:`NotFound` when there is none."""
        rows = self.store.query("SELECT bundle FROM policy_versions WHERE id = ?", [version_id])
        if not rows:
            raise NotFound(f"no policy version {str(version_id)[:80]}")
        return loads(rows[0][0])

    def listing(self) -> list[dict[str, Any]]:
        """Every version without its bundle, newest first."""
        return self.store.query_dicts(
            f"SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY seq DESC"
        )

    def get(self, version_id: str) -> dict[str, Any]:
        """One version with its bundle; :class:`NotFound` when there is none."""
        rows = self.store.query_dicts(
            f"SELECT {VERSION_COLUMNS}, bundle FROM policy_versions WHERE id = ?", [version_id]
        )
        if not rows:
            raise NotFound(f"no policy version {str(version_id)[:80]}")
        row = rows[0]
        row["bundle"] = loads(row["bundle"])
        return row

    def resolve(self, ref: str) -> str:
        """A version id from an id, a unique id prefix (4+ characters) or a sequence number."""
        ref = str(ref).strip()
        if ref.isdigit():
            seq = int(ref)
            rows = (
                self.store.query("SELECT id FROM policy_versions WHERE seq = ?", [seq])
                if seq < 2**31
                else []
            )
        elif len(ref) >= 4:
            rows = self.store.query(
                "SELECT id FROM policy_versions WHERE id = ? OR starts_with(id, ?)", [ref, ref]
            )
        else:
            rows = []
        if len(rows) != 1:
            what = "is ambiguous" if rows else "does not exist"
            raise NotFound(f"policy version {ref[:40]!r} {what}")
        return str(rows[0][0])
