"""The server's shared objects (store, repositories, settings), built once per app.

Routes reach them through :func:`services` (``request.app.state.services``);
tests build the same object around a real data directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from greenroom.settings import Settings
from pipeline.context import Pipeline
from store.db import Store
from store.users import Users


@dataclass
class Services:
    settings: Settings
    store: Store
    users: Users
    pipeline: Pipeline
    # Process-wide objects that are not part of the pipeline (workers, caches).
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, *, owner: str = "server") -> Services:
        store = Store(settings.data_dir, owner=owner, address=settings.server_url)
        return cls.around(store, settings)

    @classmethod
    def around(cls, store: Store, settings: Settings) -> Services:
        """Services over an already open store (the CLI's direct mode uses this too)."""
        users = Users(store, pepper=settings.token_pepper.get_secret_value())
        return cls(settings=settings, store=store, users=users, pipeline=Pipeline(store, settings))

    def close(self) -> None:
        self.store.close()


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
