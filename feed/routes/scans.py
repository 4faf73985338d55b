"""Scans, prompt checks, clips and their decisions, and the review queues.

Thin: parse, check who may see what, call ``svc.pipeline.gate`` /
``svc.pipeline.review``, shape the JSON. A creator sees their own clips and
the outcome and reasons of their decisions; staff see everything, including
rule values, shadow results and signals.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, File, Form, HTTPException, Query, UploadFile
from pydantic import BaseModel, Field

from feed.access import ADMIN, SIGNED_IN, STAFF, SecureRouter
from feed.auth import current_user
from feed.paging import Page, paging
from feed.services import Services, services
from feed.uploads import read_upload
from pipeline.answers import answer, clip_for_user
from store.users import User

router = SecureRouter()

_STAFF_ROLES = ("admin", "moderator")


def _is_staff(user: User) -> bool:
    return user.role in _STAFF_ROLES


def _for_viewer(result: dict[str, Any], user: User) -> dict[str, Any]:
    """Staff see all the evidence; anyone else the outcome, plain reasons and next steps."""
    return answer(result, user)


@router.post("/scan", access=SIGNED_IN, rate="scan", tags=["gate"])
def scan(
    file: UploadFile = File(..., description="an image or video"),
    prompt: str | None = Form(default=None, max_length=20_000),
    parent_clip_id: str | None = Form(default=None, max_length=64),
    wait: bool = Query(default=True, description="false: accept now, scan in a worker (202)"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> Any:
    """Scan your own upload: signals, the policy decision, and where it went (published/queued/blocked)."""
    from fastapi.responses import JSONResponse

    data = read_upload(file, svc.config.max_upload_bytes)
    gate = svc.pipeline.gate
    if not wait:
        accepted = gate.submit(
            data, user, prompt, declared_name=file.filename, parent_clip_id=parent_clip_id
        )
        return JSONResponse(accepted, status_code=202)
    result = gate.scan(
        data,
        user,
        prompt=prompt,
        stage="remix" if parent_clip_id else "upload",
        parent_clip_id=parent_clip_id,
        origin="remix" if parent_clip_id else "upload",
        declared_name=file.filename,
        door="scan",
    )
    return _for_viewer(result.to_dict(), user)


class PromptCheck(BaseModel):
    prompt: str = Field(min_length=1, max_length=20_000)
    cameos: list[str] = Field(default_factory=list, max_length=32)
    parent_clip_id: str | None = Field(default=None, max_length=64)


@router.post("/prompt-check", access=SIGNED_IN, rate="prompt_check", tags=["gate"])
def prompt_check(
    body: PromptCheck, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """The prompt gate alone: would this prompt (with these cameos) be allowed for you?"""
    result = svc.pipeline.gate.check_prompt(
        user, body.prompt, body.cameos, body.parent_clip_id, door="prompt"
    )
    return _for_viewer(result.to_dict(), user)


def _visible_clip(svc: Services, clip_id: str, user: User) -> dict[str, Any]:
    clip = svc.pipeline.gate.clip(clip_id)
    if clip["creator_id"] != user.id and not _is_staff(user):
        # Same answer as a missing clip: whether someone else's clip exists is not yours to know.
        raise HTTPException(404, f"no clip {clip_id[:64]}")
    return clip


@router.get("/clips/{clip_id}", access=SIGNED_IN, tags=["gate"])
def get_clip(
    clip_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """A clip (its creator or staff): status, audience, origin, lineage, latest decision, attribution."""
    clip = _visible_clip(svc, clip_id, user)
    clip["attribution"] = svc.pipeline.characters.attribution(clip["id"])
    return clip if _is_staff(user) else clip_for_user(clip)


@router.get("/clips/{clip_id}/dossier", access=STAFF, tags=["review"])
def clip_dossier(clip_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    """Everything known about a clip: lineage, decisions with signals, review history,
    reports, appeals, evidence holds and its audit entries (staff)."""
    return svc.pipeline.dossier.build(clip_id)


@router.get("/clips/{clip_id}/decisions", access=SIGNED_IN, tags=["gate"])
def clip_decisions(
    clip_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Decisions on a clip: the creator sees outcomes and reasons; staff see everything."""
    _visible_clip(svc, clip_id, user)
    return {
        "clip_id": clip_id,
        "decisions": svc.pipeline.gate.decisions(clip_id, full=_is_staff(user)),
    }


@router.get("/queues", access=STAFF, tags=["review"])
def queues(svc: Services = Depends(services)) -> dict[str, Any]:
    """Open, claimed and overdue items per queue."""
    return {"queues": svc.pipeline.review.counts()}


@router.get("/queues/{queue}", access=STAFF, tags=["review"])
def queue_items(
    queue: str,
    page: Page = Depends(paging(50, 500)),
    status: Literal["open", "claimed"] | None = Query(default=None),
    q: str | None = Query(default=None, max_length=200, description="words in the reason"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """A page of a queue's unresolved items, most urgent first, each with its evidence.

    ``next_offset`` fetches the next page (null: this was the last).
    """
    review = svc.pipeline.review
    if page.offset == 0 and status is None and not q:
        # The common first page: one read, evidence added to each row.
        return {"queue": queue, **page.doc("items", review.items(queue[:64], limit=page.fetch))}
    rows = review.queue.unresolved(
        queue[:64], limit=page.fetch, offset=page.offset, status=status, words=q
    )
    doc = page.doc("items", rows)
    # Evidence only for the rows shown; the extra row just said whether a next page exists.
    doc["items"] = [review.item(row["id"]) for row in doc["items"]]
    return {"queue": queue, **doc}


@router.get("/queue-items/{item_id}", access=STAFF, tags=["review"])
def queue_item(item_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    return svc.pipeline.review.item(item_id)


@router.post("/queue-items/{item_id}/release", access=STAFF, tags=["review"])
def release_item(
    item_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Give a claimed item back to its queue (its holder; an admin may release anyone's)."""
    return svc.pipeline.review.release(item_id, user)


class AssignBody(BaseModel):
    handle: str = Field(min_length=1, max_length=64, description="the moderator to hand it to")


@router.post("/queue-items/{item_id}/assign", access=ADMIN, tags=["review"])
def assign_item(
    item_id: str,
    body: AssignBody,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """A lead hands an item to a moderator (a fresh claim), taking it from its holder; audited."""
    return svc.pipeline.review.assign(item_id, user, body.handle)


@router.post("/queue-items/{item_id}/claim", access=STAFF, tags=["review"])
def claim_item(
    item_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    return svc.pipeline.review.claim(item_id, user)


class ReviewDecision(BaseModel):
    # uphold / overturn: verdicts on an appeal or a character dispute.
    outcome: Literal["publish", "takedown", "block", "age_restrict", "uphold", "overturn"]
    reason: str = Field(min_length=1, max_length=2000)
    add_to_bank: str | None = Field(default=None, max_length=64)
    strike: bool = Field(default=False, description="count a strike against the creator")
    category: (
        Literal[
            "sexual_minors",
            "sexual",
            "violence",
            "hate",
            "self_harm",
            "likeness",
            "character",
            "spam",
            "other",
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "reason category, kept with the decision; a block or takedown in sexual_minors "
            "also banks the clip's hashes in the child-safety bank and holds the evidence"
        ),
    )


@router.post("/queue-items/{item_id}/decide", access=STAFF, tags=["review"])
def decide_item(
    item_id: str,
    body: ReviewDecision,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Decide an item with a reason: the clip moves, the item is resolved, all audited."""
    return svc.pipeline.review.decide(
        item_id,
        user,
        body.outcome,
        body.reason,
        add_to_bank=body.add_to_bank,
        strike=body.strike,
        category=body.category,
    )


class UndoBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


@router.post("/decisions/{decision_id}/undo", access=STAFF, tags=["review"])
def undo_decision(
    decision_id: str,
    body: UndoBody | None = None,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Undo your own decision within the undo window: the reversal is a decision, audited.

    The clip returns to where it was, the item comes back claimed by you, and
    what the decision closed (reports, an appeal, a dispute, strikes, account
    actions it triggered) is open again. ``409`` with a sentence when it cannot be.
    """
    return svc.pipeline.review.undo(decision_id, user, body.reason if body else None)
