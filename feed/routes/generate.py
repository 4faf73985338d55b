"""Generate a clip, fetch a clip's signed media, and verify a file's provenance.

Thin: parse, call ``svc.pipeline.generation`` / ``svc.pipeline.provenance``,
shape the JSON. Who may see a clip's media (its creator, staff, or anyone
signed in once it is published and suitable for them) is decided in the
pipeline so the CLI and the server agree.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import Depends, File, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from feed.access import SIGNED_IN, SecureRouter
from feed.auth import current_user
from feed.services import Services, services
from feed.uploads import read_upload
from store.users import User

router = SecureRouter()


class GenerateRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    cameos: list[str] = Field(default_factory=list, max_length=32)
    parent_clip_id: str | None = Field(default=None, max_length=64)
    seconds: float = Field(default=2.0, gt=0, le=10)


@router.post("/generate", access=SIGNED_IN, rate="generate", tags=["generate"])
def generate(
    body: GenerateRequest,
    wait: bool = Query(default=True, description="false: queue a generate job (202)"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> Any:
    """Prompt gate, generation, output scan, C2PA signing and publishing (or queueing) of one clip."""
    generation = svc.pipeline.generation
    if not wait:
        job_id = generation.submit(
            user, body.prompt, body.cameos, body.parent_clip_id, body.seconds
        )
        return JSONResponse({"job_id": job_id, "status": "queued"}, status_code=202)
    result = generation.generate(
        user, body.prompt, body.cameos, parent_clip_id=body.parent_clip_id, seconds=body.seconds
    )
    doc = result.to_dict()
    if doc.get("signing"):
        # Where the server keeps its dev certificates is not the requester's business.
        doc["signing"] = {
            k: v for k, v in doc["signing"].items() if k not in ("cert", "trust_anchor")
        }
    return doc


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
