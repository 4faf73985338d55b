"""The console's API client: every console action is an HTTP call with the signed-in person's token."""

from __future__ import annotations

import time
from typing import Any

import httpx

# The route table changes only when the server is upgraded; a minute is fresh enough.
_ROUTES_TTL_S = 60.0
_routes_cache: dict[str, tuple[float, frozenset[tuple[str, str]]]] = {}


class ApiError(Exception):
    """The server refused or failed; ``message`` is the server's own clear error.

    ``body`` is the whole JSON error document when there was one (e.g. a
    rejected policy's ``errors`` list with file, rule and field).
    """

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


class Api:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, headers=self._headers(), **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(
                0, f"cannot reach the server at {self.base_url} ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400:
            body: Any = None
            try:
                body = response.json()
                message = body.get("error", response.text) if isinstance(body, dict) else body
            except ValueError:
                message = response.text or response.reason_phrase
            raise ApiError(response.status_code, str(message), body)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def get_bytes(self, path: str, **kwargs: Any) -> tuple[bytes, str]:
        """A binary resource (clip media): its bytes and content type."""
        response = self._send("GET", path, **kwargs)
        return response.content, response.headers.get("content-type", "application/octet-stream")

    def routes(self) -> frozenset[tuple[str, str]]:
        """(METHOD, path template) of every route the server offers, from its OpenAPI document."""
        cached = _routes_cache.get(self.base_url)
        if cached is not None and time.monotonic() - cached[0] < _ROUTES_TTL_S:
            return cached[1]
        doc = self.get("/openapi.json")
        found = frozenset(
            (method.upper(), path)
            for path, ops in (doc.get("paths") or {}).items()
            for method in ops
        )
        _routes_cache[self.base_url] = (time.monotonic(), found)
        return found

    def offers(self, method: str, path: str) -> bool:
        """Whether the server has this route (pages built ahead of a server area say so plainly)."""
        try:
            return (method.upper(), path) in self.routes()
        except ApiError:
            return False

    def login(self, handle: str, password: str) -> dict[str, Any]:
        result = self.post("/auth/login", json={"handle": handle, "password": password})
        self.token = result["token"]
        return result["user"]

    def logout(self) -> bool:
        """Revoke this client's token on the server (``POST /auth/logout``) and forget it.

        True when the server revoked it; False when it was already expired,
        revoked or unreachable (the token is forgotten here either way).
        """
        if not self.token:
            return False
        try:
            self.post("/auth/logout")
        except ApiError:
            return False
        finally:
            self.token = None
        return True
