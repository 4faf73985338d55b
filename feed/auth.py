"""Authentication: turn the request's bearer token into a user.

The repositories live on ``request.app.state.services`` (see feed.services);
this module only reads the header and asks :class:`store.users.Users`. A
token that is expired, revoked or belongs to a suspended account is a 401
whose message says which (``token expired``, ``token revoked``, ``account
suspended``); the holder of the token may know that.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from store.users import AuthError, User, Users

# Where one request's authenticated (token, user, token id) is kept (in the ASGI scope's
# per-request ``state``): the body-limit middleware, the route's access check and
# ``current_user`` each need the user, and each asking the store again cost a query apiece.
_MEMO = "greenroom.authenticated"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HTTPException(401, "malformed Authorization header: expected 'Bearer <token>'")
    return value.strip()


def authenticate_once(
    scope: MutableMapping[str, Any], users: Users, token: str
) -> tuple[User, str]:
    """(user, token id) for ``token``, asked of the store at most once per request.

    Only a success is kept, and only for this request and this exact token: the next
    request asks the store again, so a revoked or expired token or a suspended account
    is refused from the next request on. A failure raises :class:`AuthError` every time.
    """
    state = scope.setdefault("state", {})
    memo = state.get(_MEMO)
    if memo is not None and memo[0] == token:
        return memo[1], memo[2]
    user, token_id = users.authenticate_token(token)
    state[_MEMO] = (token, user, token_id)
    return user, token_id


def _memo(request: Request, token: str) -> tuple[User, str] | None:
    memo = request.scope.get("state", {}).get(_MEMO)
    return (memo[1], memo[2]) if memo is not None and memo[0] == token else None


# The dependencies below are coroutines on purpose: FastAPI runs every plain ``def``
# dependency in the thread pool, one hand-off per dependency per request, and under load
# each hand-off waits for the GIL. Only a store read (the first of a request) goes to a thread.


async def optional_user(request: Request) -> User | None:
    """The signed-in user, None without a token; a bad token is a 401, never anonymous."""
    token = _bearer(request)
    if token is None:
        return None
    try:
        known = _memo(request, token)
        if known is None:
            known = await run_in_threadpool(
                authenticate_once, request.scope, request.app.state.services.users, token
            )
        user, token_id = known
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from None
    request.state.token_id = token_id
    return user


async def current_user(request: Request) -> User:
    user = await optional_user(request)
    if user is None:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'")
    return user


async def current_token_id(request: Request, user: User = Depends(current_user)) -> str:
    """The id of the token this request was made with (to sign out with it)."""
    token_id = getattr(request.state, "token_id", None)
    if not token_id:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer <token>'")
    return str(token_id)
