"""Metrics for staff: the system's health over a window, and what waits for the signed-in moderator.

Thin: check the window, call ``store.metrics`` (read-only, set-based SQL), return
its document. The console's Overview draws its charts from one call to
``GET /metrics/overview``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, HTTPException, Query

from feed.access import STAFF, SecureRouter
from feed.auth import current_user
from feed.services import Services, services
from store import metrics
from store.users import User

router = SecureRouter()

MAX_DAYS = 90
MAX_HOURLY_DAYS = 7


@router.get("/metrics/overview", access=STAFF, tags=["metrics"])
def overview(
    days: int = Query(
        default=14, ge=1, le=MAX_DAYS, description=f"how many days back (1..{MAX_DAYS})"
    ),
    bucket: Literal["hour", "day"] = Query(
        default="day", description=f"bucket size; hour buckets cover at most {MAX_HOURLY_DAYS} days"
    ),
    top_rules: int = Query(default=10, ge=1, le=50, description="how many rules to chart"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Queue health now; over the window: queue depth, decisions per outcome (engine or human, per
    door) and per rule, time to decision, appeal and reversal rates, detector score histograms.

    The window is stated in the answer (``window``: since, until, bucket); buckets are UTC and
    ``since`` is aligned down to the start of its bucket.
    """
    if bucket == "hour" and days > MAX_HOURLY_DAYS:
        raise HTTPException(
            422,
            f"hour buckets cover at most {MAX_HOURLY_DAYS} days: ask for days={MAX_HOURLY_DAYS} "
            "or fewer, or for bucket=day",
        )
    window = metrics.Window.last(days, bucket)
    return metrics.overview(svc.store, window, top_rules=top_rules)


@router.get("/me/work", access=STAFF, tags=["metrics"])
def my_work(
    limit: int = Query(default=50, ge=1, le=500, description="at most this many rows per list"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """What waits for you: your claims with their lease expiry, overdue items in every queue
    (most overdue first; ``mine`` marks your own), and the counts per queue."""
    return metrics.my_work(svc.store, user.id, limit=limit)
