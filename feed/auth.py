"""Authentication: turn the request's bearer token into a user.

The repositories live on ``request.app.state.services`` (see feed.services);
this module only reads the header and asks :class:`store.users.Users`. A
token that is expired, revoked or belongs to a suspended account is a 401
whose message says which (``token expired``, ``token revoked``, ``account
suspended``); the holder of the token may know that.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request

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
        user, token_id = request.app.state.services.users.authenticate_token(token)
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from None
    request.state.token_id = token_id
    return user  # type: ignore[no-any-return]


def current_user(request: Request) -> User:
    user = optional_user(request)
    if user is None:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'")
    return user


def current_token_id(request: Request, user: User = Depends(current_user)) -> str:
    """The id of the token this request was made with (to sign out with it)."""
    token_id = getattr(request.state, "token_id", None)
    if not token_id:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'")
    return str(token_id)
