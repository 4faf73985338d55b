"""Who may call which route: the server's one authorization mechanism.

Every route is registered through :class:`SecureRouter`, which requires an
:class:`Access` rule and attaches the check as a dependency; the app refuses
to start if any route lacks one (:func:`assert_all_routes_secured`). Finer
checks (a cameo's owner, a character's rights holder) happen in the handlers,
after this gate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

from feed.auth import optional_user
from feed.ratelimit import limiter_of
from store.users import ROLES, User

ACCESS_KEY = "x-greenroom-access"


@dataclass(frozen=True)
class Access:
    """A route's rule: public, any signed-in user, or a set of roles.

    ``refusal`` is the sentence a signed-in caller whose role is not allowed
    reads in the 403 (default: which role may not use the route).
    """

    public: bool = False
    roles: frozenset[str] | None = None  # None with public=False: any signed-in user
    refusal: str | None = None

    def allows(self, user: User | None) -> bool:
        if self.public:
            return True
        if user is None:
            return False
        return self.roles is None or user.role in self.roles

    def describe(self) -> dict[str, Any]:
        if self.public:
            return {"public": True}
        return {"public": False, "roles": sorted(self.roles) if self.roles else "any"}

    def dependency(self) -> Callable[..., Awaitable[User | None]]:
        access = self

        # A coroutine: no blocking work here, so no thread-pool hand-off (see feed.auth).
        async def check(
            request: Request, user: User | None = Depends(optional_user)
        ) -> User | None:
            if access.public:
                return user
            if user is None:
                raise HTTPException(
                    401, "authentication required: send 'Authorization: Bearer <token>'"
                )
            if not access.allows(user):
                raise HTTPException(
                    403, access.refusal or f"the {user.role} role may not use this route"
                )
            return user

        return check


PUBLIC = Access(public=True)
SIGNED_IN = Access()


def roles(*names: str, refusal: str | None = None) -> Access:
    unknown = set(names) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return Access(roles=frozenset(names), refusal=refusal)


# Moderation (queues, decisions, banks, reports): admins and moderators only. Policy
# authors are not staff: they write policy, they do not decide about people's clips.
STAFF = roles("admin", "moderator")
ADMIN = roles("admin")
# Policy versions: read, validate, save, backtest, shadow. Activating stays ADMIN.
POLICY_AUTHORS = roles("admin", "policy_author")


class SecureRouter(APIRouter):
    """An APIRouter whose route decorators require an Access rule."""

    def _secured(self, method: str, path: str, access: Access, **kwargs: Any) -> Callable[..., Any]:
        rate: str | None = kwargs.pop("rate", None)

        def decorator(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            check = access.dependency()
            gate: Callable[..., Any] = check
            if rate is not None:
                # A coroutine too: the limiter only takes a lock for a few dictionary operations.
                async def limited(request: Request, user: User | None = Depends(check)) -> None:
                    # After authentication: the account is the key when there is one.
                    host = request.client.host if request.client else "unknown"
                    key = f"user:{user.id}" if user is not None else f"addr:{host}"
                    limiter_of(request).check(rate, key)

                gate = limited
            dependencies = [*kwargs.pop("dependencies", []), Depends(gate)]
            extra = {**kwargs.pop("openapi_extra", {}), ACCESS_KEY: access.describe()}
            self.add_api_route(
                path,
                endpoint,
                methods=[method],
                dependencies=dependencies,
                openapi_extra=extra,
                **kwargs,
            )
            return endpoint

        return decorator

    def get(self, path: str, *, access: Access, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._secured("GET", path, access, **kwargs)

    def post(self, path: str, *, access: Access, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._secured("POST", path, access, **kwargs)

    def put(self, path: str, *, access: Access, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._secured("PUT", path, access, **kwargs)

    def patch(self, path: str, *, access: Access, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._secured("PATCH", path, access, **kwargs)

    def delete(self, path: str, *, access: Access, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._secured("DELETE", path, access, **kwargs)


def route_access(route: APIRoute) -> dict[str, Any] | None:
    return (route.openapi_extra or {}).get(ACCESS_KEY)


def iter_api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) for every API route, including those of included routers.

    Recent FastAPI keeps included routers as lazy wrappers holding the original
    router, so ``app.routes`` alone does not list their routes.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            yield from iter_api_routes(
                route.original_router.routes, prefix + (getattr(context, "prefix", "") or "")
            )


def assert_all_routes_secured(app: FastAPI) -> None:
    """Fail fast when a route was added without an access rule."""
    missing = [
        f"{sorted(r.methods or ())} {path}"
        for path, r in iter_api_routes(app.routes)
        if route_access(r) is None
    ]
    if missing:
        raise RuntimeError(f"routes without an access rule: {', '.join(missing)}")
