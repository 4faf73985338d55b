"""Evidence holds: a clip's records and media kept past deletion, every opening logged.

A hold is placed in the caller's transaction (a moderator's child-safety
block or takedown, ``pipeline.review``): a snapshot of what was decided (the
clip row, the decisions, the signals, the banking) in ``evidence_holds``, and
the clip's media file hard-linked (or, across file systems, copied) out of
the blob store into ``<data_dir>/evidence/media/``. Deleting the blob, the
clip row or the account later leaves both. The copy is content-addressed, so
placing the same hold again (a retried transaction) writes nothing twice.

Reading a hold's contents goes through :meth:`EvidenceHolds.open`, which
writes an ``evidence_access`` row and an ``evidence.accessed`` audit event in
one transaction before it returns anything; listing holds shows no contents
and is not logged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from store.blobs import validate_sha256
from store.db import NotFound, new_id, now
from store.events import AuditEvent
from store.jsondoc import dumps, loads

if TYPE_CHECKING:
    from store.blobs import BlobStore
    from store.db import Store, Tx

EVIDENCE_DIR = "evidence"
MAX_PURPOSE_CHARS = 500
_HOLD_COLS = (
    "id, clip_id, decision_id, category, media_sha256, preserved_media, reason, held_by, "
    "created_at, released_at, released_by"
)


@dataclass(frozen=True)
class EvidenceHeld(AuditEvent):
    """A clip's evidence was put on hold (kept past deletion)."""

    name: ClassVar[str] = "evidence.held"
    subject_type: ClassVar[str | None] = "clip"
    hold_id: str = ""
    clip_id: str = ""
    decision_id: str = ""
    category: str = ""
    media_sha256: str | None = None
    preserved_media: bool = False

    @property
    def subject_id(self) -> str | None:
        return self.clip_id


@dataclass(frozen=True)
class EvidenceAccessed(AuditEvent):
    """Someone opened held evidence, for a stated purpose."""

    name: ClassVar[str] = "evidence.accessed"
    subject_type: ClassVar[str | None] = "clip"
    hold_id: str = ""
    clip_id: str = ""
    purpose: str = ""

    @property
    def subject_id(self) -> str | None:
        return self.clip_id


class EvidenceHolds:
    """Repository over ``evidence_holds`` and ``evidence_access``, plus the preserved media."""

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs
        self.root = Path(store.data_dir) / EVIDENCE_DIR / "media"

    # -- media ------------------------------------------------------------------------

    def media_path(self, sha: str) -> Path:
        digest = validate_sha256(sha)
        return self.root / digest[0:2] / digest

    def _preserve(self, sha: str) -> bool:
        """Keep the blob's file outside the blob store; False when there is none to keep."""
        target = self.media_path(sha)
        if target.is_file():
            return True
        source = self.blobs.path(sha)
        if not source.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{new_id('tmp')}")
        try:
            try:
                os.link(source, tmp)  # the same bytes, no copy; survives the blob's unlink
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return True

    # -- holds ------------------------------------------------------------------------

    def hold(
        self,
        tx: Tx,
        *,
        clip_id: str,
        decision_id: str,
        category: str,
        evidence: dict[str, Any],
        reason: str | None = None,
        actor_id: str | None = None,
    ) -> dict[str, Any]:
        """Place a hold in ``tx``: the snapshot, and the clip's media kept outside the blob store."""
        row = tx.execute("SELECT media_sha256 FROM clips WHERE id = ?", [clip_id]).fetchone()
        if row is None:
            raise NotFound(f"no clip {clip_id}")
        sha = str(row[0]) if row[0] else None
        preserved = self._preserve(sha) if sha else False
        hold_id = new_id("hold")
        at = now()
        tx.execute(
            "INSERT INTO evidence_holds (id, clip_id, decision_id, category, media_sha256, "
            "preserved_media, evidence, reason, held_by, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                hold_id,
                clip_id,
                decision_id,
                category,
                sha,
                preserved,
                dumps(evidence),
                reason,
                actor_id,
                at,
            ],
        )
        tx.audit(
            EvidenceHeld(
                actor_id,
                hold_id=hold_id,
                clip_id=clip_id,
                decision_id=decision_id,
                category=category,
                media_sha256=sha,
                preserved_media=preserved,
            )
        )
        return {
            "id": hold_id,
            "clip_id": clip_id,
            "decision_id": decision_id,
            "category": category,
            "media_sha256": sha,
            "preserved_media": preserved,
            "created_at": at,
        }

    def for_clip(self, clip_id: str) -> list[dict[str, Any]]:
        """The clip's holds, newest first: who, when, why -- never the contents (not logged)."""
        return self.store.query_dicts(
            f"SELECT {_HOLD_COLS} FROM evidence_holds WHERE clip_id = ? ORDER BY created_at DESC",
            [str(clip_id)[:64]],
        )

    def get(self, hold_id: str) -> dict[str, Any]:
        rows = self.store.query_dicts(
            f"SELECT {_HOLD_COLS} FROM evidence_holds WHERE id = ?", [str(hold_id)[:64]]
        )
        if not rows:
            raise NotFound(f"no evidence hold {str(hold_id)[:64]}")
        return rows[0]

    def is_media_held(self, sha: str) -> bool:
        """Whether an active hold keeps this media (deletion code must leave its copy alone)."""
        return bool(
            self.store.query(
                "SELECT 1 FROM evidence_holds WHERE media_sha256 = ? AND released_at IS NULL "
                "LIMIT 1",
                [sha],
            )
        )

    def open(self, hold_id: str, actor_id: str, purpose: str) -> dict[str, Any]:
        """A hold with its contents; the access is logged (row + audit) before anything is returned."""
        purpose = (purpose or "").strip()
        if not purpose:
            raise ValueError("say why you open held evidence (purpose)")
        if len(purpose) > MAX_PURPOSE_CHARS:
            raise ValueError(f"the purpose is longer than {MAX_PURPOSE_CHARS} characters")
        hold = self.get(hold_id)
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT INTO evidence_access (id, hold_id, user_id, purpose, accessed_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [new_id("evac"), hold["id"], actor_id, purpose, now()],
            )
            tx.audit(
                EvidenceAccessed(
                    actor_id, hold_id=hold["id"], clip_id=hold["clip_id"], purpose=purpose
                )
            )
        row = self.store.query("SELECT evidence FROM evidence_holds WHERE id = ?", [hold["id"]])
        sha = hold["media_sha256"]
        media = self.media_path(sha) if sha else None
        return {
            **hold,
            "evidence": loads(row[0][0]),
            "media": {
                "sha256": sha,
                "kept": bool(media and media.is_file()),
                "path": str(media.relative_to(self.store.data_dir)) if media else None,
            },
        }

    def access_log(self, hold_id: str) -> list[dict[str, Any]]:
        return self.store.query_dicts(
            "SELECT id, hold_id, user_id, purpose, accessed_at FROM evidence_access "
            "WHERE hold_id = ? "
            "ORDER BY accessed_at, id",
            [str(hold_id)[:64]],
        )
