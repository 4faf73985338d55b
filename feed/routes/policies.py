"""Policy versions: list, read, validate, save, activate (and roll back), shadow, backtest.

Policy authors (role ``policy_author``) and admins read, validate, save,
backtest and shadow versions; activating one (and so rolling back) stays with
admins: a policy author gets a 403 saying so, also for ``activate: true`` on
save. A policy that does not validate is refused with every issue's file,
rule and field, and the active version keeps deciding. Saves and pointer moves
are audited with the caller's id, whatever the role.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from feed.access import POLICY_AUTHORS, SecureRouter, roles
from feed.auth import current_user
from feed.services import Services, services
from pipeline.policy_store import DEFAULT_BACKTEST_SCANS, PolicyRejected
from store.users import User

router = SecureRouter()

ACTIVATE_REFUSAL = "activating a policy version needs an admin"
# Activation moves what decides every clip: admins only, with a sentence that says so.
ACTIVATORS = roles("admin", refusal=ACTIVATE_REFUSAL)


class PolicySource(BaseModel):
    """Either ``files`` ({file name: YAML text}) or a ``bundle`` as ``GET /policies/{id}`` returns."""

    files: dict[str, str] | None = None
    bundle: dict[str, Any] | None = None

    def source(self) -> dict[str, Any]:
        if (self.files is None) == (self.bundle is None):
            raise ValueError("send exactly one of 'files' or 'bundle'")
        return self.bundle if self.bundle is not None else dict(self.files or {})


class NewVersion(PolicySource):
    message: str = Field(min_length=1, max_length=500)
    activate: bool = False


class ShadowRequest(BaseModel):
    version_id: str | None = Field(default=None, max_length=64)


class BacktestRequest(PolicySource):
    version_id: str | None = Field(default=None, max_length=64)
    last: int = Field(default=DEFAULT_BACKTEST_SCANS, ge=1, le=100_000)
    baseline: str | None = Field(default=None, max_length=64)


def _rejected(exc: PolicyRejected) -> JSONResponse:
    return JSONResponse({"error": str(exc), "errors": exc.issues}, status_code=422)


@router.get("/policies", access=POLICY_AUTHORS, tags=["policies"])
def list_versions(svc: Services = Depends(services)) -> dict[str, Any]:
    policies = svc.pipeline.policies
    return {"versions": policies.versions(), **policies.state()}


@router.get("/policies/active", access=POLICY_AUTHORS, tags=["policies"])
def active_version(svc: Services = Depends(services)) -> dict[str, Any]:
    policies = svc.pipeline.policies
    return policies.get(str(policies.state()["active"]))


@router.get("/policies/{version_id}", access=POLICY_AUTHORS, tags=["policies"])
def get_version(version_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    return svc.pipeline.policies.get(version_id[:64])


@router.post("/policies/validate", access=POLICY_AUTHORS, tags=["policies"])
def validate(body: PolicySource, svc: Services = Depends(services)) -> dict[str, Any]:
    """Check a policy set without saving it: ``{ok, errors: [{file, rule, field, message}]}``."""
    return svc.pipeline.policies.validate(body.source())


@router.post("/policies", access=POLICY_AUTHORS, tags=["policies"], status_code=201)
def save_version(
    body: NewVersion, user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    """Save a new immutable version (same content: the existing version); optionally activate (admins)."""
    if body.activate and user.role != "admin":
        raise HTTPException(403, ACTIVATE_REFUSAL + ": save without 'activate', then ask one")
    try:
        return svc.pipeline.policies.save(
            body.source(), user.id, body.message, activate=body.activate
        )
    except PolicyRejected as exc:
        return _rejected(exc)


@router.post("/policies/{version_id}/activate", access=ACTIVATORS, tags=["policies"])
def activate(
    version_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Make a version active; rolling back is activating an older one."""
    return svc.pipeline.policies.activate(version_id[:64], user.id)


@router.post("/policies/shadow", access=POLICY_AUTHORS, tags=["policies"])
def set_shadow(
    body: ShadowRequest, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Run a version in shadow beside the active one (``version_id: null`` turns it off)."""
    return svc.pipeline.policies.set_shadow(body.version_id, user.id)


@router.post("/policies/backtest", access=POLICY_AUTHORS, tags=["policies"])
def run_backtest(body: BacktestRequest, svc: Services = Depends(services)) -> Any:
    """Re-decide the last N scans with a candidate (files, bundle or stored version); writes nothing."""
    policies = svc.pipeline.policies
    try:
        if body.version_id is not None:
            if body.files is not None or body.bundle is not None:
                raise ValueError("send a version_id or policy files, not both")
            candidate: Any = body.version_id
        else:
            candidate = body.source()
        return policies.backtest(candidate, body.last, baseline=body.baseline)
    except PolicyRejected as exc:
        return _rejected(exc)
