"""The server's shared objects (config, store, users, pipeline services), built once per app.

Routes reach them through :func:`services` (``request.app.state.services``).
The composition root (``greenroom.wiring``) builds them; tests build the same
object around a real data directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from feed.config import ServerConfig
from pipeline.services import PipelineServices
from store.db import Store
from store.users import Users


@dataclass
class Services:
    config: ServerConfig
    store: Store
    users: Users
    pipeline: PipelineServices
    # Process-wide objects that are not part of the pipeline (workers, caches).
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.store.close()


async def services(request: Request) -> Services:
    # A coroutine: a plain def dependency costs a thread-pool hand-off per request (feed.auth).
    return request.app.state.services  # type: ignore[no-any-return]
