"""Generate a clip, daily generation quotas, fetch a clip's signed media, verify a file's provenance.

Thin: parse, call ``svc.pipeline.generation`` / ``svc.pipeline.provenance``,
shape the JSON. Who may see a clip's media (its creator, staff, or anyone
signed in once it is published and suitable for them) is decided in the
pipeline so the CLI and the server agree. An account over its daily quota
gets ``429`` with ``next_allowed_at`` (and ``Retry-After``) and a sentence
it can read.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, File, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from feed.access import SIGNED_IN, STAFF, SecureRouter
from feed.auth import current_user
from feed.services import Services, services
from feed.uploads import read_upload
from pipeline.generate import QuotaExceeded
from store.db import now
from store.quotas import MAX_PER_DAY
from store.users import MAX_REASON_CHARS, User

router = SecureRouter()


class GenerateRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    cameos: list[str] = Field(default_factory=list, max_length=32)
    parent_clip_id: str | None = Field(default=None, max_length=64)
    seconds: float = Field(default=2.0, gt=0, le=10)


class QuotaChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_day: int | None = Field(
        ge=0, le=MAX_PER_DAY, description="generations per UTC day; null: back to the default"
    )
    reason: str = Field(min_length=1, max_length=MAX_REASON_CHARS)


def _over_quota(exc: QuotaExceeded) -> JSONResponse:
    headers: dict[str, str] = {}
    if exc.next_allowed_at:
        wait = (datetime.fromisoformat(exc.next_allowed_at) - now()).total_seconds()
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return JSONResponse(
        {
            "error": str(exc),
            "next_allowed_at": exc.next_allowed_at,
            "quota": exc.quota,
        },
        status_code=429,
        headers=headers,
    )


@router.post("/generate", access=SIGNED_IN, rate="generate", tags=["generate"])
def generate(
    body: GenerateRequest,
    wait: bool = Query(default=True, description="false: queue a generate job (202)"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> Any:
    """Prompt gate, generation, output scan, C2PA signing and publishing (or queueing) of one clip.

    Counts against your daily quota once the prompt gate let it through and
    the generator ran; over quota: ``429`` with ``next_allowed_at``.
    """
    generation = svc.pipeline.generation
    try:
        if not wait:
            job_id = generation.submit(
                user, body.prompt, body.cameos, body.parent_clip_id, body.seconds
            )
            return JSONResponse({"job_id": job_id, "status": "queued"}, status_code=202)
        result = generation.generate(
            user, body.prompt, body.cameos, parent_clip_id=body.parent_clip_id, seconds=body.seconds
        )
    except QuotaExceeded as exc:
        return _over_quota(exc)
    doc = result.to_dict()
    if doc.get("signing"):
        # Where the server keeps its dev certificates is not the requester's business.
        doc["signing"] = {
            k: v for k, v in doc["signing"].items() if k not in ("cert", "trust_anchor")
        }
    return doc


@router.get("/me/quota", access=SIGNED_IN, tags=["generate"])
def my_quota(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """Your generation quota today: the number, what you used, what is left, when it resets."""
    return svc.pipeline.generation.quota(user)


@router.get("/users/{handle}/quota", access=STAFF, tags=["generate"])
def user_quota(handle: str, svc: Services = Depends(services)) -> Any:
    """An account's generation quota, with the defaults and any number staff set for it."""
    target = svc.users.by_handle(handle)
    return svc.pipeline.generation.quota(target, staff_view=True)


@router.put("/users/{handle}/quota", access=STAFF, tags=["generate"])
def set_user_quota(
    handle: str,
    body: QuotaChange,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> Any:
    """Set an account's daily generation quota with a reason (``per_day: null``: the default)."""
    target = svc.users.by_handle(handle)
    return svc.pipeline.generation.set_quota(target, body.per_day, body.reason, user)


@router.get("/clips/{clip_id}/media", access=SIGNED_IN, tags=["generate"])
def clip_media(
    clip_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> FileResponse:
    """The clip's media file (for generated clips: the watermarked, C2PA-signed mp4)."""
    path, media_type, row = svc.pipeline.generation.media(clip_id, user)
    ext = {"video/mp4": ".mp4", "image/jpeg": ".jpg", "image/png": ".png"}.get(media_type, "")
    return FileResponse(path, media_type=media_type, filename=f"{row['id']}{ext}")


@router.post("/provenance/verify", access=SIGNED_IN, tags=["provenance"])
def verify_upload(
    file: UploadFile = File(..., description="an image or video to verify"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """C2PA report for an uploaded file, with ``own_output`` when it is one of our clips."""
    data = read_upload(file, svc.config.max_upload_bytes)
    tmp = svc.store.data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    # Our own name for the file: nothing the uploader chose reaches the filesystem.
    path = tmp / f"verify-{secrets.token_hex(12)}"
    try:
        path.write_bytes(data)
        report = svc.pipeline.provenance.report(Path(path))
    finally:
        path.unlink(missing_ok=True)
    doc = report.to_dict()
    doc["declared_name"] = (file.filename or "")[:120] or None
    return doc
