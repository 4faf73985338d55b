"""The console's API client: every console action is an HTTP call with the signed-in person's token."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The server refused or failed; ``message`` is the server's own clear error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Api:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, headers=self._headers(), **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(
                0, f"cannot reach the server at {self.base_url} ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text or response.reason_phrase
            raise ApiError(response.status_code, str(message))
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def login(self, handle: str, password: str) -> dict[str, Any]:
        result = self.post("/auth/login", json={"handle": handle, "password": password})
        self.token = result["token"]
        return result["user"]
