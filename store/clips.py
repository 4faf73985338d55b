"""The ``clips`` table's repository: creating clips and moving them between states, audited.

A clip's status is ``draft`` (accepted, not scanned yet), ``pending`` (allowed,
waiting to be signed), ``queued`` (waiting for a human), ``published``,
``blocked`` or ``taken_down``; its audience is ``everyone`` or ``adults``.
Every change writes a ``clip.status_changed`` audit event in the caller's
transaction. Nothing outside ``store/`` writes this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.db import NotFound, Store, Tx, new_id, now
from store.events import ClipStatusChanged

STATUSES = ("draft", "pending", "queued", "published", "blocked", "taken_down")
# A clip in one of these states is (or is about to be) visible to someone other than staff.
LIVE_STATUSES = ("published", "pending", "queued")
ORIGINS = ("generated", "upload", "remix")
COLUMNS = (
    "id, creator_id, prompt, origin, parent_clip_id, status, media_sha256, audience, "
    "created_at, updated_at"
)


@dataclass(frozen=True)
class NewClip:
    """A clip to create."""

    creator_id: str | None
    prompt: str | None
    origin: str
    status: str
    parent_clip_id: str | None = None
    media_sha256: str | None = None
    audience: str = "everyone"


def insert(tx: Tx, clip: NewClip, actor_id: str | None, decision_id: str | None = None) -> str:
    """Create a clip (audited); returns its id."""
    if clip.status not in STATUSES:
        raise ValueError(f"unknown clip status {clip.status!r}")
    if clip.origin not in ORIGINS:
        raise ValueError(f"unknown clip origin {clip.origin!r}")
    clip_id = new_id("clip")
    at = now()
    tx.execute(
        f"INSERT INTO clips ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            clip_id,
            clip.creator_id,
            clip.prompt,
            clip.origin,
            clip.parent_clip_id,
            clip.status,
            clip.media_sha256,
            clip.audience,
            at,
            at,
        ],
    )
    tx.audit(
        ClipStatusChanged(
            actor_id,
            clip_id=clip_id,
            previous=None,
            status=clip.status,
            audience=clip.audience,
            decision_id=decision_id,
        )
    )
    return clip_id


def set_status(
    tx: Tx,
    clip_id: str,
    status: str,
    actor_id: str | None,
    *,
    audience: str | None = None,
    media_sha256: str | None = None,
    decision_id: str | None = None,
) -> str | None:
    """Move a clip (audited even when the status stays, so a re-decision is visible); returns the previous status."""
    if status not in STATUSES:
        raise ValueError(f"unknown clip status {status!r}")
    row = tx.execute(
        "SELECT status, audience, media_sha256 FROM clips WHERE id = ?", [clip_id]
    ).fetchone()
    if row is None:
        raise NotFound(f"no clip {clip_id}")
    previous, old_audience, old_sha = row
    new_audience = audience or old_audience
    tx.execute(
        "UPDATE clips SET status = ?, audience = ?, media_sha256 = ?, updated_at = ? WHERE id = ?",
        [status, new_audience, media_sha256 or old_sha, now(), clip_id],
    )
    tx.audit(
        ClipStatusChanged(
            actor_id,
            clip_id=clip_id,
            previous=previous,
            status=status,
            audience=new_audience,
            decision_id=decision_id,
        )
    )
    return str(previous)


def set_media(tx: Tx, clip_id: str, media_sha256: str) -> None:
    """Point a clip at new bytes (its signed copy); the status change that follows is audited."""
    tx.execute(
        "UPDATE clips SET media_sha256 = ?, updated_at = ? WHERE id = ?",
        [media_sha256, now(), clip_id],
    )


class Clips:
    """Reading clips."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def find(self, clip_id: str) -> dict[str, Any] | None:
        rows = self.store.query_dicts(
            f"SELECT {COLUMNS} FROM clips WHERE id = ?", [str(clip_id)[:64]]
        )
        return rows[0] if rows else None

    def get(self, clip_id: str) -> dict[str, Any]:
        row = self.find(clip_id)
        if row is None:
            raise NotFound(f"no clip {str(clip_id)[:64]}")
        return row

    def lineage(self, clip_id: str, max_depth: int = 32) -> list[dict[str, Any]]:
        """The clip's ancestors, parent first (stops at a missing parent or a cycle)."""
        out: list[dict[str, Any]] = []
        seen = {clip_id}
        current = self.find(clip_id)
        while current is not None and current["parent_clip_id"] and len(out) < max_depth:
            parent_id = current["parent_clip_id"]
            if parent_id in seen:
                break
            seen.add(parent_id)
            current = self.find(parent_id)
            if current is not None:
                out.append(current)
        return out

    def remixes(self, clip_id: str, max_depth: int = 8) -> list[dict[str, Any]]:
        """Remixes of the clip and of its remixes, with their depth (1: a direct remix)."""
        return self.store.query_dicts(
            "WITH RECURSIVE tree(id, depth) AS ("
            "  SELECT id, 1 FROM clips WHERE parent_clip_id = ? "
            "  UNION ALL "
            "  SELECT c.id, t.depth + 1 FROM clips c JOIN tree t ON c.parent_clip_id = t.id "
            "  WHERE t.depth < ?"
            f") SELECT {', '.join('c.' + col.strip() for col in COLUMNS.split(','))}, "
            "min(t.depth) AS depth FROM tree t JOIN clips c ON c.id = t.id "
            f"GROUP BY ALL ORDER BY depth, c.created_at, c.id",
            [str(clip_id)[:64], max_depth],
        )
