"""JSON errors with clear messages and no stack traces, and per-route request body rules.

:class:`BodyLimitMiddleware` decides from the headers alone, before a byte of
the body is read: the route's access rule (a non-public route with a body
needs a valid bearer token: 401/403 here, not after a 200 MB upload was
parsed), the route's body kind (JSON routes take ``application/json``, upload
routes ``multipart/form-data``; anything else is 415) and the matching size
limit (413 by ``Content-Length`` and again while streaming).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feed.access import iter_api_routes, route_access
from feed.auth import authenticate_once
from pipeline.errors import DetectorError
from store.accounts import AccountRestricted
from store.db import Conflict, DataDirHeldError, NotFound, StoreError
from store.users import AuthError

log = logging.getLogger("greenroom.feed")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the submitted values back: they may hold tokens or other people's data.
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
            "message": err.get("msg"),
        }
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value  # Retry-After, WWW-Authenticate
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return _error(400, "request body is not valid JSON", details=details)
        summary = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details[:5])
        return _error(422, f"invalid request: {summary}", details=details)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(AuthError)
    async def auth_error(_: Request, exc: AuthError) -> JSONResponse:
        return _error(401, str(exc))

    @app.exception_handler(DataDirHeldError)
    async def held(_: Request, exc: DataDirHeldError) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(AccountRestricted)
    async def restricted(_: Request, exc: AccountRestricted) -> JSONResponse:
        action = exc.action
        return _error(
            403,
            str(exc),
            restriction={k: action.get(k) for k in ("kind", "ends_at", "decision_id", "reason")},
        )

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(DetectorError)
    async def detector_error(_: Request, exc: DetectorError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        if _raised_by_us(exc):
            return _error(422, str(exc))
        # A library's ValueError can quote the input back ("invalid literal for int(): 'x'"):
        # the caller gets a plain refusal, the log gets the detail under an id.
        error_id = _error_id()
        log.warning(
            "input refused by a library on %s %s [%s]: %s",
            request.method, request.url.path, error_id, exc,
        )  # fmt: skip
        return _error(422, "invalid input", error_id=error_id)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = _error_id()
        log.exception("unhandled error on %s %s [%s]", request.method, request.url.path, error_id)
        return _error(500, f"internal error; quote {error_id} when reporting it", error_id=error_id)


def _error_id() -> str:
    """A short id the answer and the log line share, so on-call can find the incident."""
    return f"err_{secrets.token_hex(6)}"


_OURS = tuple(
    f"{os.sep}{package}{os.sep}"
    for package in ("detectors", "policies", "generator", "store", "pipeline", "feed", "greenroom")
)


def _raised_by_us(exc: BaseException) -> bool:
    """Whether the innermost frame that raised is our code (our messages are written for people)."""
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    return "site-packages" not in filename and any(part in filename for part in _OURS)


BodyKind = Literal["none", "json", "form", "either"]
# Multipart framing and form fields (a prompt) on top of the file itself.
_FORM_OVERHEAD_BYTES = 256 * 1024
_AUTH_REQUIRED = "authentication required: send 'Authorization: Bearer <token>'"


@dataclass(frozen=True)
class _RouteRule:
    """What the middleware needs to know about one route, from the app's route table."""

    pattern: re.Pattern[str]
    methods: frozenset[str]
    body: BodyKind
    access: dict[str, Any]


def _body_kind(route: APIRoute) -> BodyKind:
    """``form`` (File/Form parameters), ``json`` (a body model), ``either`` (the handler
    reads the request itself: JSON or multipart) or ``none``."""
    from fastapi import params

    body_params = route.dependant.body_params
    if body_params:
        if any(isinstance(f.field_info, params.Form) for f in body_params):
            return "form"
        return "json"
    if route.dependant.request_param_name:
        return "either"
    return "none"


def route_rules(app: Any) -> list[_RouteRule]:
    """One rule per API route of ``app``, in the router's matching order."""
    rules = []
    for path, route in iter_api_routes(app.routes):
        pattern, _, _ = compile_path(path)
        rules.append(
            _RouteRule(
                pattern=pattern,
                methods=frozenset(route.methods or ()),
                body=_body_kind(route),
                access=route_access(route) or {"public": False, "roles": "any"},
            )
        )
    return rules


def _media_type(headers: dict[bytes, bytes]) -> str:
    raw = headers.get(b"content-type", b"").decode("latin-1")
    return raw.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class BodyLimitMiddleware:
    """Per-route body rules from the headers, before the body is read (see the module doc).

    The route table is read from the app the request is for (``scope["app"]``)
    on first use. Requests to no route keep the JSON limit and are answered
    by the router (404/405) without reading the body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes
        self._rules: list[_RouteRule] | None = None

    def _rule_for(self, scope: Scope) -> _RouteRule | None:
        if self._rules is None:
            owner = scope.get("app")
            if owner is None or not hasattr(owner, "routes"):
                return None
            self._rules = route_rules(owner)
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        method = scope.get("method", "GET")
        for rule in self._rules:
            if method in rule.methods and rule.pattern.match(path):
                return rule
        return None

    def _limit_or_refusal(
        self, rule: _RouteRule | None, media_type: str, has_body: bool
    ) -> tuple[int, JSONResponse | None]:
        """The byte limit for this request, or a 415 for a content type the route never takes."""
        json_limit, upload_limit = self.max_bytes, self.max_upload_bytes + _FORM_OVERHEAD_BYTES
        kind = rule.body if rule is not None else "none"
        if kind == "none" or not has_body:
            return json_limit, None
        if kind in ("form", "either") and media_type == "multipart/form-data":
            return upload_limit, None
        if kind == "form" and media_type == "application/x-www-form-urlencoded":
            return json_limit, None
        if kind in ("json", "either") and _is_json(media_type):
            return json_limit, None
        wanted = {
            "json": "application/json",
            "form": "multipart/form-data",
            "either": "application/json or multipart/form-data",
        }[kind]
        shown = media_type[:80] or "none"
        return json_limit, _error(
            415, f"this route takes {wanted} bodies; the request's Content-Type is {shown}"
        )

    async def _authorize(self, scope: Scope, rule: _RouteRule) -> JSONResponse | None:
        """401/403 for a non-public route from the Authorization header alone."""
        if rule.access.get("public"):
            return None
        services = getattr(getattr(scope.get("app"), "state", None), "services", None)
        if services is None:
            return None  # not started yet: the route's own check still runs
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1")
        if not header:
            return _error(401, _AUTH_REQUIRED)
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return _error(401, "malformed Authorization header: expected 'Bearer <token>'")
        try:
            # Kept for the route's own check in this request (feed.auth.authenticate_once).
            user, _ = await run_in_threadpool(
                authenticate_once, scope, services.users, value.strip()
            )
        except AuthError as exc:
            return _error(401, str(exc))
        roles = rule.access.get("roles")
        if isinstance(roles, list) and user.role not in roles:
            return _error(403, f"the {user.role} role may not use this route")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        try:
            declared_bytes = int(declared) if declared is not None else None
        except ValueError:
            declared_bytes = None
        has_body = bool(declared_bytes) or b"transfer-encoding" in headers
        rule = self._rule_for(scope)
        if rule is not None and has_body:
            refused = await self._authorize(scope, rule)
            if refused is not None:
                await refused(scope, receive, send)
                return
        limit, refused = self._limit_or_refusal(rule, _media_type(headers), has_body)
        if refused is None and declared_bytes is not None and declared_bytes > limit:
            refused = _error(413, f"request body is over the {limit}-byte limit")
        if refused is not None:
            await refused(scope, receive, send)
            return
        received = 0
        response_started = False
        refused_while_streaming = False

        async def limited_receive() -> Message:
            # Over the limit mid-stream: answer 413 here and tell the app the client
            # left, so no handler (FastAPI turns body errors into 400s) answers instead.
            nonlocal received, refused_while_streaming
            if refused_while_streaming:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not response_started:
                        await _error(413, f"request body is over the {limit}-byte limit")(
                            scope, receive, send
                        )
                    refused_while_streaming = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if refused_while_streaming:
                return  # the 413 was the answer
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
