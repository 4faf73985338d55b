"""Teen accounts: a guardian's teens, a teen's safety settings (read, tighten), your own settings.

Thin: parse, check who may see or change whose settings, call
``svc.pipeline.teens``. A guardian sees and tightens only teens linked to
them by a *confirmed* link; a person reads and changes their own
(``/me/settings``: an adult any value, a teen within the floor and never
looser than their guardian set); admins see and change any teen's. Nobody
loosens a teen's settings beyond the floor (422).

Refusals never tell a teen's account from an adult's: anyone else gets the
same 404 whether the handle is a teen's, an adult's or nobody's.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from feed.access import SIGNED_IN, SecureRouter, roles
from feed.auth import current_user
from feed.services import Services, services
from store.db import NotFound
from store.users import User

router = SecureRouter()


def _not_yours(handle: str) -> HTTPException:
    # The same answer for a teen, an adult and a handle nobody has.
    return HTTPException(404, f"no teen account @{handle.strip().lower()[:32]} that you may see")


def _target(svc: Services, handle: str, user: User) -> User:
    """The account whose settings ``user`` asks about, or the one 404 for every refusal."""
    teens = svc.pipeline.teens
    try:
        target = teens.user(handle)
    except NotFound:
        raise _not_yours(handle) from None
    if target.id == user.id:
        return target
    if user.role == "admin":
        if not target.is_teen:
            raise HTTPException(404, f"@{target.handle} is not a teen account")
        return target
    if target.is_teen and teens.is_guardian_of(user, target):
        return target
    raise _not_yours(handle)


class SettingsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feed_limit_per_day: int | None = Field(default=None, ge=0, le=1000)
    cameo_permission: Literal["only_me", "approved", "mutuals", "everyone"] | None = None
    personalized_feed: bool | None = Field(
        default=None, description="false: the feed is the people you follow, newest first"
    )


@router.get("/teens", access=roles("guardian", "admin"), tags=["teens"])
def my_teens(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """The teens linked to you by a confirmed link, each with their settings, and your pending requests.

    A pending request shows only the handle you asked and when: nothing about
    the account until its owner confirms.
    """
    return {
        "teens": svc.pipeline.teens.teens_of(user),
        "pending": svc.users.guardian_requests(user.id),
    }


@router.get("/teens/{handle}/settings", access=roles("guardian", "user", "admin"), tags=["teens"])
def teen_settings(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """A teen's settings: for the teen, a guardian with a confirmed link, or an admin."""
    return svc.pipeline.teens.describe(_target(svc, handle, user))


@router.put("/teens/{handle}/settings", access=roles("guardian", "admin"), tags=["teens"])
def tighten_teen_settings(
    handle: str,
    body: SettingsChange,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Change a linked teen's settings; values looser than the teen floor are refused (422)."""
    target = _target(svc, handle, user)
    if not target.is_teen:  # a guardian's own account: they change it through /me/settings
        raise _not_yours(handle)
    changes = body.model_dump(exclude_unset=True)
    try:
        return svc.pipeline.teens.update(target, changes, user)
    except PermissionError:
        raise _not_yours(handle) from None


@router.get("/me/settings", access=SIGNED_IN, tags=["teens"])
def my_settings(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """Your safety settings in force, the teen floor if you are a teen, and today's feed count."""
    return svc.pipeline.teens.describe(user)


@router.put("/me/settings", access=SIGNED_IN, tags=["teens"])
def change_my_settings(
    body: SettingsChange, user: User = Depends(current_user), svc: Services = Depends(services)
) -> Any:
    """Change your own settings (e.g. ``personalized_feed: false``).

    Teen accounts may make any setting stricter and switch personalisation
    off and on again; a value looser than the teen floor is refused (422),
    and what a guardian set stays in force where it is stricter.
    """
    changes = body.model_dump(exclude_unset=True)
    return svc.pipeline.teens.update_own(user, changes)
