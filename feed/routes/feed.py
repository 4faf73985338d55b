"""App-client routes: post a clip, remix one, read the ranked feed, report a clip, appeal a decision, list my clips.

Thin: parse, call ``svc.pipeline.feed``, shape the JSON. Ownership and
visibility are checked in the pipeline (someone else's unpublished clip or
decision answers 404, like a missing one).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from feed.access import SIGNED_IN, SecureRouter
from feed.auth import current_user
from feed.paging import Page, paging
from feed.services import Services, services
from feed.uploads import read_upload
from store.users import User

router = SecureRouter()


@router.post("/clips", access=SIGNED_IN, rate="upload", tags=["feed"])
def post_clip(
    file: UploadFile = File(..., description="an image or video"),
    prompt: str | None = Form(default=None, max_length=20_000),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Post a clip: the gate scans it and it is published, queued for review, or blocked."""
    data = read_upload(file, svc.config.max_upload_bytes)
    return svc.pipeline.posting.upload(user, data, prompt, declared_name=file.filename)


@router.post("/clips/{clip_id}/remix", access=SIGNED_IN, rate="upload", tags=["feed"])
def remix_clip(
    clip_id: str,
    file: UploadFile = File(..., description="the remixed image or video"),
    prompt: str | None = Form(default=None, max_length=20_000),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Remix a published clip: lineage (parent id, C2PA ingredients) kept; same consents as a new clip."""
    data = read_upload(file, svc.config.max_upload_bytes)
    return svc.pipeline.posting.remix(user, clip_id[:64], data, prompt, declared_name=file.filename)


@router.get("/feed", access=SIGNED_IN, tags=["feed"])
def get_feed(
    instruction: str | None = Query(default=None, max_length=300),
    page: Page = Depends(paging(20, 100)),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Your feed: live clips ranked by recency, follows and mutuals, re-ranked by an instruction.

    ``next_offset`` reads further down the same ranking (null: nothing more to show).
    """
    return svc.pipeline.feed.feed(user, instruction, page.limit, offset=page.offset)


class ReportBody(BaseModel):
    reason: str = Field(min_length=1, max_length=64)
    details: str | None = Field(default=None, max_length=2000)


@router.post("/clips/{clip_id}/report", access=SIGNED_IN, rate="report", tags=["feed"])
def report_clip(
    clip_id: str,
    body: ReportBody,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Report a clip you can see: one review item per clip, escalated by further reports."""
    return svc.pipeline.reports.report(user, clip_id[:64], body.reason, body.details)


class AppealBody(BaseModel):
    message: str = Field(min_length=1, max_length=2000)


@router.post("/decisions/{decision_id}/appeal", access=SIGNED_IN, tags=["feed"])
def appeal_decision(
    decision_id: str,
    body: AppealBody,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Appeal the latest decision on your own clip: an item in the appeals queue with a deadline."""
    return svc.pipeline.reports.appeal(user, decision_id[:64], body.message)


@router.get("/me/clips", access=SIGNED_IN, tags=["feed"])
def my_clips(
    page: Page = Depends(paging(100, 500)),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Your clips, newest first, with each one's status and latest decision."""
    return page.doc("clips", svc.pipeline.posting.my_clips(user, page.fetch, page.offset))
