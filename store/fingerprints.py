"""The ``clip_fingerprints`` table's repository: our own clips' fingerprint rows, stored and read back.

A clip's fingerprint is its file's sha256 plus perceptual hashes of its
keyframes; the rows are plain data (``clip_id``, ``kind``, ``value``, ``t``,
``quality``) computed by the caller. Storing them writes a
``clip.fingerprinted`` audit event in the caller's transaction. The
own-output index is rebuilt from :func:`all_rows`. Nothing outside
``store/`` writes this table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from store.db import Store, Tx, new_id, now
from store.events import ClipFingerprinted

ROW_KEYS = ("clip_id", "kind", "value", "t", "quality")


def insert(
    tx: Tx,
    clip_id: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    sha256: str | None,
    keyframes: int,
    model_id: str,
    actor_id: str | None = None,
) -> int:
    """Store one clip's fingerprint rows (audited); returns how many rows were written."""
    created = now()
    count = 0
    for row in rows:
        if row["clip_id"] != clip_id:
            raise ValueError("every fingerprint row must belong to the clip being recorded")
        tx.execute(
            "INSERT INTO clip_fingerprints (id, clip_id, kind, value, t, quality, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [new_id("fpr"), *(row[key] for key in ROW_KEYS), created],
        )
        count += 1
    tx.audit(
        ClipFingerprinted(
            actor_id, clip_id=clip_id, sha256=sha256, keyframes=keyframes, model_id=model_id
        )
    )
    return count


def all_rows(store: Store) -> list[dict[str, Any]]:
    """Every stored row (``ROW_KEYS``), oldest first, to rebuild the own-output index from."""
    return store.query_dicts(
        f"SELECT {', '.join(ROW_KEYS)} FROM clip_fingerprints ORDER BY created_at, id"
    )
