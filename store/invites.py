"""Invite codes, the invite tree (who invited whom) and stopped branches.

Sign-up is by invitation: every account may make up to ``per_user`` codes
(used and unused ones count; a voided one gives its place back). A code is
120 random bits written as six groups of four base32 characters
(``K7QF-2M9X-…``), shown once when it is made; only its sha256 is stored,
with its first group as a hint its owner can tell codes apart by.

The tree: an account that joined with a code hangs below the code's owner;
accounts made by an admin, the CLI or the demo are roots. Staff stop invites
for a branch (an account and everyone below it, recursively) with a reason:
the branch's unused codes are voided at once, and nobody in it can make or
hand out codes until the stop is lifted at the account where it was put.

Every refusal of a code at sign-up is the same :class:`InviteRefused`, whether
the code is unknown, used, void or in a stopped branch, and it is decided
before anything about the requested handle is looked at.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.db import Conflict, NotFound, Store, StoreError, Tx, new_id, now
from store.events import (
    InviteCodeCreated,
    InviteCodeVoided,
    InviteRedeemed,
    InvitesResumed,
    InvitesStopped,
)
from store.users import validate_reason

DEFAULT_PER_USER = 5
CODE_BYTES = 15  # 120 bits -> 24 base32 characters
CODE_GROUP = 4
MAX_CODE_INPUT = 100
MAX_DEPTH = 256  # far deeper than any real chain; bounds the recursive queries
MAX_TREE_NODES = 2000
_CODE_RE = re.compile(r"^[A-Z2-7]{24}$")
REFUSED = "this invite code cannot be used (it is unknown, used, or withdrawn)"


class InviteRefused(StoreError):
    """A code that cannot be used; one message for every reason."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


def new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii").rstrip("=")
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, len(raw), CODE_GROUP))


def normalize_code(code: str) -> str | None:
    """The code as stored (upper case, no separators), or None when it cannot be one of ours."""
    text = re.sub(r"[\s\-_]", "", (code or "")[:MAX_CODE_INPUT]).upper()
    return text if _CODE_RE.match(text) else None


def hash_code(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class NewInvite:
    """A code just made: ``code`` is shown to its owner this once and never again."""

    id: str
    code: str
    hint: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "hint": self.hint,
            "state": "unused",
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ClaimedCode:
    """A code found valid inside a sign-up transaction (not yet marked used)."""

    id: str
    owner_id: str


class Invites:
    """Repository and rules for invite codes and the invite tree."""

    def __init__(self, store: Store, per_user: int = DEFAULT_PER_USER) -> None:
        if per_user < 0:
            raise ValueError("invites per user cannot be negative")
        self.store = store
        self.per_user = int(per_user)

    # -- reading ---------------------------------------------------------------------------

    def _rows(self, sql: str, params: list[Any], tx: Tx | None) -> list[tuple[Any, ...]]:
        if tx is not None:
            return list(tx.execute(sql, params).fetchall())
        return self.store.query(sql, params)

    def stop_over(self, user_id: str, tx: Tx | None = None) -> dict[str, Any] | None:
        """The nearest stop on the way from ``user_id`` up to its root (None: may invite)."""
        rows = self._rows(
            "WITH RECURSIVE up(user_id, depth) AS ("
            "  SELECT CAST(? AS VARCHAR), 0"
            "  UNION ALL"
            "  SELECT i.inviter_id, up.depth + 1 FROM invitations i"
            "  JOIN up ON i.user_id = up.user_id WHERE up.depth < ?"
            ") SELECT up.user_id, u.handle, s.reason, s.stopped_at, b.handle, up.depth "
            "FROM up JOIN invite_stops s ON s.user_id = up.user_id "
            "LEFT JOIN users u ON u.id = up.user_id LEFT JOIN users b ON b.id = s.stopped_by "
            "ORDER BY up.depth LIMIT 1",
            [user_id, MAX_DEPTH],
            tx,
        )
        if not rows:
            return None
        at_id, handle, reason, stopped_at, stopped_by, depth = rows[0]
        return {
            "at_user_id": at_id,
            "at": handle,
            "here": depth == 0,
            "reason": reason,
            "stopped_at": stopped_at.isoformat() if stopped_at else None,
            "stopped_by": stopped_by,
        }

    def can_invite(self, user_id: str, tx: Tx | None = None) -> bool:
        return self.stop_over(user_id, tx) is None

    def _counted(self, owner_id: str, tx: Tx | None = None) -> int:
        rows = self._rows(
            "SELECT count(*) FROM invite_codes WHERE owner_id = ? AND state IN ('unused', 'used')",
            [owner_id],
            tx,
        )
        return int(rows[0][0]) if rows else 0

    def codes_of(self, owner_id: str) -> list[dict[str, Any]]:
        """Every code an account made, newest first, with its state (never the code itself)."""
        rows = self.store.query_dicts(
            "SELECT c.id, c.hint, c.state, c.created_at, u.handle AS used_by, c.used_at, "
            "c.voided_at, c.void_cause FROM invite_codes c "
            "LEFT JOIN users u ON u.id = c.used_by WHERE c.owner_id = ? "
            "ORDER BY c.created_at DESC, c.id",
            [owner_id],
        )
        for row in rows:
            for key in ("created_at", "used_at", "voided_at"):
                if row[key] is not None:
                    row[key] = row[key].isoformat()
            row["hint"] = f"{row['hint']}-…"
        return rows

    def summary(self, owner_id: str) -> dict[str, Any]:
        """An account's invites: allowance, what is left, whether it may invite, and its codes."""
        made = self._counted(owner_id)
        stop = self.stop_over(owner_id)
        return {
            "per_user": self.per_user,
            "counted": made,
            "remaining": max(0, self.per_user - made) if stop is None else 0,
            "can_invite": stop is None,
            "invites": self.codes_of(owner_id),
            "invited_by": self.inviter_handle(owner_id),
        }

    def inviter_handle(self, user_id: str) -> str | None:
        rows = self.store.query(
            "SELECT u.handle FROM invitations i JOIN users u ON u.id = i.inviter_id "
            "WHERE i.user_id = ?",
            [user_id],
        )
        return str(rows[0][0]) if rows else None

    def ancestors(self, user_id: str) -> list[str]:
        """Handles from the inviter of ``user_id`` up to the root of its tree."""
        rows = self.store.query(
            "WITH RECURSIVE up(user_id, depth) AS ("
            "  SELECT CAST(? AS VARCHAR), 0"
            "  UNION ALL"
            "  SELECT i.inviter_id, up.depth + 1 FROM invitations i"
            "  JOIN up ON i.user_id = up.user_id WHERE up.depth < ?"
            ") SELECT u.handle FROM up JOIN users u ON u.id = up.user_id "
            "WHERE up.depth > 0 ORDER BY up.depth",
            [user_id, MAX_DEPTH],
        )
        return [str(r[0]) for r in rows]

    def _branch(self, user_id: str, tx: Tx | None = None, limit: int | None = None) -> list[Any]:
        """(user id, inviter id, depth) of ``user_id`` and everyone below it, top down, in the
        order they joined."""
        sql = (
            "WITH RECURSIVE down(user_id, inviter_id, depth, joined_at) AS ("
            "  SELECT CAST(? AS VARCHAR), CAST(NULL AS VARCHAR), 0, CAST(NULL AS TIMESTAMPTZ)"
            "  UNION ALL"
            "  SELECT i.user_id, i.inviter_id, down.depth + 1, i.joined_at FROM invitations i"
            "  JOIN down ON i.inviter_id = down.user_id WHERE down.depth < ?"
            ") SELECT user_id, inviter_id, depth FROM down "
            "ORDER BY depth, joined_at NULLS FIRST, user_id"
        )
        params: list[Any] = [user_id, MAX_DEPTH]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._rows(sql, params, tx)

    def tree(self, user_id: str) -> dict[str, Any]:
        """``user_id``'s branch of the invite tree, for staff: each account with its codes and stops."""
        branch = self._branch(user_id, limit=MAX_TREE_NODES + 1)
        truncated = len(branch) > MAX_TREE_NODES
        branch = branch[:MAX_TREE_NODES]
        ids = [r[0] for r in branch]
        people = {
            r["id"]: r
            for r in self.store.query_dicts(
                "SELECT u.id, u.handle, u.role, u.disabled, i.joined_at, c.hint AS code_hint "
                "FROM users u LEFT JOIN invitations i ON i.user_id = u.id "
                "LEFT JOIN invite_codes c ON c.id = i.code_id "
                "WHERE list_contains(?, u.id)",
                [ids],
            )
        }
        counts: dict[str, dict[str, int]] = {}
        for owner, state, n in self.store.query(
            "SELECT owner_id, state, count(*) FROM invite_codes "
            "WHERE list_contains(?, owner_id) GROUP BY owner_id, state",
            [ids],
        ):
            counts.setdefault(owner, {})[state] = int(n)
        stops = {
            r["user_id"]: r
            for r in self.store.query_dicts(
                "SELECT s.user_id, s.reason, s.stopped_at, b.handle AS stopped_by "
                "FROM invite_stops s LEFT JOIN users b ON b.id = s.stopped_by "
                "WHERE list_contains(?, s.user_id)",
                [ids],
            )
        }
        above = self.stop_over(user_id)
        blocked_from_above = above is not None and not above["here"]
        nodes: dict[str, dict[str, Any]] = {}
        root: dict[str, Any] | None = None
        for member_id, inviter_id, depth in branch:
            person = people.get(member_id)
            if person is None:
                continue
            stop = stops.get(member_id)
            parent = nodes.get(inviter_id) if depth > 0 else None
            blocked = (
                blocked_from_above
                or stop is not None
                or bool(parent is not None and parent["invites_stopped"])
            )
            node = {
                "handle": person["handle"],
                "role": person["role"],
                "suspended": bool(person["disabled"]),
                "joined_at": person["joined_at"].isoformat() if person["joined_at"] else None,
                "code_hint": f"{person['code_hint']}-…" if person["code_hint"] else None,
                "codes": {
                    s: counts.get(member_id, {}).get(s, 0) for s in ("unused", "used", "void")
                },
                "stop": None
                if stop is None
                else {
                    "reason": stop["reason"],
                    "stopped_at": stop["stopped_at"].isoformat(),
                    "stopped_by": stop["stopped_by"],
                },
                "invites_stopped": blocked,
                "children": [],
            }
            nodes[member_id] = node
            if parent is not None:
                parent["children"].append(node)
            elif depth == 0:
                root = node
        if root is None:
            raise NotFound(f"no user {user_id}")
        return {
            "tree": root,
            "invited_by": self.inviter_handle(user_id),
            "ancestors": self.ancestors(user_id),
            "stopped_above": above if blocked_from_above else None,
            "members": len(nodes),
            "truncated": truncated,
        }

    # -- making and withdrawing codes --------------------------------------------------------

    def create(self, tx: Tx, owner_id: str) -> NewInvite:
        """Make one code for ``owner_id`` (Conflict when none is left or invites are stopped)."""
        if not self.can_invite(owner_id, tx):
            raise Conflict("invites are paused for your account")
        if self._counted(owner_id, tx) >= self.per_user:
            raise Conflict(f"you have used all {self.per_user} of your invites")
        code = new_code()
        normalized = normalize_code(code)
        assert normalized is not None
        code_id = new_id("inv")
        created = now()
        hint = normalized[:CODE_GROUP]
        tx.execute(
            "INSERT INTO invite_codes (id, owner_id, code_hash, hint, created_at, state) "
            "VALUES (?, ?, ?, ?, ?, 'unused')",
            [code_id, owner_id, hash_code(normalized), hint, created],
        )
        tx.audit(InviteCodeCreated(owner_id, owner_id=owner_id, code_id=code_id))
        return NewInvite(code_id, code, f"{hint}-…", created)

    def withdraw(self, tx: Tx, owner_id: str, code_id: str) -> dict[str, Any]:
        """The owner voids one of their unused codes (its place in the allowance comes back)."""
        row = tx.execute(
            "SELECT state FROM invite_codes WHERE id = ? AND owner_id = ?",
            [str(code_id)[:64], owner_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no invite {str(code_id)[:64]}")
        if row[0] != "unused":
            raise Conflict(f"invite {code_id} is {row[0]}; only an unused one can be withdrawn")
        tx.execute(
            "UPDATE invite_codes SET state = 'void', voided_at = ?, void_cause = 'owner' "
            "WHERE id = ?",
            [now(), code_id],
        )
        tx.audit(InviteCodeVoided(owner_id, owner_id=owner_id, code_id=code_id, cause="owner"))
        return {"id": code_id, "state": "void"}

    # -- signing up ------------------------------------------------------------------------------

    def claim(self, tx: Tx, code: str) -> ClaimedCode:
        """The code's row if it can be used now, else :class:`InviteRefused` (one answer for all)."""
        normalized = normalize_code(code)
        if normalized is None:
            raise InviteRefused()
        row = tx.execute(
            "SELECT c.id, c.owner_id, c.state, u.disabled FROM invite_codes c "
            "JOIN users u ON u.id = c.owner_id WHERE c.code_hash = ?",
            [hash_code(normalized)],
        ).fetchone()
        if row is None or row[2] != "unused" or row[3]:
            raise InviteRefused()
        if not self.can_invite(str(row[1]), tx):
            raise InviteRefused()
        return ClaimedCode(str(row[0]), str(row[1]))

    def redeem(self, tx: Tx, claimed: ClaimedCode, new_user_id: str) -> None:
        """Mark the code used by the account just created, and hang it below the code's owner."""
        at = now()
        tx.execute(
            "UPDATE invite_codes SET state = 'used', used_by = ?, used_at = ? "
            "WHERE id = ? AND state = 'unused'",
            [new_user_id, at, claimed.id],
        )
        tx.execute(
            "INSERT INTO invitations (user_id, inviter_id, code_id, joined_at) VALUES (?, ?, ?, ?)",
            [new_user_id, claimed.owner_id, claimed.id, at],
        )
        tx.audit(
            InviteRedeemed(
                new_user_id, user_id=new_user_id, inviter_id=claimed.owner_id, code_id=claimed.id
            )
        )

    # -- stopping a branch -------------------------------------------------------------------

    def stop(self, tx: Tx, user_id: str, reason: str, actor_id: str | None) -> dict[str, Any]:
        """Stop invites for ``user_id``'s branch: its unused codes are void, nobody in it invites."""
        reason = validate_reason(reason)
        if tx.execute("SELECT 1 FROM invite_stops WHERE user_id = ?", [user_id]).fetchone():
            raise Conflict("invites are already stopped for this branch")
        members = [r[0] for r in self._branch(user_id, tx)]
        at = now()
        tx.execute(
            "INSERT INTO invite_stops (user_id, reason, stopped_by, stopped_at) VALUES (?, ?, ?, ?)",
            [user_id, reason, actor_id, at],
        )
        voided = tx.execute(
            "SELECT count(*) FROM invite_codes WHERE list_contains(?, owner_id) "
            "AND state = 'unused'",
            [members],
        ).fetchone()
        tx.execute(
            "UPDATE invite_codes SET state = 'void', voided_at = ?, void_cause = 'stop' "
            "WHERE list_contains(?, owner_id) AND state = 'unused'",
            [at, members],
        )
        count = int(voided[0]) if voided else 0
        tx.audit(
            InvitesStopped(
                actor_id, user_id=user_id, reason=reason, members=len(members), codes_voided=count
            )
        )
        return {"members": len(members), "codes_voided": count, "reason": reason}

    def resume(self, tx: Tx, user_id: str, reason: str, actor_id: str | None) -> dict[str, Any]:
        """Lift a stop put at ``user_id`` (a stop higher up stays, and is named in the Conflict)."""
        reason = validate_reason(reason)
        if not tx.execute("SELECT 1 FROM invite_stops WHERE user_id = ?", [user_id]).fetchone():
            above = self.stop_over(user_id, tx)
            if above is not None:
                raise Conflict(
                    f"invites are stopped higher up the tree, at @{above['at']}: resume them there"
                )
            raise Conflict("invites are not stopped for this account")
        tx.execute("DELETE FROM invite_stops WHERE user_id = ?", [user_id])
        tx.audit(InvitesResumed(actor_id, user_id=user_id, reason=reason))
        still = self.stop_over(user_id, tx)
        return {"resumed": True, "reason": reason, "still_stopped_above": still}
