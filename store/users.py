"""Users, roles, API tokens, passwords, follows and guardianships.

Tokens look like ``gr_<prefix>_<secret>``; only the prefix (to find the row)
and an argon2id hash of the peppered token are stored, so a copy of the
database gives no working token. Verified tokens are cached briefly in memory
because argon2 is deliberately slow; revoking a token clears the cache.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from store.db import Conflict, NotFound, Store, StoreError, Tx, new_id, now
from store.events import (
    FollowChanged,
    GuardianLinked,
    TokenIssued,
    TokenRevoked,
    UserCreated,
    UserUpdated,
)

ROLES = ("admin", "moderator", "rights_holder", "user", "guardian")
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
ADULT_AGE = 18
MIN_AGE = 13
_TOKEN_RE = re.compile(r"^gr_([0-9a-f]{12})_([A-Za-z0-9_-]{20,64})$")
# argon2id with modest cost: tokens are long random secrets, so the hash only
# needs to make a stolen database useless, not resist guessing.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class AuthError(StoreError):
    """Wrong or expired credentials (the message never says which part was wrong)."""


@dataclass(frozen=True)
class User:
    id: str
    handle: str
    role: str
    birth_year: int | None
    display_name: str | None
    disabled: bool
    created_at: datetime

    def age(self, today: datetime | None = None) -> int | None:
        if self.birth_year is None:
            return None
        return (today or now()).year - self.birth_year

    @property
    def is_teen(self) -> bool:
        """Teens get the stricter side of everything; unknown age counts as adult only for staff."""
        age = self.age()
        if age is None:
            return False
        return age < ADULT_AGE

    def to_public(self) -> dict[str, Any]:
        """What others may see: no birth year, only whether the account is a teen account."""
        return {
            "id": self.id,
            "handle": self.handle,
            "role": self.role,
            "display_name": self.display_name,
            "is_teen": self.is_teen,
        }

    def to_self(self) -> dict[str, Any]:
        return {**self.to_public(), "birth_year": self.birth_year, "disabled": self.disabled}


_USER_COLS = "id, handle, role, birth_year, display_name, disabled, created_at"


def _user(row: tuple[Any, ...]) -> User:
    return User(*row)


def validate_handle(handle: str) -> str:
    handle = handle.strip().lower()
    if not HANDLE_RE.match(handle):
        raise ValueError(
            "handle must be 2-32 characters: lowercase letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return handle


def validate_birth_year(birth_year: int | None, role: str) -> None:
    if birth_year is None:
        return
    age = now().year - birth_year
    if age < MIN_AGE:
        raise ValueError(f"accounts need an age of at least {MIN_AGE}")
    if age > 130:
        raise ValueError("birth year is not plausible")
    if role != "user" and age < ADULT_AGE:
        raise ValueError(f"role {role!r} needs an adult account")


def _pepper_token(token: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), token.encode(), hashlib.sha256).hexdigest()


class Users:
    """Repository for people and their credentials."""

    def __init__(self, store: Store, pepper: str, cache_seconds: float = 60.0) -> None:
        self.store = store
        self._pepper = pepper
        self._cache: dict[str, tuple[float, str, str]] = {}
        self._cache_lock = threading.Lock()
        self._cache_seconds = cache_seconds

    # -- users ---------------------------------------------------------------

    def create(
        self,
        tx: Tx,
        handle: str,
        role: str,
        *,
        birth_year: int | None = None,
        display_name: str | None = None,
        password: str | None = None,
        actor_id: str | None = None,
    ) -> User:
        handle = validate_handle(handle)
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
        validate_birth_year(birth_year, role)
        if tx.execute("SELECT 1 FROM users WHERE handle = ?", [handle]).fetchone():
            raise Conflict(f"handle {handle!r} is taken")
        if password is not None and len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        user_id = new_id("usr")
        created = now()
        tx.execute(
            "INSERT INTO users (id, handle, role, birth_year, display_name, password_hash, "
            "disabled, created_at) VALUES (?, ?, ?, ?, ?, ?, FALSE, ?)",
            [
                user_id,
                handle,
                role,
                birth_year,
                display_name,
                _hasher.hash(password) if password else None,
                created,
            ],
        )
        tx.audit(UserCreated(actor_id, user_id=user_id, handle=handle, role=role))
        return User(user_id, handle, role, birth_year, display_name, False, created)

    def get(self, user_id: str) -> User:
        rows = self.store.query(f"SELECT {_USER_COLS} FROM users WHERE id = ?", [user_id])
        if not rows:
            raise NotFound(f"no user {user_id}")
        return _user(rows[0])

    def by_handle(self, handle: str) -> User:
        rows = self.store.query(
            f"SELECT {_USER_COLS} FROM users WHERE handle = ?", [handle.strip().lower()]
        )
        if not rows:
            raise NotFound(f"no user @{handle}")
        return _user(rows[0])

    def all(self, role: str | None = None, limit: int = 500) -> list[User]:
        sql = f"SELECT {_USER_COLS} FROM users"
        params: list[Any] = []
        if role:
            sql += " WHERE role = ?"
            params.append(role)
        sql += " ORDER BY created_at, handle LIMIT ?"
        params.append(limit)
        return [_user(r) for r in self.store.query(sql, params)]

    def set_disabled(self, tx: Tx, user_id: str, disabled: bool, actor_id: str | None) -> None:
        if not tx.execute("SELECT 1 FROM users WHERE id = ?", [user_id]).fetchone():
            raise NotFound(f"no user {user_id}")
        tx.execute("UPDATE users SET disabled = ? WHERE id = ?", [disabled, user_id])
        tx.audit(UserUpdated(actor_id, user_id=user_id, changes={"disabled": disabled}))
        self._forget_user(user_id)

    # -- tokens and passwords -----------------------------------------------

    def issue_token(
        self,
        tx: Tx,
        user_id: str,
        *,
        label: str | None = None,
        ttl: timedelta | None = None,
        actor_id: str | None = None,
    ) -> tuple[str, str]:
        """Create a token; returns (token_id, token). The token is shown once, never stored."""
        prefix = secrets.token_hex(6)
        token = f"gr_{prefix}_{secrets.token_urlsafe(32)}"
        token_id = new_id("tok")
        created = now()
        tx.execute(
            "INSERT INTO api_tokens (id, user_id, prefix, token_hash, label, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                token_id,
                user_id,
                prefix,
                _hasher.hash(_pepper_token(token, self._pepper)),
                label,
                created,
                created + ttl if ttl else None,
            ],
        )
        tx.audit(TokenIssued(actor_id or user_id, user_id=user_id, token_id=token_id, label=label))
        return token_id, token

    def revoke_token(self, tx: Tx, token_id: str, actor_id: str | None) -> None:
        row = tx.execute(
            "SELECT user_id FROM api_tokens WHERE id = ? AND revoked_at IS NULL", [token_id]
        ).fetchone()
        if not row:
            raise NotFound(f"no active token {token_id}")
        tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [now(), token_id])
        tx.audit(TokenRevoked(actor_id, user_id=row[0], token_id=token_id))
        with self._cache_lock:
            self._cache = {k: v for k, v in self._cache.items() if v[2] != token_id}

    def tokens_of(self, user_id: str) -> list[dict[str, Any]]:
        return self.store.query_dicts(
            "SELECT id, label, created_at, expires_at, revoked_at FROM api_tokens "
            "WHERE user_id = ? ORDER BY created_at",
            [user_id],
        )

    def authenticate(self, token: str) -> User:
        """The user a token belongs to, or AuthError."""
        match = _TOKEN_RE.match(token or "")
        if not match:
            raise AuthError("invalid token")
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        with self._cache_lock:
            hit = self._cache.get(cache_key)
        if hit and hit[0] > time.monotonic():
            user = self.get(hit[1])
            if user.disabled:
                raise AuthError("invalid token")
            return user
        peppered = _pepper_token(token, self._pepper)
        rows = self.store.query(
            "SELECT id, user_id, token_hash, expires_at FROM api_tokens "
            "WHERE prefix = ? AND revoked_at IS NULL",
            [match.group(1)],
        )
        for token_id, user_id, token_hash, expires_at in rows:
            try:
                _hasher.verify(token_hash, peppered)
            except (VerificationError, InvalidHashError):
                continue
            if expires_at is not None and expires_at <= now():
                raise AuthError("token expired")
            user = self.get(user_id)
            if user.disabled:
                raise AuthError("invalid token")
            with self._cache_lock:
                self._cache[cache_key] = (
                    time.monotonic() + self._cache_seconds,
                    user_id,
                    token_id,
                )
            return user
        raise AuthError("invalid token")

    def check_password(self, handle: str, password: str) -> User:
        rows = self.store.query(
            f"SELECT {_USER_COLS}, password_hash FROM users WHERE handle = ?",
            [handle.strip().lower()],
        )
        if not rows or rows[0][-1] is None:
            # Same cost as a real check, so timing does not reveal which handles exist.
            _hasher.hash(password or "x")
            raise AuthError("wrong handle or password")
        try:
            _hasher.verify(rows[0][-1], password)
        except (VerificationError, InvalidHashError):
            raise AuthError("wrong handle or password") from None
        user = _user(rows[0][:-1])
        if user.disabled:
            raise AuthError("wrong handle or password")
        return user

    def _forget_user(self, user_id: str) -> None:
        with self._cache_lock:
            self._cache = {k: v for k, v in self._cache.items() if v[1] != user_id}

    # -- social graph ----------------------------------------------------------

    def follow(self, tx: Tx, follower_id: str, followee_id: str, following: bool = True) -> None:
        if follower_id == followee_id:
            raise ValueError("you cannot follow yourself")
        if not tx.execute("SELECT 1 FROM users WHERE id = ?", [followee_id]).fetchone():
            raise NotFound(f"no user {followee_id}")
        if following:
            tx.execute(
                "INSERT INTO follows VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [follower_id, followee_id, now()],
            )
        else:
            tx.execute(
                "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
                [follower_id, followee_id],
            )
        tx.audit(
            FollowChanged(
                follower_id, follower_id=follower_id, followee_id=followee_id, following=following
            )
        )

    def are_mutuals(self, a: str, b: str) -> bool:
        rows = self.store.query(
            "SELECT count(*) FROM follows WHERE (follower_id = ? AND followee_id = ?) "
            "OR (follower_id = ? AND followee_id = ?)",
            [a, b, b, a],
        )
        return bool(rows and rows[0][0] == 2)

    def link_guardian(self, tx: Tx, guardian_id: str, teen_id: str, actor_id: str | None) -> None:
        guardian = self.get(guardian_id)
        teen = self.get(teen_id)
        if guardian.role != "guardian":
            raise ValueError(f"@{guardian.handle} is not a guardian account")
        if not teen.is_teen:
            raise ValueError(f"@{teen.handle} is not a teen account")
        tx.execute(
            "INSERT INTO guardianships VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [guardian_id, teen_id, now()],
        )
        tx.audit(GuardianLinked(actor_id, guardian_id=guardian_id, teen_id=teen_id))

    def teens_of(self, guardian_id: str) -> list[User]:
        rows = self.store.query(
            f"SELECT {', '.join('u.' + c.strip() for c in _USER_COLS.split(','))} "
            "FROM guardianships g JOIN users u ON u.id = g.teen_id WHERE g.guardian_id = ?",
            [guardian_id],
        )
        return [_user(r) for r in rows]
