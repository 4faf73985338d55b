"""The FastAPI application factory: one app serving app clients and the console."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from feed.access import assert_all_routes_secured
from feed.config import ServerConfig
from feed.errors import BodyLimitMiddleware, install_error_handlers
from feed.ratelimit import RateLimiter
from feed.readiness import Readiness
from feed.routes import (
    accounts,
    audit,
    banks,
    cameos,
    characters,
    feed,
    generate,
    metrics,
    policies,
    scans,
    system,
    teens,
)
from feed.services import Services
from store.jobs import default_worker_id

log = logging.getLogger("greenroom.feed")

# Takedowns have their own lane: a revoked cameo's clips never wait behind scans.
PRIORITY_LANE = ("takedown",)


def start_worker(svc: Services, workers: int) -> list[Any]:
    """The job worker threads: the takedown lane and the general one (none when ``workers`` is 0)."""
    if workers <= 0:
        return []
    return [
        svc.pipeline.worker(
            only=PRIORITY_LANE, worker_id=f"{default_worker_id()}-takedowns"
        ).start(),
        svc.pipeline.worker(exclude=PRIORITY_LANE).start(),
    ]


def start_chain_check(svc: Services) -> threading.Thread:
    """One full audit-chain check at start, off the request path.

    It leaves the checkpoint that the console's routine (incremental) checks start
    from, so no reader waits for the whole log, and it logs a broken chain loudly
    at once rather than when someone next opens the audit page.
    """

    def check() -> None:
        try:
            report = svc.store.verify_audit()
        except Exception:  # a failed check must not take the server down
            log.exception("audit chain check at start could not run")
            return
        if report.ok:
            log.info("audit chain intact at start: %d rows", report.rows)
        else:
            log.error(
                "AUDIT CHAIN BROKEN at row %s of %d: %s",
                report.first_bad,
                report.rows,
                report.reason,
            )

    thread = threading.Thread(target=check, name="audit-chain-check", daemon=True)
    thread.start()
    return thread


def create_app(
    config: ServerConfig,
    services: Services | None = None,
    open_services: Callable[[], Services] | None = None,
) -> FastAPI:
    """Build the app around ``services``, or open them at start-up with ``open_services``."""
    if services is None and open_services is None:
        raise ValueError("create_app needs services or a way to open them")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or open_services()  # type: ignore[misc]
        # Temp files of uploads interrupted by a crash are content-addressed
        # leftovers; clear the old ones at start.
        app.state.services.pipeline.blobs.cleanup_temp()
        if config.warm_models:
            app.state.readiness.warm(app.state.services.pipeline.warm_up)
        # Durable jobs (scans, takedowns, generations) run in this process.
        workers = start_worker(app.state.services, config.workers)
        chain_check = app.state.chain_check = start_chain_check(app.state.services)
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()
            chain_check.join()  # it reads the store, which closes next
            app.state.readiness.wait()  # so does the warm-up (the characters registry)
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="Greenroom",
        version=config.version,
        description="Trust and safety for an AI-video social app.",
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    app.state.limiter = RateLimiter(config.rate_limits)
    app.state.readiness = Readiness()
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=config.max_json_body_bytes,
        max_upload_bytes=config.max_upload_bytes,
    )
    for module in (
        system,
        scans,
        policies,
        generate,
        characters,
        feed,
        banks,
        teens,
        cameos,
        accounts,
        audit,
        metrics,
    ):
        app.include_router(module.router)
    assert_all_routes_secured(app)
    return app
