"""Characters: rights holders register and manage their characters, see matches, dispute decisions.

Thin: parse, call ``svc.pipeline.characters``, shape the JSON. Ownership is
checked in the service: a rights holder touching another holder's character
gets 404, the same as for a missing one. ``POST /characters`` takes JSON, or
multipart with the same fields plus ``refs`` files (all validated before
anything is written); ``POST /characters/{id}/refs`` adds images later.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from feed.access import SIGNED_IN, SecureRouter, roles
from feed.auth import current_user
from feed.paging import Page, paging
from feed.services import Services, services
from store.users import User

router = SecureRouter()

MANAGERS = roles("rights_holder", "admin")
READERS = roles("rights_holder", "admin", "moderator")
MAX_FILES = 32


class NewCharacter(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=64)
    description: str | None = Field(default=None, max_length=4000)
    policy: str | None = Field(
        default=None, description="block (default), allow, allow_with_attribution, review"
    )
    owner: str | None = Field(
        default=None, max_length=64, description="admin only: the rights holder's handle"
    )
    attribution: str | None = Field(
        default=None,
        max_length=400,
        description="plain text shown on clips when allowed with attribution (at most 200 "
        "characters after trimming; none: '<name> © <rights holder>, used with permission.')",
    )


class CharacterChanges(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    aliases: list[str] | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=4000)
    policy: str | None = None
    attribution: str | None = Field(
        default=None, max_length=400, description="new attribution text; empty: the default"
    )


class PromptOnly(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)


class NewDispute(BaseModel):
    character_id: str = Field(min_length=1, max_length=64)
    decision_id: str | None = Field(default=None, max_length=64)
    clip_id: str | None = Field(default=None, max_length=64)
    message: str = Field(min_length=1, max_length=4000)


def _body_error(exc: ValidationError) -> HTTPException:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
    ]
    return HTTPException(422, "invalid request: " + "; ".join(parts))


async def _read_files(form: Any, field: str, limit: int) -> list[Any]:
    from pipeline.characters import RefUpload

    files = [f for f in form.getlist(field) if isinstance(f, UploadFile)]
    if len(files) > MAX_FILES:
        raise HTTPException(422, f"{len(files)} files; the limit is {MAX_FILES}")
    out = []
    for f in files:
        data = await f.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"{f.filename or 'a file'} is over the {limit}-byte limit")
        if not data:
            raise HTTPException(422, f"{f.filename or 'a file'} is empty (0 bytes)")
        out.append(RefUpload(data, f.filename))
    return out


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise HTTPException(400, "request body is not valid JSON") from None


@router.post("/characters", access=MANAGERS, tags=["characters"], status_code=201)
async def register_character(
    request: Request, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Register a character (policy ``block`` until you choose otherwise); JSON or multipart with ``refs``."""
    refs: list[Any] = []
    if _is_multipart(request):
        form = await request.form()
        raw: dict[str, Any] = {
            k: form.get(k)
            for k in ("name", "description", "policy", "owner", "attribution")
            if form.get(k)
        }
        raw["aliases"] = [a for a in form.getlist("aliases") if isinstance(a, str) and a.strip()]
        refs = await _read_files(form, "refs", svc.config.max_upload_bytes)
    else:
        raw = await _json(request)
    try:
        body = NewCharacter.model_validate(raw)
    except ValidationError as exc:
        raise _body_error(exc) from None

    def work() -> dict[str, Any]:
        if user.role == "admin":
            if not body.owner:
                raise HTTPException(
                    422, "an admin registers a character for a rights holder: give owner"
                )
            owner = svc.users.by_handle(body.owner)
        else:
            if body.owner not in (None, user.handle):
                raise HTTPException(422, "a rights holder registers characters for themselves")
            owner = user
        rec = svc.pipeline.characters.register(
            user,
            owner,
            name=body.name,
            aliases=body.aliases,
            description=body.description,
            policy=body.policy,
            refs=refs,
            attribution=body.attribution,
        )
        return rec.to_dict()

    return await run_in_threadpool(work)


@router.get("/characters", access=READERS, tags=["characters"])
def list_characters(
    owner: str | None = Query(
        default=None, max_length=64, description="staff only: one rights holder"
    ),
    page: Page = Depends(paging(200, 1000)),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Your characters (rights holder), or every character (staff), oldest first."""
    owner_id = svc.users.by_handle(owner).id if owner and user.role != "rights_holder" else None
    found = svc.pipeline.characters.listing(user, owner_id, limit=page.fetch, offset=page.offset)
    return page.doc("characters", [c.to_dict() for c in found])


@router.get("/characters/matches", access=READERS, tags=["characters"])
def all_matches(
    limit: int = Query(default=200, ge=1, le=1000),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Every stored match of your characters (staff: of all characters), newest first, with evidence."""
    return {"matches": svc.pipeline.characters.matches_for(user, limit=limit)}


@router.post("/characters/check", access=SIGNED_IN, tags=["characters"])
async def check_characters(
    request: Request, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Which registered characters a prompt and/or an image (multipart ``file``) would match."""
    prompt: str | None = None
    image: bytes | None = None
    if _is_multipart(request):
        form = await request.form()
        p = form.get("prompt")
        prompt = p if isinstance(p, str) and p else None
        files = await _read_files(form, "file", svc.config.max_upload_bytes)
        if len(files) > 1:
            raise HTTPException(422, "send one image as 'file'")
        image = files[0].data if files else None
    else:
        try:
            prompt = PromptOnly.model_validate(await _json(request)).prompt
        except ValidationError as exc:
            raise _body_error(exc) from None
    if prompt is None and image is None:
        raise HTTPException(422, "give a prompt, an image ('file'), or both")

    def work() -> dict[str, Any]:
        chars = svc.pipeline.characters
        frames = chars.check_media(image) if image is not None else []
        return {"matches": [chars.match_dict(m) for m in chars.check(prompt, frames)]}

    return await run_in_threadpool(work)


@router.get("/characters/{character_id}", access=READERS, tags=["characters"])
def get_character(
    character_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    return svc.pipeline.characters.visible(character_id, user).to_dict()


@router.patch("/characters/{character_id}", access=MANAGERS, tags=["characters"])
def update_character(
    character_id: str,
    body: CharacterChanges,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Change name, aliases, description, policy or attribution; the next check uses the change."""
    rec, diff = svc.pipeline.characters.update(
        user, character_id, body.model_dump(exclude_none=True)
    )
    return {**rec.to_dict(), "changes": diff}


@router.delete("/characters/{character_id}", access=MANAGERS, tags=["characters"])
def delete_character(
    character_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Remove a character: no longer matched from the next check; past evidence is kept."""
    rec = svc.pipeline.characters.remove(user, character_id)
    return {"id": rec.id, "deleted": True}


@router.post(
    "/characters/{character_id}/refs", access=MANAGERS, tags=["characters"], status_code=201
)
async def add_refs(
    character_id: str,
    request: Request,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Add reference images (multipart ``refs``); one bad file refuses them all."""
    if not _is_multipart(request):
        raise HTTPException(422, "send the images as multipart/form-data files named 'refs'")
    form = await request.form()
    refs = await _read_files(form, "refs", svc.config.max_upload_bytes)

    def work() -> dict[str, Any]:
        rec, added = svc.pipeline.characters.add_refs(user, character_id, refs)
        return {**rec.to_dict(), "added": added}

    return await run_in_threadpool(work)


@router.get("/characters/{character_id}/matches", access=READERS, tags=["characters"])
def character_matches(
    character_id: str,
    limit: int = Query(default=200, ge=1, le=1000),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Stored matches of one character (its rights holder or staff), newest first, with evidence."""
    return {
        "character_id": character_id,
        "matches": svc.pipeline.characters.matches_for(user, character_id, limit=limit),
    }


@router.post("/disputes", access=MANAGERS, tags=["characters"], status_code=201)
def open_dispute(
    body: NewDispute, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Dispute a decision (or a clip's outcome) involving your character: opens a review item with a deadline."""
    return svc.pipeline.characters.dispute(
        user, body.character_id, body.message, decision_id=body.decision_id, clip_id=body.clip_id
    )


@router.get("/disputes", access=READERS, tags=["characters"])
def list_disputes(
    page: Page = Depends(paging(100, 500)),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Your disputes (staff: all), newest first, with their queue item's status and deadline."""
    found = svc.pipeline.characters.disputes(user, limit=page.fetch, offset=page.offset)
    return page.doc("disputes", found)
