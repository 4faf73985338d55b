"""Users, roles, API tokens, passwords, suspension, follows and guardianships.

Tokens look like ``gr_<prefix>_<secret>``; only the prefix (to find the row)
and an argon2id hash of the peppered token are stored, so a copy of the
database gives no working token. Every token expires: API tokens after
``token_ttl_hours``, console sessions after ``session_ttl_hours`` (a token
stored without an expiry, from before expiries existed, counts from its
creation with the API-token lifetime). Which row a token is, is cached briefly
in memory because argon2 is deliberately slow; whether that row is still good
(expired, revoked, account suspended) is read from the database on every
request, so a revocation or a suspension stops a token at once, whichever
``Users`` object made it.

Age comes from a birth date. An account with only a birth year is treated as
the youngest it can be (born on 31 December of that year); a ``user`` account
with no known age is treated as a teen until its age is known.

Guardian links are *pending* when a guardian asks and *confirmed* once the
teen confirms (or an admin links them); only a confirmed link lets a guardian
see or change a teen's settings.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from store.db import Conflict, NotFound, Store, StoreError, Tx, new_id, now
from store.events import (
    FollowChanged,
    GuardianLinkConfirmed,
    GuardianLinked,
    GuardianLinkRequested,
    GuardianUnlinked,
    TokenIssued,
    TokenRevoked,
    UserCreated,
    UserLoggedOut,
    UserReinstated,
    UserSuspended,
    UserUpdated,
)

ROLES = ("admin", "moderator", "rights_holder", "user", "guardian", "policy_author")
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
ADULT_AGE = 18
MIN_AGE = 13
MAX_AGE = 130
MAX_REASON_CHARS = 500
DEFAULT_TOKEN_TTL_HOURS = 720.0
DEFAULT_SESSION_TTL_HOURS = 12.0
_TOKEN_RE = re.compile(r"^gr_([0-9a-f]{12})_([A-Za-z0-9_-]{20,64})$")
_CACHE_MAX = 10_000
# argon2id with modest cost: tokens are long random secrets, so the hash only
# needs to make a stolen database useless, not resist guessing.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class AuthError(StoreError):
    """Wrong, expired or revoked credentials, or a suspended account (never which part was wrong)."""


def _day(today: date | datetime | None) -> date:
    if today is None:
        return now().date()
    return today.date() if isinstance(today, datetime) else today


def age_on(
    birth_date: date | None, birth_year: int | None, today: date | datetime | None = None
) -> int | None:
    """Whole years of age on ``today``; None when unknown.

    With only a birth year, the youngest the person can be: their birthday is
    taken as 31 December of that year, so nobody is treated as older than
    they may be.
    """
    if birth_date is not None:
        born = birth_date
    elif birth_year is not None:
        born = date(birth_year, 12, 31)
    else:
        return None
    day = _day(today)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True)
class User:
    id: str
    handle: str
    role: str
    birth_year: int | None
    display_name: str | None
    disabled: bool
    created_at: datetime
    birth_date: date | None = None
    disabled_reason: str | None = None

    def age(self, today: date | datetime | None = None) -> int | None:
        return age_on(self.birth_date, self.birth_year, today)

    @property
    def age_known(self) -> bool:
        return self.birth_date is not None or self.birth_year is not None

    @property
    def is_teen(self) -> bool:
        """Teens get the stricter side of everything.

        Only ``user`` accounts can be teens (every other role needs an adult);
        a ``user`` account whose age is unknown is treated as a teen until an
        admin records its birth date.
        """
        if self.role != "user":
            return False
        age = self.age()
        return True if age is None else age < ADULT_AGE

    def to_public(self) -> dict[str, Any]:
        """What other people may see: never an age, a birth year or whether it is a teen account."""
        return {
            "id": self.id,
            "handle": self.handle,
            "role": self.role,
            "display_name": self.display_name,
        }

    def to_self(self) -> dict[str, Any]:
        """What the person themselves and staff see."""
        return {
            **self.to_public(),
            "is_teen": self.is_teen,
            "age_known": self.age_known,
            "birth_year": self.birth_year,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "disabled": self.disabled,
            "suspended": self.disabled,
            "suspension_reason": self.disabled_reason,
        }


@dataclass(frozen=True)
class TokenSecret:
    """A token before it is stored: shown once; only the hash is kept."""

    prefix: str
    token: str
    token_hash: str = field(repr=False)


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str
    expires_at: datetime


_USER_COLS = (
    "id, handle, role, birth_year, display_name, disabled, created_at, birth_date, disabled_reason"
)
_U_COLS = ", ".join("u." + c.strip() for c in _USER_COLS.split(","))


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


def validate_birth(
    birth_year: int | None, birth_date: date | None, role: str
) -> tuple[int | None, date | None]:
    """Check an age for a role; returns (birth_year, birth_date) made consistent."""
    if birth_date is not None:
        if birth_year is not None and birth_year != birth_date.year:
            raise ValueError("birth_year and birth_date disagree")
        if birth_date > now().date():
            raise ValueError("birth date is in the future")
        birth_year = birth_date.year
    age = age_on(birth_date, birth_year)
    if age is None:
        return None, None
    approx = "" if birth_date else " (with only a birth year, the youngest age it allows counts)"
    if age < MIN_AGE:
        raise ValueError(f"accounts need an age of at least {MIN_AGE}{approx}")
    if now().year - (birth_year or 0) > MAX_AGE:
        raise ValueError("birth year is not plausible")
    if role != "user" and age < ADULT_AGE:
        raise ValueError(f"role {role!r} needs an adult account{approx}")
    return birth_year, birth_date


def validate_birth_year(birth_year: int | None, role: str) -> None:
    validate_birth(birth_year, None, role)


def validate_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required")
    if len(reason) > MAX_REASON_CHARS:
        raise ValueError(f"the reason is longer than {MAX_REASON_CHARS} characters")
    return reason


def _pepper_token(token: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), token.encode(), hashlib.sha256).hexdigest()


class Users:
    """Repository for people and their credentials."""

    def __init__(
        self,
        store: Store,
        pepper: str,
        cache_seconds: float = 60.0,
        *,
        token_ttl_hours: float = DEFAULT_TOKEN_TTL_HOURS,
        session_ttl_hours: float = DEFAULT_SESSION_TTL_HOURS,
    ) -> None:
        if token_ttl_hours < 0 or session_ttl_hours < 0:
            raise ValueError("token lifetimes cannot be negative")
        self.store = store
        self._pepper = pepper
        # token hash key -> (monotonic deadline, token id): which row a token is, not whether
        # it is still good; that is read from the database on every use.
        self._cache: dict[str, tuple[float, str]] = {}
        self._cache_lock = threading.Lock()
        self._cache_seconds = cache_seconds
        self.token_ttl = timedelta(hours=token_ttl_hours)
        self.session_ttl = timedelta(hours=session_ttl_hours)

    # -- users ---------------------------------------------------------------

    def create(
        self,
        tx: Tx,
        handle: str,
        role: str,
        *,
        birth_year: int | None = None,
        birth_date: date | None = None,
        display_name: str | None = None,
        password: str | None = None,
        actor_id: str | None = None,
        password_hash: str | None = None,
    ) -> User:
        handle = validate_handle(handle)
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
        birth_year, birth_date = validate_birth(birth_year, birth_date, role)
        if tx.execute("SELECT 1 FROM users WHERE handle = ?", [handle]).fetchone():
            raise Conflict(f"handle {handle!r} is taken")
        if password is not None and password_hash is None:
            password_hash = self.hash_password(password)  # slow; callers do it before the tx
        user_id = new_id("usr")
        created = now()
        tx.execute(
            "INSERT INTO users (id, handle, role, birth_year, birth_date, display_name, "
            "password_hash, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, FALSE, ?)",
            [
                user_id,
                handle,
                role,
                birth_year,
                birth_date,
                display_name,
                password_hash or (_hasher.hash(password) if password else None),
                created,
            ],
        )
        tx.audit(UserCreated(actor_id, user_id=user_id, handle=handle, role=role))
        return User(
            user_id, handle, role, birth_year, display_name, False, created, birth_date, None
        )

    def get(self, user_id: str, tx: Tx | None = None) -> User:
        sql = f"SELECT {_USER_COLS} FROM users WHERE id = ?"
        row = (
            tx.execute(sql, [user_id]).fetchone()
            if tx is not None
            else next(iter(self.store.query(sql, [user_id])), None)
        )
        if row is None:
            raise NotFound(f"no user {user_id}")
        return _user(row)

    def by_handle(self, handle: str) -> User:
        rows = self.store.query(
            f"SELECT {_USER_COLS} FROM users WHERE handle = ?", [handle.strip().lower()]
        )
        if not rows:
            raise NotFound(f"no user @{handle.strip().lower()[:32]}")
        return _user(rows[0])

    def all(
        self,
        role: str | None = None,
        limit: int = 500,
        *,
        offset: int = 0,
        handle_contains: str | None = None,
    ) -> list[User]:
        """Accounts in creation order, optionally one role's or those whose handle holds a text."""
        where: list[str] = []
        params: list[Any] = []
        if role:
            where.append("role = ?")
            params.append(role)
        if handle_contains:
            where.append("contains(lower(handle), ?)")  # literal text, no wildcards
            params.append(handle_contains.lower())
        sql = f"SELECT {_USER_COLS} FROM users"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, handle LIMIT ? OFFSET ?"
        params += [int(limit), int(offset)]
        return [_user(r) for r in self.store.query(sql, params)]

    def set_birth_date(self, tx: Tx, user_id: str, birth_date: date, actor_id: str | None) -> User:
        """Record a person's birth date (staff), which makes their age known."""
        user = self.get(user_id, tx)
        birth_year, birth_date_ok = validate_birth(None, birth_date, user.role)
        tx.execute(
            "UPDATE users SET birth_date = ?, birth_year = ? WHERE id = ?",
            [birth_date_ok, birth_year, user_id],
        )
        # The date itself stays out of the audit log; that it changed, and by whom, is kept.
        tx.audit(UserUpdated(actor_id, user_id=user_id, changes={"birth_date": "set"}))
        return self.get(user_id, tx)

    # -- suspension ------------------------------------------------------------

    def suspend(
        self,
        tx: Tx,
        user_id: str,
        reason: str,
        actor_id: str | None,
        *,
        revoke_tokens: bool = False,
    ) -> User:
        """Suspend an account: its tokens and password stop working at once.

        Refused (Conflict) for an account already suspended and for the last
        active admin, so an admin cannot lock every admin out.
        """
        reason = validate_reason(reason)
        user = self.get(user_id, tx)
        if user.disabled:
            raise Conflict(f"@{user.handle} is already suspended")
        if user.role == "admin":
            others = tx.execute(
                "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND id <> ?",
                [user_id],
            ).fetchone()
            if not others or int(others[0]) == 0:
                raise Conflict(f"@{user.handle} is the last active admin and cannot be suspended")
        tx.execute(
            "UPDATE users SET disabled = TRUE, disabled_reason = ?, disabled_at = ?, "
            "disabled_by = ? WHERE id = ?",
            [reason, now(), actor_id, user_id],
        )
        revoked = self._revoke_all(tx, user_id) if revoke_tokens else 0
        tx.audit(UserSuspended(actor_id, user_id=user_id, reason=reason, tokens_revoked=revoked))
        self._forget_user(user_id)
        return self.get(user_id, tx)

    def reinstate(self, tx: Tx, user_id: str, reason: str, actor_id: str | None) -> User:
        """Lift a suspension: tokens that have not expired or been revoked work again."""
        reason = validate_reason(reason)
        user = self.get(user_id, tx)
        if not user.disabled:
            raise Conflict(f"@{user.handle} is not suspended")
        tx.execute(
            "UPDATE users SET disabled = FALSE, disabled_reason = NULL, disabled_at = NULL, "
            "disabled_by = NULL WHERE id = ?",
            [user_id],
        )
        tx.audit(UserReinstated(actor_id, user_id=user_id, reason=reason))
        return self.get(user_id, tx)

    def set_disabled(self, tx: Tx, user_id: str, disabled: bool, actor_id: str | None) -> None:
        """Kept for callers of the old API: suspend or reinstate without a written reason."""
        if disabled:
            self.suspend(tx, user_id, "disabled", actor_id)
        else:
            self.reinstate(tx, user_id, "enabled", actor_id)

    # -- tokens and passwords -----------------------------------------------

    def token_lifetime(self, ttl: timedelta | None = None, *, session: bool = False) -> timedelta:
        """The lifetime a new token gets: the asked-for one, never beyond the configured maximum."""
        limit = self.session_ttl if session else self.token_ttl
        if ttl is None:
            return limit
        if ttl < timedelta(0):
            raise ValueError("a token lifetime cannot be negative")
        return min(ttl, limit)

    def issue(
        self,
        tx: Tx,
        user_id: str,
        *,
        label: str | None = None,
        ttl: timedelta | None = None,
        session: bool = False,
        actor_id: str | None = None,
        secret: TokenSecret | None = None,
    ) -> IssuedToken:
        """Create a token that expires (see :meth:`token_lifetime`); shown once, never stored.

        Hashing is deliberately slow: pass ``secret`` from :meth:`new_secret`, made
        before the transaction, so the store's write lock is not held meanwhile.
        """
        secret = secret or self.new_secret()
        prefix, token = secret.prefix, secret.token
        token_id = new_id("tok")
        created = now()
        expires = created + self.token_lifetime(ttl, session=session)
        tx.execute(
            "INSERT INTO api_tokens (id, user_id, prefix, token_hash, label, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                token_id,
                user_id,
                prefix,
                secret.token_hash,
                label,
                created,
                expires,
            ],
        )
        tx.audit(TokenIssued(actor_id or user_id, user_id=user_id, token_id=token_id, label=label))
        return IssuedToken(token_id, token, expires)

    def new_secret(self) -> TokenSecret:
        """A new token and its peppered argon2 hash (slow: call it outside a transaction)."""
        prefix = secrets.token_hex(6)
        token = f"gr_{prefix}_{secrets.token_urlsafe(32)}"
        return TokenSecret(prefix, token, _hasher.hash(_pepper_token(token, self._pepper)))

    @staticmethod
    def hash_password(password: str) -> str:
        """The argon2 hash of a password (slow: call it outside a transaction)."""
        if len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        return _hasher.hash(password)

    def issue_token(
        self,
        tx: Tx,
        user_id: str,
        *,
        label: str | None = None,
        ttl: timedelta | None = None,
        session: bool = False,
        actor_id: str | None = None,
    ) -> tuple[str, str]:
        """Create a token; returns (token_id, token). The token is shown once, never stored."""
        issued = self.issue(tx, user_id, label=label, ttl=ttl, session=session, actor_id=actor_id)
        return issued.id, issued.token

    def revoke_token(self, tx: Tx, token_id: str, actor_id: str | None) -> None:
        row = tx.execute(
            "SELECT user_id FROM api_tokens WHERE id = ? AND revoked_at IS NULL", [token_id]
        ).fetchone()
        if not row:
            raise NotFound(f"no active token {token_id}")
        tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [now(), token_id])
        tx.audit(TokenRevoked(actor_id, user_id=row[0], token_id=token_id))
        self._forget_token(token_id)

    def logout(self, tx: Tx, token_id: str) -> None:
        """Revoke the token a person signed out with."""
        row = tx.execute(
            "SELECT user_id FROM api_tokens WHERE id = ? AND revoked_at IS NULL", [token_id]
        ).fetchone()
        if not row:
            raise NotFound(f"no active token {token_id}")
        tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [now(), token_id])
        tx.audit(UserLoggedOut(row[0], user_id=row[0], token_id=token_id))
        self._forget_token(token_id)

    def revoke_all(self, tx: Tx, user_id: str, actor_id: str | None) -> int:
        """Revoke every active token of an account (one audit event per token); returns how many."""
        ids = [
            r[0]
            for r in tx.execute(
                "SELECT id FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL ORDER BY id",
                [user_id],
            ).fetchall()
        ]
        for token_id in ids:
            self.revoke_token(tx, token_id, actor_id)
        return len(ids)

    def _revoke_all(self, tx: Tx, user_id: str) -> int:
        rows = tx.execute(
            "SELECT count(*) FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL", [user_id]
        ).fetchone()
        tx.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            [now(), user_id],
        )
        self._forget_user(user_id)
        return int(rows[0]) if rows else 0

    def tokens_of(self, user_id: str) -> list[dict[str, Any]]:
        rows = self.store.query_dicts(
            "SELECT id, label, created_at, expires_at, revoked_at FROM api_tokens "
            "WHERE user_id = ? ORDER BY created_at",
            [user_id],
        )
        for row in rows:
            if row["expires_at"] is None:  # stored before every token had an expiry
                row["expires_at"] = row["created_at"] + self.token_ttl
        return rows

    def authenticate(self, token: str) -> User:
        """The user a token belongs to, or AuthError."""
        return self.authenticate_token(token)[0]

    def authenticate_token(self, token: str) -> tuple[User, str]:
        """(user, token id) for a token, or AuthError saying why (expired, revoked, suspended)."""
        match = _TOKEN_RE.match(token or "")
        if not match:
            raise AuthError("invalid token")
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        with self._cache_lock:
            hit = self._cache.get(cache_key)
        token_id = hit[1] if hit and hit[0] > time.monotonic() else None
        if token_id is None:
            token_id = self._find_token(match.group(1), token)
            with self._cache_lock:
                if len(self._cache) >= _CACHE_MAX:
                    clock = time.monotonic()
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > clock}
                    if len(self._cache) >= _CACHE_MAX:
                        self._cache.clear()
                self._cache[cache_key] = (time.monotonic() + self._cache_seconds, token_id)
        return self._token_user(token_id), token_id

    def _find_token(self, prefix: str, token: str) -> str:
        peppered = _pepper_token(token, self._pepper)
        rows = self.store.query(
            "SELECT id, token_hash FROM api_tokens WHERE prefix = ?",
            [prefix],
        )
        for token_id, token_hash in rows:
            try:
                _hasher.verify(token_hash, peppered)
            except (VerificationError, InvalidHashError):
                continue
            return str(token_id)
        raise AuthError("invalid token")

    def _token_user(self, token_id: str) -> User:
        # Read on every request, so kept in memory until a commit writes tokens or users
        # (a revocation or suspension is seen by the next request after it returns).
        rows = self.store.cached(
            ("token_user", token_id),
            ("api_tokens", "users"),
            lambda: self.store.query(
                f"SELECT t.created_at, t.expires_at, t.revoked_at, {_U_COLS} "
                "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
                [token_id],
            ),
        )
        if not rows:
            raise AuthError("invalid token")
        created_at, expires_at, revoked_at, *user_row = rows[0]
        if revoked_at is not None:
            raise AuthError("token revoked: sign in again or create a new token")
        expires = expires_at if expires_at is not None else created_at + self.token_ttl
        if expires <= now():
            raise AuthError("token expired: sign in again or create a new token")
        user = _user(tuple(user_row))
        if user.disabled:
            raise AuthError("account suspended")
        return user

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
            # Only someone who knows the password learns that the account is suspended.
            raise AuthError("account suspended")
        return user

    def _forget_user(self, user_id: str) -> None:
        ids = {
            r[0] for r in self.store.query("SELECT id FROM api_tokens WHERE user_id = ?", [user_id])
        }
        with self._cache_lock:
            self._cache = {k: v for k, v in self._cache.items() if v[1] not in ids}

    def _forget_token(self, token_id: str) -> None:
        with self._cache_lock:
            self._cache = {k: v for k, v in self._cache.items() if v[1] != token_id}

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

    # -- guardians ---------------------------------------------------------------

    def _link_status(self, tx: Tx, guardian_id: str, teen_id: str) -> str | None:
        row = tx.execute(
            "SELECT status FROM guardianships WHERE guardian_id = ? AND teen_id = ?",
            [guardian_id, teen_id],
        ).fetchone()
        return str(row[0]) if row else None

    def request_guardian(self, tx: Tx, guardian_id: str, teen_id: str) -> str:
        """A guardian asks to be linked: a pending link the teen confirms. Returns the link's status.

        Any ``user`` account may be asked (the answer is the same whether it
        is a teen's or an adult's, so asking reveals no one's age); only a
        teen can confirm, and only a confirmed link gives a guardian anything.
        """
        guardian = self.get(guardian_id, tx)
        target = self.get(teen_id, tx)
        if guardian.role != "guardian":
            raise ValueError(f"@{guardian.handle} is not a guardian account")
        if target.role != "user":
            raise ValueError("guardians can only be linked to user accounts")
        status = self._link_status(tx, guardian_id, teen_id)
        if status is not None:
            return status
        tx.execute(
            "INSERT INTO guardianships (guardian_id, teen_id, created_at, status, requested_by) "
            "VALUES (?, ?, ?, 'pending', ?)",
            [guardian_id, teen_id, now(), guardian_id],
        )
        tx.audit(GuardianLinkRequested(guardian_id, guardian_id=guardian_id, teen_id=teen_id))
        return "pending"

    def confirm_guardian(self, tx: Tx, guardian_id: str, teen_id: str) -> str:
        """The teen confirms a guardian's pending request (NotFound when there is none)."""
        status = self._link_status(tx, guardian_id, teen_id)
        if status is None:
            raise NotFound("no guardian request from that account")
        if status == "confirmed":
            return status
        teen = self.get(teen_id, tx)
        if not teen.is_teen:
            raise ValueError("only teen accounts have guardians")
        tx.execute(
            "UPDATE guardianships SET status = 'confirmed', confirmed_at = ? "
            "WHERE guardian_id = ? AND teen_id = ?",
            [now(), guardian_id, teen_id],
        )
        tx.audit(GuardianLinkConfirmed(teen_id, guardian_id=guardian_id, teen_id=teen_id))
        return "confirmed"

    def link_guardian(self, tx: Tx, guardian_id: str, teen_id: str, actor_id: str | None) -> None:
        """A confirmed link made by an admin (or the demo seeder), no teen confirmation needed."""
        guardian = self.get(guardian_id, tx)
        teen = self.get(teen_id, tx)
        if guardian.role != "guardian":
            raise ValueError(f"@{guardian.handle} is not a guardian account")
        if not teen.is_teen:
            raise ValueError(f"@{teen.handle} is not a teen account")
        status = self._link_status(tx, guardian_id, teen_id)
        if status == "confirmed":
            return
        at = now()
        if status is None:
            tx.execute(
                "INSERT INTO guardianships (guardian_id, teen_id, created_at, status, "
                "requested_by, confirmed_at) VALUES (?, ?, ?, 'confirmed', ?, ?)",
                [guardian_id, teen_id, at, actor_id, at],
            )
        else:
            tx.execute(
                "UPDATE guardianships SET status = 'confirmed', confirmed_at = ? "
                "WHERE guardian_id = ? AND teen_id = ?",
                [at, guardian_id, teen_id],
            )
        tx.audit(GuardianLinked(actor_id, guardian_id=guardian_id, teen_id=teen_id))

    def unlink_guardian(
        self, tx: Tx, guardian_id: str, teen_id: str, actor_id: str | None, *, by: str
    ) -> str:
        """Remove a link, pending or confirmed; returns what it was (NotFound when none)."""
        status = self._link_status(tx, guardian_id, teen_id)
        if status is None:
            raise NotFound("no such guardian link")
        tx.execute(
            "DELETE FROM guardianships WHERE guardian_id = ? AND teen_id = ?",
            [guardian_id, teen_id],
        )
        tx.audit(
            GuardianUnlinked(actor_id, guardian_id=guardian_id, teen_id=teen_id, by=by, was=status)
        )
        return status

    def is_guardian_of(self, guardian_id: str, teen_id: str) -> bool:
        """Whether a *confirmed* link exists (a pending one gives nothing)."""
        rows = self.store.query(
            "SELECT 1 FROM guardianships WHERE guardian_id = ? AND teen_id = ? "
            "AND status = 'confirmed'",
            [guardian_id, teen_id],
        )
        return bool(rows)

    def guardians_of(self, teen_id: str) -> list[dict[str, Any]]:
        """A teen's guardian links, pending and confirmed (what the teen sees)."""
        return self.store.query_dicts(
            "SELECT u.handle AS guardian, g.status, g.created_at AS requested_at, g.confirmed_at "
            "FROM guardianships g JOIN users u ON u.id = g.guardian_id WHERE g.teen_id = ? "
            "ORDER BY u.handle",
            [teen_id],
        )

    def guardian_requests(self, guardian_id: str) -> list[dict[str, Any]]:
        """A guardian's pending requests: only the handle asked and when, nothing about the account."""
        return self.store.query_dicts(
            "SELECT u.handle, g.created_at AS requested_at FROM guardianships g "
            "JOIN users u ON u.id = g.teen_id WHERE g.guardian_id = ? AND g.status = 'pending' "
            "ORDER BY u.handle",
            [guardian_id],
        )

    def teens_of(self, guardian_id: str) -> list[User]:
        """Teens linked to a guardian by a confirmed link (someone who grew up drops out)."""
        rows = self.store.query(
            f"SELECT {_U_COLS} FROM guardianships g JOIN users u ON u.id = g.teen_id "
            "WHERE g.guardian_id = ? AND g.status = 'confirmed' ORDER BY u.handle",
            [guardian_id],
        )
        return [u for u in (_user(r) for r in rows) if u.is_teen]
