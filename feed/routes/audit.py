"""The audit log for admins: search with filters and keyset paging, CSV/JSONL export, chain check.

Thin: parse the filters, call ``store.audit``, shape the answer. The export is
streamed in batches, so a 100,000-row log costs one batch of memory and no
lock is held between batches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Depends, Query
from fastapi.responses import StreamingResponse

from feed.access import ADMIN, SecureRouter
from feed.services import Services, services
from store import audit
from store.db import NotFound

router = SecureRouter()


def _filter(
    svc: Services,
    actor: str | None,
    actor_id: str | None,
    subject_id: str | None,
    subject_type: str | None,
    event: str | None,
    since: datetime | None,
    until: datetime | None,
    q: str | None,
) -> audit.AuditFilter:
    if actor is not None:
        try:
            actor_id = svc.users.by_handle(actor).id
        except NotFound:
            raise NotFound(f"no account @{actor}") from None
    if since is not None and until is not None and since >= until:
        raise ValueError("since must be before until")
    return audit.AuditFilter(
        actor_id=actor_id,
        subject_id=subject_id,
        subject_type=subject_type,
        event=event,
        since=since,
        until=until,
        text=q,
    )


class _Filters:
    """The filter query parameters both routes take."""

    def __init__(
        self,
        actor: str | None = Query(default=None, max_length=64, description="the actor's handle"),
        actor_id: str | None = Query(default=None, max_length=64),
        subject_id: str | None = Query(default=None, max_length=64),
        subject_type: str | None = Query(default=None, max_length=32),
        event: str | None = Query(
            default=None, max_length=64, description='an event name, or a family: "account."'
        ),
        since: datetime | None = Query(default=None, description="from this time (inclusive)"),
        until: datetime | None = Query(default=None, description="up to this time (exclusive)"),
        q: str | None = Query(default=None, max_length=200, description="words in the payload"),
    ) -> None:
        self.values = (actor, actor_id, subject_id, subject_type, event, since, until, q)

    def build(self, svc: Services) -> audit.AuditFilter:
        return _filter(svc, *self.values)


@router.get("/audit", access=ADMIN, tags=["audit"])
def audit_log(
    limit: int = Query(default=100, ge=1, le=1000),
    before_seq: int | None = Query(default=None, ge=1, description="the next page's cursor"),
    filters: _Filters = Depends(),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Audit rows, newest first, filtered; ``next_before_seq`` fetches the next page (null: last)."""
    where = filters.build(svc)
    page, next_seq = audit.search(svc.store.conn, where, limit=limit, before_seq=before_seq)
    return {
        "events": page,
        "next_before_seq": next_seq,
        "total": audit.count(svc.store.conn, where),
    }


@router.get("/audit/export", access=ADMIN, tags=["audit"])
def audit_export(
    format: Literal["csv", "jsonl"] = Query(default="csv"),
    filters: _Filters = Depends(),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """Every matching row, oldest first, streamed as CSV (default) or JSON lines."""
    where = filters.build(svc)
    rows = audit.export(lambda: svc.store.conn, where)
    if format == "csv":
        body = audit.csv_lines(rows)
        media, ext = "text/csv; charset=utf-8", "csv"
    else:
        body = audit.jsonl_lines(rows)
        media, ext = "application/x-ndjson", "jsonl"
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="greenroom-audit.{ext}"'},
    )


@router.get("/audit/verify", access=ADMIN, tags=["audit"])
def audit_verify(
    mode: Literal["full", "incremental"] = Query(
        default="full",
        description="full: recompute every row; incremental: the rows since the last intact check",
    ),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Check the hash chain; ``first_bad`` names the first row that does not verify.

    ``mode`` in the answer says which check ran (an incremental check with no earlier
    intact check to start from runs in full); ``checked_from`` is the first row recomputed.
    """
    report = svc.store.verify_audit(incremental=mode == "incremental")
    return {**report.to_dict(), "mode": report.mode, "checked_from": report.checked_from}
