"""Cameo owners' routes (enrol, permissions, grants, revoke, delete data, clips) and likeness routes for staff.

Thin: parse, check who may act, call ``svc.pipeline.likeness``, shape the JSON.
"/cameos/me/..." always acts on the caller's own cameo, so ownership needs no
id check; another person's cameo is reachable only through the consent
question, which answers yes or no with a reason and nothing private.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, File, Form, HTTPException, UploadFile
from pydantic import BaseModel

from feed.access import ADMIN, SIGNED_IN, STAFF, SecureRouter
from feed.auth import current_user
from feed.paging import Page, paging
from feed.services import Services, services
from feed.uploads import read_upload
from store.users import User

router = SecureRouter()


def _cameo_doc(svc: Services, user: User) -> dict[str, Any]:
    likeness = svc.pipeline.likeness
    cameo = likeness.cameos.current(user.id)
    if cameo is None:
        history = likeness.cameos.history(user.id)
        last = history[0].to_dict() if history else None
        return {"cameo": None, "last_attempt": last}
    doc = cameo.to_dict()
    doc["grants"] = [svc.users.get(g).handle for g in cameo.grants]
    doc["embeddings"] = len(likeness.cameos.vector_sources("cameo", cameo.id))
    return {"cameo": doc}


@router.post("/cameos/challenge", access=SIGNED_IN, tags=["cameos"])
def challenge(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """A random head-movement challenge: record yourself doing it, then POST /cameos."""
    return svc.pipeline.likeness.new_challenge(user).to_dict()


@router.post("/cameos", access=SIGNED_IN, tags=["cameos"])
def enroll(
    recording: UploadFile = File(..., description="a short video of you performing the challenge"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> Any:
    """Enrol your cameo from a verification recording; a refusal says why."""
    data = read_upload(recording, svc.config.max_upload_bytes)
    result = svc.pipeline.likeness.enroll(user, data, None, declared_name=recording.filename)
    return result.to_dict()


@router.get("/cameos/me", access=SIGNED_IN, tags=["cameos"])
def my_cameo(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    return _cameo_doc(svc, user)


class PermissionBody(BaseModel):
    permission: Literal["only_me", "approved", "mutuals", "everyone"]


@router.put("/cameos/me/permission", access=SIGNED_IN, tags=["cameos"])
def set_permission(
    body: PermissionBody, user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    svc.pipeline.likeness.set_permission(user, body.permission)
    return _cameo_doc(svc, user)


@router.post("/cameos/me/grants/{handle}", access=SIGNED_IN, tags=["cameos"])
def grant(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    svc.pipeline.likeness.grant(user, handle[:64])
    return _cameo_doc(svc, user)


@router.delete("/cameos/me/grants/{handle}", access=SIGNED_IN, tags=["cameos"])
def ungrant(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    svc.pipeline.likeness.ungrant(user, handle[:64])
    return _cameo_doc(svc, user)


@router.post("/cameos/me/revoke", access=SIGNED_IN, tags=["cameos"])
def revoke(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """Revoke now: new uses are blocked at once; live clips go to the takedown queue."""
    return svc.pipeline.likeness.revoke(user)


@router.delete("/cameos/me/likeness-data", access=SIGNED_IN, tags=["cameos"])
def delete_likeness_data(
    user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    """Delete your face vectors, enrolment frames and recordings (your cameo can no longer be matched)."""
    return svc.pipeline.likeness.delete_likeness_data(user)


@router.get("/cameos/me/clips", access=SIGNED_IN, tags=["cameos"])
def my_clips(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """Every clip and attempt that used your likeness, others' drafts and blocked ones included."""
    return {"clips": svc.pipeline.likeness.clips_using(user)}


@router.get("/cameos/{handle}/consent", access=SIGNED_IN, tags=["cameos"])
def consent(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    """May I put this person's cameo in a clip? Yes or no, with the reason."""
    return svc.pipeline.likeness.consent_for_handle(user, handle[:64]).to_dict()


@router.post("/likeness/protected", access=ADMIN, tags=["likeness"])
def protect(
    name: str = Form(..., min_length=1, max_length=120),
    photos: list[UploadFile] = File(..., description="one or more photos of the person"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> Any:
    """Register a protected likeness (e.g. a public figure without a cameo) from photos."""
    if len(photos) > 20:
        raise HTTPException(422, "at most 20 photos")
    limit = svc.config.max_upload_bytes
    data = [read_upload(p, limit) for p in photos]
    return svc.pipeline.likeness.protect(user, name, data).to_dict()


@router.get("/likeness/protected", access=STAFF, tags=["likeness"])
def list_protected(
    page: Page = Depends(paging(200, 1000)), svc: Services = Depends(services)
) -> Any:
    """Protected likenesses, oldest first, with how many reference vectors each holds."""
    found = svc.pipeline.likeness.cameos.list_protected(page.fetch, page.offset)
    return page.doc("protected", [p.to_dict() for p in found])


@router.post("/likeness/match", access=STAFF, tags=["likeness"])
def match(
    file: UploadFile = File(..., description="an image or video"),
    svc: Services = Depends(services),
) -> Any:
    """Which cameos and protected likenesses appear in this media, and when."""
    data = read_upload(file, svc.config.max_upload_bytes)
    matches = svc.pipeline.likeness.match_file(data, declared_name=file.filename)
    return {"matches": [m.to_dict() for m in matches]}
