"""Hash banks for staff: list, create, add entries (hashes or a clip), look hashes up, export and
import bank files.

Thin: parse, call ``svc.pipeline.banks``, shape the JSON. Bank files are the
``greenroom-hashbank`` v1 JSON Lines format (``detectors/hashing.py``); an
invalid file is refused whole with the line of the first problem (422).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, File, HTTPException, Query, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, StringConstraints

from feed.access import STAFF, SecureRouter
from feed.auth import current_user
from feed.services import Services, services
from feed.uploads import read_upload
from store.users import User

router = SecureRouter()


class NewBank(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    category: str = Field(default="", max_length=32)


class Entry(BaseModel):
    hash: str = Field(min_length=64, max_length=64)
    kind: Literal["pdq", "sha256"]
    label: str = Field(min_length=1, max_length=500)
    severity: Literal["low", "medium", "high", "critical"] = "high"
    source_clip_id: str | None = Field(default=None, max_length=64)
    quality: int | None = Field(default=None, ge=0, le=100)


class NewEntries(BaseModel):
    """Either hashes, or a stored clip whose file and keyframes are hashed."""

    entries: list[Entry] = Field(default_factory=list, max_length=10_000)
    clip_id: str | None = Field(default=None, max_length=64)
    label: str | None = Field(default=None, max_length=500)
    severity: Literal["low", "medium", "high", "critical"] = "high"


HexHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]


class Lookup(BaseModel):
    """Hashes computed elsewhere (a partner, an upload service): at most 1,000 of each kind."""

    sha256: list[HexHash] = Field(default_factory=list, max_length=1000)
    pdq: list[HexHash] = Field(default_factory=list, max_length=1000)


@router.post("/banks/lookup", access=STAFF, rate="lookup", tags=["banks"])
def lookup(body: Lookup, svc: Services = Depends(services)) -> dict[str, Any]:
    """Which bank entries each hash matches: sha256 exactly, PDQ within the Hamming threshold.

    Answers ``results`` in the order given (sha256 first), each with its ``matches``.
    """
    if not body.sha256 and not body.pdq:
        raise HTTPException(422, "give at least one sha256 or pdq hash")
    banks = svc.pipeline.banks
    return {
        "results": banks.lookup(body.sha256, body.pdq),
        "pdq_threshold": banks.threshold,
        "entries": banks.entry_count,
    }


@router.get("/banks", access=STAFF, tags=["banks"])
def list_banks(svc: Services = Depends(services)) -> dict[str, Any]:
    return {"banks": svc.pipeline.banks.list_banks()}


@router.post("/banks", access=STAFF, tags=["banks"], status_code=201)
def create_bank(
    body: NewBank, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    return svc.pipeline.banks.create_bank(body.name, body.description, body.category, user)


@router.post("/banks/{name}/entries", access=STAFF, tags=["banks"])
def add_entries(
    name: str,
    body: NewEntries,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    banks = svc.pipeline.banks
    if body.clip_id and body.entries:
        raise HTTPException(422, "give either entries or a clip_id, not both")
    if body.clip_id:
        label = body.label or "added by staff"
        with svc.store.transaction() as tx:
            result = banks.add_clip(tx, body.clip_id, name, label, user, body.severity)
        banks.refresh()
    elif body.entries:
        result = banks.add_entries(name, [e.model_dump() for e in body.entries], user)
    else:
        raise HTTPException(422, "give entries or a clip_id")
    result.pop("ids", None)
    return result


@router.get("/banks/{name}/export", access=STAFF, tags=["banks"])
def export_bank(name: str, svc: Services = Depends(services)) -> PlainTextResponse:
    text = svc.pipeline.banks.export(name)
    return PlainTextResponse(
        text,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}.hashbank.jsonl"'},
    )


@router.post("/banks/{name}/import", access=STAFF, tags=["banks"])
def import_bank(
    name: str,
    file: UploadFile = File(..., description="a greenroom-hashbank v1 file (JSON Lines)"),
    create: bool = Query(default=True, description="create the bank when it does not exist"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    data = read_upload(file, svc.config.max_upload_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "invalid bank file: not UTF-8 text") from None
    banks = svc.pipeline.banks
    if not create:
        banks.repo.get(name)  # 404 before anything is read into the store
    return banks.import_text(text, bank=name, actor=user)
