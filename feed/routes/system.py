"""Health, sign-in, accounts, tokens, follows, guardians and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import Depends, HTTPException, Query
from pydantic import BaseModel, Field

from feed.access import ADMIN, PUBLIC, SIGNED_IN, SecureRouter, roles
from feed.auth import current_user
from feed.services import Services, services
from store import audit
from store.users import ROLES, User

router = SecureRouter()

CONSOLE_SESSION_TTL = timedelta(hours=12)


class LoginRequest(BaseModel):
    handle: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    token: str
    user: dict[str, Any]
    expires_in_s: int


class NewUser(BaseModel):
    handle: str = Field(min_length=2, max_length=32)
    role: Literal["admin", "moderator", "rights_holder", "user", "guardian"]
    birth_year: int | None = Field(default=None, ge=1890, le=2100)
    display_name: str | None = Field(default=None, max_length=80)
    password: str | None = Field(default=None, min_length=8, max_length=256)


class NewToken(BaseModel):
    label: str | None = Field(default=None, max_length=80)
    ttl_hours: int | None = Field(default=None, ge=1, le=24 * 365)


@router.get("/healthz", access=PUBLIC, tags=["system"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", access=PUBLIC, tags=["system"])
def readyz(svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        version = svc.store.schema_version()
    except Exception:  # readiness reports, it does not raise
        raise HTTPException(503, "database not ready") from None
    return {"status": "ready", "schema_version": version}


@router.post("/auth/login", access=PUBLIC, tags=["auth"], response_model=LoginResponse)
def login(body: LoginRequest, svc: Services = Depends(services)) -> LoginResponse:
    """Exchange a handle and password for a console session token (12 hours)."""
    user = svc.users.check_password(body.handle, body.password)
    with svc.store.transaction() as tx:
        _, token = svc.users.issue_token(
            tx, user.id, label="console session", ttl=CONSOLE_SESSION_TTL
        )
    return LoginResponse(
        token=token, user=user.to_self(), expires_in_s=int(CONSOLE_SESSION_TTL.total_seconds())
    )


@router.get("/me", access=SIGNED_IN, tags=["auth"])
def me(user: User = Depends(current_user)) -> dict[str, Any]:
    return user.to_self()


@router.get("/users", access=ADMIN, tags=["users"])
def list_users(
    role: str | None = Query(default=None), svc: Services = Depends(services)
) -> dict[str, Any]:
    if role is not None and role not in ROLES:
        raise HTTPException(422, f"unknown role {role!r}")
    return {"users": [u.to_self() for u in svc.users.all(role=role)]}


@router.post("/users", access=ADMIN, tags=["users"], status_code=201)
def create_user(
    body: NewUser, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Create an account and its first API token (shown once)."""
    with svc.store.transaction() as tx:
        created = svc.users.create(
            tx,
            body.handle,
            body.role,
            birth_year=body.birth_year,
            display_name=body.display_name,
            password=body.password,
            actor_id=user.id,
        )
        _, token = svc.users.issue_token(tx, created.id, label="initial", actor_id=user.id)
    return {**created.to_self(), "token": token}


@router.get("/users/{handle}", access=SIGNED_IN, tags=["users"])
def get_user(handle: str, svc: Services = Depends(services)) -> dict[str, Any]:
    return svc.users.by_handle(handle).to_public()


@router.get("/me/tokens", access=SIGNED_IN, tags=["auth"])
def my_tokens(
    user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    return {"tokens": svc.users.tokens_of(user.id)}


@router.post("/me/tokens", access=SIGNED_IN, tags=["auth"], status_code=201)
def new_token(
    body: NewToken, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    ttl = timedelta(hours=body.ttl_hours) if body.ttl_hours else None
    with svc.store.transaction() as tx:
        token_id, token = svc.users.issue_token(tx, user.id, label=body.label, ttl=ttl)
    return {"id": token_id, "token": token}


@router.delete("/me/tokens/{token_id}", access=SIGNED_IN, tags=["auth"])
def revoke_token(
    token_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    if not any(t["id"] == token_id for t in svc.users.tokens_of(user.id)):
        raise HTTPException(404, f"no token {token_id}")
    with svc.store.transaction() as tx:
        svc.users.revoke_token(tx, token_id, actor_id=user.id)
    return {"revoked": token_id}


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


@router.post("/guardians/{teen_handle}", access=roles("guardian", "admin"), tags=["teens"])
def link_guardian(
    teen_handle: str,
    guardian_handle: str | None = Query(default=None, description="admin only: the guardian"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Link a guardian to a teen account (a guardian links themselves; an admin names one)."""
    if user.role == "admin":
        if guardian_handle is None:
            raise HTTPException(422, "guardian_handle is required when an admin links a guardian")
        guardian = svc.users.by_handle(guardian_handle)
    else:
        guardian = user
    teen = svc.users.by_handle(teen_handle)
    with svc.store.transaction() as tx:
        svc.users.link_guardian(tx, guardian.id, teen.id, actor_id=user.id)
    return {"guardian": guardian.handle, "teen": teen.handle}


@router.get("/audit", access=ADMIN, tags=["audit"])
def audit_log(
    limit: int = Query(default=100, ge=1, le=1000),
    subject_id: str | None = Query(default=None, max_length=64),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    return {"events": audit.recent(svc.store.conn, limit=limit, subject_id=subject_id)}


@router.get("/audit/verify", access=ADMIN, tags=["audit"])
def audit_verify(svc: Services = Depends(services)) -> dict[str, Any]:
    return svc.store.verify_audit().to_dict()
