"""Health, sign-in, invite-only sign-up and sign-out, accounts and suspension, invites, tokens,
follows, guardians, the audit log.

Every token expires (the lifetimes are ``Users.token_ttl`` / ``session_ttl``,
from settings). Another person's account shows only its public fields: never
an age, a birth year or whether it is a teen account. Guardian links are
pending until the teen confirms; either side (or an admin) can remove one.

Sign-up needs an unused invite code (``store.invites``); a code that cannot be
used gets one answer, decided before the requested handle is looked at, so
the refusal never says whether a handle exists. Staff see who invited whom
and stop (or resume) invites for a whole branch with a reason.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from feed.access import ADMIN, PUBLIC, SIGNED_IN, STAFF, SecureRouter, roles
from feed.auth import current_token_id, current_user
from feed.paging import Page, paging
from feed.ratelimit import limiter_of
from feed.readiness import Readiness
from feed.services import Services, services
from store.db import NotFound
from store.invites import MAX_CODE_INPUT, InviteRefused, Invites
from store.users import MAX_REASON_CHARS, ROLES, User, validate_birth, validate_handle

router = SecureRouter()

STAFF_ROLES = ("admin", "moderator")


class LoginRequest(BaseModel):
    handle: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    token: str
    user: dict[str, Any]
    expires_in_s: int
    expires_at: str


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite_code: str = Field(min_length=1, max_length=MAX_CODE_INPUT)
    handle: str = Field(min_length=2, max_length=32)
    password: str = Field(min_length=8, max_length=256)
    birth_date: date = Field(description="YYYY-MM-DD; accounts need an age of at least 13")
    display_name: str | None = Field(default=None, max_length=80)


class SignupResponse(LoginResponse):
    invited_by: str


class NewUser(BaseModel):
    handle: str = Field(min_length=2, max_length=32)
    role: Literal["admin", "moderator", "rights_holder", "user", "guardian", "policy_author"]
    birth_year: int | None = Field(
        default=None, ge=1890, le=2100, description="approximate: the youngest age it allows counts"
    )
    birth_date: date | None = Field(default=None, description="YYYY-MM-DD; preferred to birth_year")
    display_name: str | None = Field(default=None, max_length=80)
    password: str | None = Field(default=None, min_length=8, max_length=256)


class NewToken(BaseModel):
    label: str | None = Field(default=None, max_length=80)
    ttl_hours: float | None = Field(
        default=None,
        gt=0,
        le=24 * 365,
        description="lifetime in hours; never longer than the server's token_ttl_hours",
    )


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


class Suspension(Reason):
    revoke_tokens: bool = Field(
        default=False, description="also revoke every token (they stay dead after reinstatement)"
    )


class BirthDate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birth_date: date


def _is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def _hours(value: float | None) -> timedelta | None:
    return timedelta(hours=value) if value is not None else None


@router.get("/healthz", access=PUBLIC, tags=["system"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", access=PUBLIC, tags=["system"])
def readyz(request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    """Ready for traffic: the database answers and the models are loaded (503 until then)."""
    try:
        version = svc.store.schema_version()
    except Exception:  # readiness reports, it does not raise
        raise HTTPException(503, "database not ready") from None
    readiness: Readiness = request.app.state.readiness
    if not readiness.ready:
        raise HTTPException(503, "warming up: loading models")
    # Models that did not load leave their sources failing (forced review): say which.
    return {"status": "ready", "schema_version": version, "degraded": readiness.degraded}


@router.post(
    "/auth/login",
    access=PUBLIC,
    rate="login_address",
    tags=["auth"],
    response_model=LoginResponse,
)
def login(body: LoginRequest, request: Request, svc: Services = Depends(services)) -> LoginResponse:
    """Exchange a handle and password for a console session token (``session_ttl_hours``)."""
    # Per account as well as per address: guessing one account from many addresses is slow too.
    limiter_of(request).check("login_account", body.handle.strip().lower()[:64])
    user = svc.users.check_password(body.handle, body.password)
    secret = svc.users.new_secret()  # argon2 outside the write transaction
    with svc.store.transaction() as tx:
        issued = svc.users.issue(tx, user.id, label="console session", session=True, secret=secret)
    lifetime = svc.users.token_lifetime(session=True)
    return LoginResponse(
        token=issued.token,
        user=user.to_self(),
        expires_in_s=int(lifetime.total_seconds()),
        expires_at=issued.expires_at.isoformat(),
    )


@router.post(
    "/auth/signup",
    access=PUBLIC,
    rate="login_address",
    tags=["auth"],
    status_code=201,
    response_model=SignupResponse,
)
def signup(body: SignupRequest, svc: Services = Depends(services)) -> SignupResponse:
    """Create a ``user`` account with an invite code; answers with a console session token.

    A code that is unknown, used, withdrawn or in a branch whose invites were
    stopped is refused (403) with one message, before the handle is looked
    at. The new account hangs below the code's owner in the invite tree.
    """
    handle = validate_handle(body.handle)
    validate_birth(None, body.birth_date, "user")
    # The slow hashes first: the store's write lock is never held while argon2 runs.
    password_hash = svc.users.hash_password(body.password)
    secret = svc.users.new_secret()
    invites = _invites(svc)
    with svc.store.transaction() as tx:
        try:
            claimed = invites.claim(tx, body.invite_code)
        except InviteRefused as exc:
            raise HTTPException(403, str(exc)) from None
        created = svc.users.create(
            tx,
            handle,
            "user",
            birth_date=body.birth_date,
            display_name=body.display_name,
            password_hash=password_hash,
        )
        invites.redeem(tx, claimed, created.id)
        issued = svc.users.issue(
            tx, created.id, label="console session", session=True, secret=secret
        )
    inviter = svc.users.get(claimed.owner_id)
    lifetime = svc.users.token_lifetime(session=True)
    return SignupResponse(
        token=issued.token,
        user=created.to_self(),
        expires_in_s=int(lifetime.total_seconds()),
        expires_at=issued.expires_at.isoformat(),
        invited_by=inviter.handle,
    )


@router.post("/auth/logout", access=SIGNED_IN, tags=["auth"])
def logout(
    token_id: str = Depends(current_token_id), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Sign out: the token this request carries is revoked at once (audited)."""
    with svc.store.transaction() as tx:
        svc.users.logout(tx, token_id)
    return {"signed_out": True, "token_id": token_id}


@router.get("/me", access=SIGNED_IN, tags=["auth"])
def me(user: User = Depends(current_user)) -> dict[str, Any]:
    return user.to_self()


@router.get("/users", access=ADMIN, tags=["users"])
def list_users(
    role: str | None = Query(default=None),
    q: str | None = Query(default=None, max_length=64, description="text in the handle"),
    page: Page = Depends(paging(100, 500)),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Accounts in creation order, a page at a time, optionally one role's or matching a handle."""
    if role is not None and role not in ROLES:
        raise HTTPException(422, f"unknown role {role!r}")
    found = svc.users.all(
        role=role, limit=page.fetch, offset=page.offset, handle_contains=(q or "").strip() or None
    )
    return page.doc("users", [u.to_self() for u in found])


@router.post("/users", access=ADMIN, tags=["users"], status_code=201)
def create_user(
    body: NewUser, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Create an account and its first API token (shown once)."""
    # The slow hashes first: the store's write lock is never held while argon2 runs.
    password_hash = svc.users.hash_password(body.password) if body.password else None
    secret = svc.users.new_secret()
    with svc.store.transaction() as tx:
        created = svc.users.create(
            tx,
            body.handle,
            body.role,
            birth_year=body.birth_year,
            birth_date=body.birth_date,
            display_name=body.display_name,
            password_hash=password_hash,
            actor_id=user.id,
        )
        issued = svc.users.issue(tx, created.id, label="initial", actor_id=user.id, secret=secret)
    return {
        **created.to_self(),
        "token": issued.token,
        "token_expires_at": issued.expires_at.isoformat(),
    }


@router.get("/users/{handle}", access=SIGNED_IN, tags=["users"])
def get_user(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """An account's public fields; its age status only for the person themselves and staff."""
    target = svc.users.by_handle(handle)
    if target.id == user.id or _is_staff(user):
        return target.to_self()
    return target.to_public()


@router.post("/users/{handle}/suspend", access=ADMIN, tags=["users"])
def suspend_user(
    handle: str,
    body: Suspension,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Suspend an account with a reason: its tokens and password stop working at once.

    The last active admin cannot be suspended (409). ``revoke_tokens`` also
    revokes every token, so they stay dead after a reinstatement.
    """
    target = svc.users.by_handle(handle)
    with svc.store.transaction() as tx:
        updated = svc.users.suspend(
            tx, target.id, body.reason, user.id, revoke_tokens=body.revoke_tokens
        )
    return updated.to_self()


@router.post("/users/{handle}/unsuspend", access=ADMIN, tags=["users"])
def unsuspend_user(
    handle: str,
    body: Reason,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Reinstate a suspended account (with a reason); unexpired, unrevoked tokens work again."""
    target = svc.users.by_handle(handle)
    with svc.store.transaction() as tx:
        updated = svc.users.reinstate(tx, target.id, body.reason, user.id)
    return updated.to_self()


@router.put("/users/{handle}/birth-date", access=ADMIN, tags=["users"])
def set_birth_date(
    handle: str,
    body: BirthDate,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Record an account's birth date: an unknown age counts as a teen's until this is set."""
    target = svc.users.by_handle(handle)
    with svc.store.transaction() as tx:
        updated = svc.users.set_birth_date(tx, target.id, body.birth_date, user.id)
    return updated.to_self()


@router.get("/me/tokens", access=SIGNED_IN, tags=["auth"])
def my_tokens(
    user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    return {"tokens": svc.users.tokens_of(user.id)}


@router.post("/me/tokens", access=SIGNED_IN, tags=["auth"], status_code=201)
def new_token(
    body: NewToken, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """A new API token (shown once). It expires: ``ttl_hours``, at most ``token_ttl_hours``."""
    secret = svc.users.new_secret()
    with svc.store.transaction() as tx:
        issued = svc.users.issue(
            tx, user.id, label=body.label, ttl=_hours(body.ttl_hours), secret=secret
        )
    return {"id": issued.id, "token": issued.token, "expires_at": issued.expires_at.isoformat()}


@router.delete("/me/tokens/{token_id}", access=SIGNED_IN, tags=["auth"])
def revoke_token(
    token_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    if not any(t["id"] == token_id for t in svc.users.tokens_of(user.id)):
        raise HTTPException(404, f"no token {token_id}")
    with svc.store.transaction() as tx:
        svc.users.revoke_token(tx, token_id, actor_id=user.id)
    return {"revoked": token_id}


# -- invites ----------------------------------------------------------------------------------


def _invites(svc: Services) -> Invites:
    return Invites(svc.store, per_user=svc.pipeline.config.invites_per_user)


@router.get("/me/invites", access=SIGNED_IN, tags=["invites"])
def my_invites(
    user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Your invite codes, each with its state (unused; used by whom, when; void), and what is left.

    The codes themselves are shown once, when made; here each has its hint.
    """
    return _invites(svc).summary(user.id)


@router.post("/me/invites", access=SIGNED_IN, tags=["invites"], status_code=201)
def new_invite(
    user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Make an invite code: shown this once (only its hash is kept). 409 when none is left."""
    with svc.store.transaction() as tx:
        made = _invites(svc).create(tx, user.id)
    return made.to_dict()


@router.delete("/me/invites/{invite_id}", access=SIGNED_IN, tags=["invites"])
def withdraw_invite(
    invite_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Withdraw one of your unused codes (it stops working; its place comes back)."""
    with svc.store.transaction() as tx:
        return _invites(svc).withdraw(tx, user.id, invite_id)


@router.get("/users/{handle}/invites", access=STAFF, tags=["invites"])
def user_invites(handle: str, svc: Services = Depends(services)) -> dict[str, Any]:
    """An account's invite codes and allowance, and whether (and where) its invites are stopped."""
    target = svc.users.by_handle(handle)
    invites = _invites(svc)
    return {
        "handle": target.handle,
        **invites.summary(target.id),
        "stop": invites.stop_over(target.id),
    }


@router.get("/users/{handle}/invite-tree", access=STAFF, tags=["invites"])
def invite_tree(handle: str, svc: Services = Depends(services)) -> dict[str, Any]:
    """Who invited this account (up to the root) and everyone it invited, recursively."""
    target = svc.users.by_handle(handle)
    return {"handle": target.handle, **_invites(svc).tree(target.id)}


@router.post("/users/{handle}/invites/stop", access=STAFF, tags=["invites"])
def stop_invites(
    handle: str,
    body: Reason,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Stop invites for this account's branch with a reason: unused codes below are void, and
    nobody in the branch can invite until it is resumed here."""
    target = svc.users.by_handle(handle)
    with svc.store.transaction() as tx:
        done = _invites(svc).stop(tx, target.id, body.reason, user.id)
    return {"handle": target.handle, "stopped": True, **done}


@router.post("/users/{handle}/invites/resume", access=STAFF, tags=["invites"])
def resume_invites(
    handle: str,
    body: Reason,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Reinstate invites for a branch stopped at this account (codes voided stay void)."""
    target = svc.users.by_handle(handle)
    with svc.store.transaction() as tx:
        done = _invites(svc).resume(tx, target.id, body.reason, user.id)
    return {"handle": target.handle, **done}


@router.post("/follows/{handle}", access=SIGNED_IN, tags=["social"])
def follow(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    target = svc.users.by_handle(handle)
    with svc.store.transaction() as tx:
        svc.users.follow(tx, user.id, target.id, True)
    return {"following": target.handle, "mutual": svc.users.are_mutuals(user.id, target.id)}


@router.delete("/follows/{handle}", access=SIGNED_IN, tags=["social"])
def unfollow(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    target = svc.users.by_handle(handle)
    with svc.store.transaction() as tx:
        svc.users.follow(tx, user.id, target.id, False)
    return {"unfollowed": target.handle}


def _no_link(handle: str) -> HTTPException:
    # One answer whether the account is a teen's, an adult's or nobody's.
    return HTTPException(404, f"no guardian link with @{handle.strip().lower()[:32]}")


@router.post("/guardians/{teen_handle}", access=roles("guardian", "admin"), tags=["teens"])
def link_guardian(
    teen_handle: str,
    guardian_handle: str | None = Query(default=None, description="admin only: the guardian"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """A guardian asks to be linked to a teen (pending until the teen confirms); an admin links one.

    A guardian's request answers the same for any user account, teen or
    adult; it gives nothing until the teen confirms it
    (``POST /me/guardians/{guardian}/confirm``).
    """
    teen = svc.users.by_handle(teen_handle)
    if user.role == "admin":
        if guardian_handle is None:
            raise HTTPException(422, "guardian_handle is required when an admin links a guardian")
        guardian = svc.users.by_handle(guardian_handle)
        with svc.store.transaction() as tx:
            svc.users.link_guardian(tx, guardian.id, teen.id, actor_id=user.id)
        return {"guardian": guardian.handle, "teen": teen.handle, "status": "confirmed"}
    with svc.store.transaction() as tx:
        status = svc.users.request_guardian(tx, user.id, teen.id)
    return {"guardian": user.handle, "teen": teen.handle, "status": status}


@router.delete("/guardians/{teen_handle}", access=roles("guardian", "admin"), tags=["teens"])
def unlink_guardian(
    teen_handle: str,
    guardian_handle: str | None = Query(default=None, description="admin only: the guardian"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Remove a guardian link, pending or confirmed (a guardian their own; an admin any)."""
    if user.role == "admin":
        if guardian_handle is None:
            raise HTTPException(422, "guardian_handle is required when an admin unlinks a guardian")
        guardian = svc.users.by_handle(guardian_handle)
    else:
        guardian = user
    try:
        teen = svc.users.by_handle(teen_handle)
        with svc.store.transaction() as tx:
            was = svc.users.unlink_guardian(
                tx,
                guardian.id,
                teen.id,
                user.id,
                by="admin" if user.role == "admin" else "guardian",
            )
    except NotFound:
        raise _no_link(teen_handle) from None
    return {"guardian": guardian.handle, "teen": teen.handle, "unlinked": True, "was": was}


@router.get("/me/guardians", access=roles("user"), tags=["teens"])
def my_guardians(
    user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Your guardian links: requests waiting for you to confirm, and confirmed guardians."""
    return {"guardians": svc.users.guardians_of(user.id)}


@router.post("/me/guardians/{guardian_handle}/confirm", access=roles("user"), tags=["teens"])
def confirm_guardian(
    guardian_handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Confirm a guardian's pending request: from now on they see and tighten your settings."""
    try:
        guardian = svc.users.by_handle(guardian_handle)
        with svc.store.transaction() as tx:
            status = svc.users.confirm_guardian(tx, guardian.id, user.id)
    except NotFound:
        raise _no_link(guardian_handle) from None
    return {"guardian": guardian.handle, "teen": user.handle, "status": status}


@router.delete("/me/guardians/{guardian_handle}", access=roles("user"), tags=["teens"])
def remove_my_guardian(
    guardian_handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Decline a guardian's request or end a confirmed link."""
    try:
        guardian = svc.users.by_handle(guardian_handle)
        with svc.store.transaction() as tx:
            was = svc.users.unlink_guardian(tx, guardian.id, user.id, user.id, by="teen")
    except NotFound:
        raise _no_link(guardian_handle) from None
    return {"guardian": guardian.handle, "teen": user.handle, "unlinked": True, "was": was}
