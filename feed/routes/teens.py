"""Teen accounts: a guardian's teens, a teen's safety settings (read, tighten), your own settings.

Thin: parse, check who may see or change whose settings, call
``svc.pipeline.teens``. A guardian sees and tightens only teens linked to
them; a teen reads their own; admins see and change any. Nobody loosens a
teen's settings beyond the floor (422).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from feed.access import SIGNED_IN, SecureRouter, roles
from feed.auth import current_user
from feed.services import Services, services
from store.users import User

router = SecureRouter()


class SettingsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feed_limit_per_day: int | None = Field(default=None, ge=0, le=1000)
    cameo_permission: Literal["only_me", "approved", "mutuals", "everyone"] | None = None
    dms: Literal["off", "mutuals", "everyone"] | None = None
    personalized_feed: bool | None = None


@router.get("/teens", access=roles("guardian", "admin"), tags=["teens"])
def my_teens(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """The teens linked to you (as a guardian), each with their settings."""
    return {"teens": svc.pipeline.teens.teens_of(user)}


@router.get("/teens/{handle}/settings", access=roles("guardian", "user", "admin"), tags=["teens"])
def teen_settings(
    handle: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    teens = svc.pipeline.teens
    target = teens.user(handle)
    if not target.is_teen:
        raise HTTPException(404, f"@{target.handle} is not a teen account")
    if not teens.can_read(user, target):
        raise HTTPException(403, "only the teen, a linked guardian or an admin may see these")
    return teens.describe(target)


@router.put("/teens/{handle}/settings", access=roles("guardian", "admin"), tags=["teens"])
def tighten_teen_settings(
    handle: str,
    body: SettingsChange,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Change a linked teen's settings; values looser than the teen floor are refused (422)."""
    teens = svc.pipeline.teens
    target = teens.user(handle)
    if not target.is_teen:
        raise HTTPException(404, f"@{target.handle} is not a teen account")
    changes = body.model_dump(exclude_unset=True)
    try:
        return teens.update(target, changes, user)
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None


@router.get("/me/settings", access=SIGNED_IN, tags=["teens"])
def my_settings(user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """Your safety settings in force, the teen floor if you are a teen, and today's feed count."""
    return svc.pipeline.teens.describe(user)
