"""The FastAPI application factory: one app serving app clients and the console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from feed.access import assert_all_routes_secured
from feed.errors import BodyLimitMiddleware, install_error_handlers
from feed.routes import banks, cameos, characters, feed, generate, policies, scans, system, teens
from feed.services import Services
from greenroom import __version__
from greenroom.settings import Settings
from pipeline.intake import blob_store


def start_worker(svc: Services, workers: int) -> Any:
    """The job worker thread (None when ``workers`` is 0)."""
    if workers <= 0:
        return None
    from pipeline.gate import build_worker

    return build_worker(svc.pipeline).start()


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app. Without ``services`` it opens the data directory at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.open(settings)
        # Temp files of uploads interrupted by a crash are content-addressed
        # leftovers; clear the old ones at start.
        blob_store(app.state.services.pipeline).cleanup_temp()
        # Durable jobs (scans, takedowns, generations) run in this process.
        worker = start_worker(app.state.services, settings.workers)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="Greenroom",
        version=__version__,
        description="Trust and safety for an AI-video social app.",
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.limits.max_json_body_bytes,
        max_upload_bytes=settings.limits.max_upload_bytes,
    )
    for module in (system, scans, policies, generate, characters, feed, banks, teens, cameos):
        app.include_router(module.router)
    assert_all_routes_secured(app)
    return app
