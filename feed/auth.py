"""Authentication: turn the request's bearer token into a user.

The repositories live on ``request.app.state.services`` (see feed.services);
this module only reads the header and asks :class:`store.users.Users`.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from store.users import AuthError, User


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HTTPException(401, "malformed Authorization header: expected 'Bearer <token>'")
    return value.strip()


def optional_user(request: Request) -> User | None:
    """The signed-in user, None without a token; a bad token is a 401, never anonymous."""
    token = _bearer(request)
    if token is None:
        return None
    try:
        return request.app.state.services.users.authenticate(token)
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from None


def current_user(request: Request) -> User:
    user = optional_user(request)
    if user is None:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'")
    return user
