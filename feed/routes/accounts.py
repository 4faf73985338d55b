"""Account standing: strikes and account actions, for the account holder and for staff.

Thin: parse, call ``svc.pipeline.accounts``, shape the JSON. An action in
force (suspended generation or uploads, a ban) answers the doors it stops
with ``403`` and the sentence the holder reads (see ``feed/errors.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from feed.access import SIGNED_IN, STAFF, SecureRouter
from feed.auth import current_user
from feed.services import Services, services
from store import preferences
from store.accounts import MAX_LIFT_REASON_CHARS
from store.users import User

router = SecureRouter()


class LiftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_LIFT_REASON_CHARS)


@router.get("/me/standing", access=SIGNED_IN, tags=["accounts"])
def my_standing(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """Your upheld strikes and every account action (in force or past), each with its decision to appeal."""
    return svc.pipeline.accounts.standing(user)


class PreferencesBody(BaseModel):
    model_config = ConfigDict(extra="allow")


@router.get("/me/preferences", access=SIGNED_IN, tags=["accounts"])
def my_preferences(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """Your console preferences (e.g. ``review_media``: blur until revealed, or show)."""
    return preferences.get(svc.store, user.id)


@router.put("/me/preferences", access=SIGNED_IN, tags=["accounts"])
def change_my_preferences(
    body: PreferencesBody, user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    """Change your console preferences; an unknown name or value is refused (422)."""
    changes = body.model_dump()
    if len(changes) > len(preferences.PREFERENCES):
        raise ValueError("too many preferences in one change")
    checked = preferences.check(changes)
    with svc.store.transaction() as tx:
        return preferences.put(tx, svc.store, user.id, checked)


@router.get("/users/{handle}/standing", access=STAFF, tags=["accounts"])
def user_standing(handle: str, svc: Services = Depends(services)) -> Any:
    """An account's standing with each strike (its decision, category, whether voided on appeal)."""
    target = svc.users.by_handle(handle)
    return {
        "handle": target.handle,
        **svc.pipeline.accounts.standing(target),
        "strike_list": svc.pipeline.review.strikes(target.id),
    }


@router.post("/account-actions/{action_id}/lift", access=STAFF, tags=["accounts"])
def lift_action(
    action_id: str,
    body: LiftBody,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """End an account action now, with a reason (audited)."""
    return svc.pipeline.accounts.lift(action_id, user, body.reason)
