"""The server's shared objects (store, repositories, settings), built once per app.

Routes reach them through :func:`services` (``request.app.state.services``);
tests build the same object around a real data directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from greenroom.settings import Settings
from store.db import Store
from store.users import Users


@dataclass
class Services:
    settings: Settings
    store: Store
    users: Users
    # Later parts (pipeline, indexes, workers) hang their objects here by name.
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, *, owner: str = "server") -> Services:
        store = Store(settings.data_dir, owner=owner, address=settings.server_url)
        users = Users(store, pepper=settings.token_pepper.get_secret_value())
        return cls(settings=settings, store=store, users=users)

    def close(self) -> None:
        self.store.close()


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
