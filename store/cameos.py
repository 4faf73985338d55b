"""Cameos, their permissions and grants, enrolment challenges and protected likenesses: the repository.

Rows only, no models: the pipeline decides whether a recording is live and
whose face is whose; this module stores the outcome and audits every change
in the caller's transaction (``Tx``). Face vectors themselves go through
:mod:`store.vector_catalog` (``likeness_vectors`` is the source of truth the
faiss indexes are rebuilt from); their ``source_sha256`` names the enrolment
frame or photo in the blob store so a model change can re-embed. Nothing
outside ``store/`` writes the cameo tables.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from store.blobs import BlobStore
from store.db import Conflict, NotFound, Store, StoreError, Tx, new_id, now
from store.events import (
    CameoChallengeIssued,
    CameoEnrolled,
    CameoGrantChanged,
    CameoPermissionChanged,
    CameoRevoked,
    LikenessDataDeleted,
    ProtectedLikenessAdded,
)
from store.jsondoc import dumps, loads
from store.vector_catalog import remove_likeness_vectors

STATUSES = ("active", "revoked", "deleted", "refused")
PERMISSIONS = ("only_me", "approved", "mutuals", "everyone")
DIRECTIONS = ("left", "right", "up", "down")
# A teen's cameo starts private and can never be opened to everyone.
TEEN_DEFAULT_PERMISSION = "only_me"
ADULT_DEFAULT_PERMISSION = "only_me"
TEEN_FORBIDDEN_PERMISSIONS = ("everyone",)
CHALLENGE_TTL = timedelta(minutes=10)
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Cameo:
    id: str
    user_id: str
    status: str
    permission: str
    reason: str | None
    recording_sha256: str | None
    challenge: list[str]
    created_at: datetime
    revoked_at: datetime | None = None
    deleted_at: datetime | None = None
    grants: list[str] = field(default_factory=list)  # grantee user ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "status": self.status,
            "permission": self.permission,
            "reason": self.reason,
            "challenge": self.challenge,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
        }


@dataclass(frozen=True)
class Challenge:
    id: str
    user_id: str
    steps: list[str]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "steps": self.steps,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class ProtectedLikeness:
    id: str
    name: str
    created_by: str | None
    created_at: datetime
    embeddings: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "embeddings": self.embeddings,
        }


def check_permission(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise ValueError(f"permission must be one of {', '.join(PERMISSIONS)}")
    return permission


def check_steps(steps: Sequence[str]) -> list[str]:
    """A challenge: 1 to 6 head movements from :data:`DIRECTIONS`."""
    out = [str(s).strip().lower() for s in steps]
    if not 1 <= len(out) <= 6 or any(s not in DIRECTIONS for s in out):
        raise ValueError(f"a challenge is 1 to 6 of {', '.join(DIRECTIONS)}")
    return out


_CAMEO_COLS = (
    "id, user_id, status, permission, reason, recording_sha256, challenge, created_at, "
    "revoked_at, deleted_at"
)


class Cameos:
    """The cameo tables. Reads use the store's cursor; writes take the caller's ``Tx``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reads -------------------------------------------------------------------

    def _cameo(self, row: tuple[Any, ...]) -> Cameo:
        grants = [
            str(r[0])
            for r in self.store.query(
                "SELECT grantee_id FROM cameo_grants WHERE cameo_id = ? ORDER BY created_at",
                [row[0]],
            )
        ]
        return Cameo(
            id=str(row[0]),
            user_id=str(row[1]),
            status=str(row[2]),
            permission=str(row[3]),
            reason=row[4],
            recording_sha256=row[5],
            challenge=list(loads(row[6]) or []),
            created_at=row[7],
            revoked_at=row[8],
            deleted_at=row[9],
            grants=grants,
        )

    def get(self, cameo_id: str) -> Cameo:
        rows = self.store.query(f"SELECT {_CAMEO_COLS} FROM cameos WHERE id = ?", [cameo_id])
        if not rows:
            raise NotFound(f"no cameo {str(cameo_id)[:64]}")
        return self._cameo(rows[0])

    def current(self, user_id: str) -> Cameo | None:
        """The user's cameo that counts: the latest enrolled (active/revoked/deleted) one."""
        rows = self.store.query(
            f"SELECT {_CAMEO_COLS} FROM cameos WHERE user_id = ? AND status != 'refused' "
            "ORDER BY created_at DESC LIMIT 1",
            [user_id],
        )
        return self._cameo(rows[0]) if rows else None

    def history(self, user_id: str) -> list[Cameo]:
        """Every enrolment attempt of a user, newest first (refusals included)."""
        rows = self.store.query(
            f"SELECT {_CAMEO_COLS} FROM cameos WHERE user_id = ? ORDER BY created_at DESC",
            [user_id],
        )
        return [self._cameo(r) for r in rows]

    def of_users(self, cameo_ids: Sequence[str]) -> dict[str, Cameo]:
        if not cameo_ids:
            return {}
        marks = ", ".join("?" for _ in cameo_ids)
        rows = self.store.query(
            f"SELECT {_CAMEO_COLS} FROM cameos WHERE id IN ({marks})", list(cameo_ids)
        )
        return {str(r[0]): self._cameo(r) for r in rows}

    def protected(self, likeness_id: str) -> ProtectedLikeness:
        rows = self.store.query(
            "SELECT p.id, p.name, p.created_by, p.created_at, "
            "(SELECT count(*) FROM likeness_vectors v WHERE v.owner_kind = 'protected' "
            "AND v.owner_id = p.id) FROM protected_likenesses p "
            "WHERE p.id = ? AND p.deleted_at IS NULL",
            [likeness_id],
        )
        if not rows:
            raise NotFound(f"no protected likeness {str(likeness_id)[:64]}")
        r = rows[0]
        return ProtectedLikeness(str(r[0]), str(r[1]), r[2], r[3], int(r[4]))

    def list_protected(self, limit: int = 500, offset: int = 0) -> list[ProtectedLikeness]:
        rows = self.store.query(
            "SELECT p.id, p.name, p.created_by, p.created_at, "
            "(SELECT count(*) FROM likeness_vectors v WHERE v.owner_kind = 'protected' "
            "AND v.owner_id = p.id) FROM protected_likenesses p WHERE p.deleted_at IS NULL "
            "ORDER BY p.created_at, p.id LIMIT ? OFFSET ?",
            [max(1, min(int(limit), 5001)), max(0, int(offset))],
        )
        return [ProtectedLikeness(str(r[0]), str(r[1]), r[2], r[3], int(r[4])) for r in rows]

    def vector_sources(self, owner_kind: str, owner_id: str) -> list[tuple[str, str | None]]:
        """(model id, source blob sha) of every stored vector of an owner."""
        rows = self.store.query(
            "SELECT model_id, source_sha256 FROM likeness_vectors "
            "WHERE owner_kind = ? AND owner_id = ? ORDER BY created_at, id",
            [owner_kind, owner_id],
        )
        return [(str(r[0]), r[1]) for r in rows]

    # -- challenges -------------------------------------------------------------------

    def issue_challenge(self, tx: Tx, user_id: str, steps: Sequence[str]) -> Challenge:
        steps = check_steps(steps)
        at = now()
        challenge = Challenge(new_id("chl"), user_id, steps, at, at + CHALLENGE_TTL)
        tx.execute(
            "INSERT INTO cameo_challenges (id, user_id, steps, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [challenge.id, user_id, dumps(steps), at, challenge.expires_at],
        )
        tx.audit(
            CameoChallengeIssued(
                user_id, user_id=user_id, challenge_id=challenge.id, steps=tuple(steps)
            )
        )
        return challenge

    def pending_challenge(self, user_id: str) -> Challenge | None:
        """The user's newest unused, unexpired challenge."""
        rows = self.store.query(
            "SELECT id, user_id, steps, created_at, expires_at, used_at FROM cameo_challenges "
            "WHERE user_id = ? AND used_at IS NULL AND expires_at > ? "
            "ORDER BY created_at DESC LIMIT 1",
            [user_id, now()],
        )
        if not rows:
            return None
        r = rows[0]
        return Challenge(str(r[0]), str(r[1]), list(loads(r[2])), r[3], r[4], r[5])

    def use_challenge(self, tx: Tx, challenge_id: str, cameo_id: str) -> None:
        """Mark a challenge answered (once: a second use is a conflict)."""
        row = tx.execute(
            "SELECT used_at FROM cameo_challenges WHERE id = ?", [challenge_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"no challenge {challenge_id[:64]}")
        if row[0] is not None:
            raise Conflict("this challenge was already used; ask for a new one")
        tx.execute(
            "UPDATE cameo_challenges SET used_at = ?, cameo_id = ? WHERE id = ?",
            [now(), cameo_id, challenge_id],
        )

    # -- cameos -----------------------------------------------------------------------

    def create(
        self,
        tx: Tx,
        user_id: str,
        *,
        status: str,
        permission: str,
        reason: str | None,
        recording_sha256: str | None,
        challenge: Sequence[str],
        actor_id: str | None = None,
    ) -> Cameo:
        if status not in ("active", "refused"):
            raise StoreError("a new cameo is either active or refused")
        check_permission(permission)
        if status == "active":
            row = tx.execute(
                "SELECT id FROM cameos WHERE user_id = ? AND status = 'active'", [user_id]
            ).fetchone()
            if row is not None:
                raise Conflict("you already have an active cameo; revoke it before enrolling again")
        cameo_id = new_id("cam")
        at = now()
        tx.execute(
            f"INSERT INTO cameos ({_CAMEO_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            [
                cameo_id,
                user_id,
                status,
                permission,
                reason,
                recording_sha256,
                dumps(list(challenge)),
                at,
            ],
        )
        tx.audit(
            CameoEnrolled(
                actor_id or user_id,
                cameo_id=cameo_id,
                user_id=user_id,
                status=status,
                permission=permission,
                reason=reason,
                recording_sha256=recording_sha256,
                challenge=tuple(challenge),
            )
        )
        return Cameo(
            cameo_id, user_id, status, permission, reason, recording_sha256, list(challenge), at
        )

    def set_permission(
        self, tx: Tx, cameo: Cameo, permission: str, *, is_teen: bool, actor_id: str | None
    ) -> None:
        check_permission(permission)
        if cameo.status != "active":
            raise Conflict(
                f"the cameo is {cameo.status}; only an active cameo's permission changes"
            )
        if is_teen and permission in TEEN_FORBIDDEN_PERMISSIONS:
            raise ValueError("a teen's cameo cannot be open to everyone")
        if permission == cameo.permission:
            return
        tx.execute("UPDATE cameos SET permission = ? WHERE id = ?", [permission, cameo.id])
        tx.audit(
            CameoPermissionChanged(
                actor_id, cameo_id=cameo.id, previous=cameo.permission, permission=permission
            )
        )

    def set_grant(
        self, tx: Tx, cameo: Cameo, grantee_id: str, granted: bool, *, actor_id: str | None
    ) -> bool:
        """Add or remove a grantee; False when nothing changed."""
        if cameo.status != "active":
            raise Conflict(f"the cameo is {cameo.status}; grants change only on an active cameo")
        if grantee_id == cameo.user_id:
            raise ValueError("you always may use your own cameo; no grant needed")
        row = tx.execute(
            "SELECT 1 FROM cameo_grants WHERE cameo_id = ? AND grantee_id = ?",
            [cameo.id, grantee_id],
        ).fetchone()
        if (row is not None) == granted:
            return False
        if granted:
            tx.execute("INSERT INTO cameo_grants VALUES (?, ?, ?)", [cameo.id, grantee_id, now()])
        else:
            tx.execute(
                "DELETE FROM cameo_grants WHERE cameo_id = ? AND grantee_id = ?",
                [cameo.id, grantee_id],
            )
        tx.audit(
            CameoGrantChanged(actor_id, cameo_id=cameo.id, grantee_id=grantee_id, granted=granted)
        )
        return True

    def revoke(
        self,
        tx: Tx,
        cameo: Cameo,
        *,
        actor_id: str | None,
        takedown_job_id: str | None,
        live_clips: int,
    ) -> None:
        if cameo.status != "active":
            raise Conflict(f"the cameo is already {cameo.status}")
        tx.execute(
            "UPDATE cameos SET status = 'revoked', revoked_at = ? WHERE id = ?", [now(), cameo.id]
        )
        tx.audit(
            CameoRevoked(
                actor_id,
                cameo_id=cameo.id,
                user_id=cameo.user_id,
                takedown_job_id=takedown_job_id,
                live_clips=live_clips,
            )
        )

    def delete_likeness_data(
        self, tx: Tx, user_id: str, blobs: BlobStore, *, actor_id: str | None
    ) -> dict[str, int]:
        """Remove every vector, enrolment frame and recording of the user's cameos (audited).

        Cameos become ``deleted``; an active one is revoked by this too (its
        data is gone, so it can no longer be matched or used). Recordings of
        every attempt, refused ones included, are unlinked from their cameos.
        A blob goes only when nothing else still names it (content addressing
        may share a file): a frame no other vector row uses, a recording no
        clip is made of. ``frames`` counts both.
        """
        rows = tx.execute(
            "SELECT id, status FROM cameos WHERE user_id = ? AND status != 'refused'", [user_id]
        ).fetchall()
        cameo_ids = [str(r[0]) for r in rows]
        recordings = {
            str(r[0])
            for r in tx.execute(
                "SELECT DISTINCT recording_sha256 FROM cameos "
                "WHERE user_id = ? AND recording_sha256 IS NOT NULL",
                [user_id],
            ).fetchall()
        }
        vectors = 0
        shas: set[str] = set()
        for cameo_id in cameo_ids:
            for (sha,) in tx.execute(
                "SELECT DISTINCT source_sha256 FROM likeness_vectors WHERE owner_kind = 'cameo' "
                "AND owner_id = ? AND source_sha256 IS NOT NULL",
                [cameo_id],
            ).fetchall():
                shas.add(str(sha))
            vectors += remove_likeness_vectors(tx, "cameo", cameo_id, actor_id=actor_id)
        at = now()
        tx.execute(
            "UPDATE cameos SET status = 'deleted', deleted_at = ?, "
            "revoked_at = coalesce(revoked_at, ?) WHERE user_id = ? AND status != 'refused'",
            [at, at, user_id],
        )
        frames = 0
        for sha in sorted(shas):
            still_used = tx.execute(
                "SELECT 1 FROM likeness_vectors WHERE source_sha256 = ? LIMIT 1", [sha]
            ).fetchone()
            if still_used is None:
                blobs.delete(tx, sha)
                frames += 1
        for sha in sorted(recordings):
            tx.execute(
                "UPDATE cameos SET recording_sha256 = NULL WHERE recording_sha256 = ?", [sha]
            )
            still_used = tx.execute(
                "SELECT 1 FROM clips WHERE media_sha256 = ? LIMIT 1", [sha]
            ).fetchone()
            if still_used is None:
                blobs.delete(tx, sha)
                frames += 1
        tx.audit(
            LikenessDataDeleted(
                actor_id,
                user_id=user_id,
                cameo_ids=tuple(cameo_ids),
                vectors=vectors,
                frames=frames,
            )
        )
        return {"cameos": len(cameo_ids), "vectors": vectors, "frames": frames}

    # -- protected likenesses ------------------------------------------------------------

    def add_protected(self, tx: Tx, name: str, photos: int, *, actor_id: str | None) -> str:
        clean = " ".join(str(name).split())
        if not 1 <= len(clean) <= MAX_NAME_CHARS:
            raise ValueError(
                f"a protected likeness needs a name of 1 to {MAX_NAME_CHARS} characters"
            )
        likeness_id = new_id("plk")
        tx.execute(
            "INSERT INTO protected_likenesses (id, name, created_by, created_at) "
            "VALUES (?, ?, ?, ?)",
            [likeness_id, clean, actor_id, now()],
        )
        tx.audit(
            ProtectedLikenessAdded(
                actor_id, likeness_id=likeness_id, likeness_name=clean, photos=photos
            )
        )
        return likeness_id


def random_challenge(n: int = 3) -> list[str]:
    """``n`` head movements, no movement twice in a row (so each step is a real change)."""
    steps: list[str] = []
    while len(steps) < n:
        step = secrets.choice(DIRECTIONS)
        if not steps or step != steps[-1]:
            steps.append(step)
    return steps
