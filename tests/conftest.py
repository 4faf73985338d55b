"""Shared test fixtures: where the real test data and model weights are.

Fixtures come from ``GREENROOM_FIXTURES`` (default ``../shared/fixtures``) and
test model weights from ``GREENROOM_TEST_MODELS`` (default ``../shared/models``).
Outside CI a missing folder skips the tests that need it, loudly; under CI
(``CI=true``) it is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from greenroom.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# Read once here, the test suite's composition root, like the CLI does.
_ENV_SETTINGS = Settings()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _resolve(env_name: str, default: Path) -> Path:
    value = os.environ.get(env_name)
    path = Path(value) if value else default
    return path if path.is_absolute() else (REPO / path).resolve()


FIXTURES = _resolve("GREENROOM_FIXTURES", REPO / ".." / "shared" / "fixtures")
TEST_MODELS = _resolve("GREENROOM_TEST_MODELS", REPO / ".." / "shared" / "models")


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: missing test data is a failure)")
    pytest.skip(f"SKIPPED LOUDLY: {message}; set GREENROOM_FIXTURES / GREENROOM_TEST_MODELS")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _need(FIXTURES, "shared fixtures")


@pytest.fixture(scope="session")
def test_models_dir() -> Path:
    return _need(TEST_MODELS, "shared test models")


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: a fresh data directory under tmp_path.

    No model warm-up at server start: a test loads the models it uses
    (tests/foundation/test_readiness.py tests the warm-up).
    """
    return Settings(
        data_dir=tmp_path / "data",
        models_dir=TEST_MODELS,
        fixtures_dir=FIXTURES,
        warm_models=False,
    )


# -- a real server on loopback ------------------------------------------------

import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A real uvicorn server on a free loopback port, with one account per role."""

    url: str
    settings: Settings
    services: Any
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)

    def client(self, as_user: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[as_user]}"} if as_user else {}
        # Generous: the first request of a fresh server loads every model on a busy CI machine.
        return httpx.Client(base_url=self.url, headers=headers, timeout=240.0)

    def add_account(self, handle: str, role: str = "user", birth_year: int | None = 1990) -> str:
        """A further account with a token, for a test whose actions must not touch the shared ones."""
        svc = self.services
        with svc.store.transaction() as tx:
            user = svc.users.create(
                tx, handle, role, birth_year=birth_year, password=f"{handle}-pw"
            )
            _, token = svc.users.issue_token(tx, user.id, label="test")
        self.tokens[handle] = token
        self.users[handle] = user
        return handle


# Accounts every live server has: one per role, plus a teen.
ROLE_ACCOUNTS = {
    "admin": ("admin", None),
    "moderator": ("moderator", None),
    "rights_holder": ("rights_holder", None),
    "adult": ("user", 1990),
    "teen": ("user", None),  # birth year set below relative to this year
    "guardian": ("guardian", 1970),
    "policy_author": ("policy_author", None),
}


def start_live_server(data_dir: Path, settings: Settings | None = None) -> Iterator[LiveServer]:
    import uvicorn

    from greenroom.wiring import make_app, open_services
    from store.db import now

    port = free_port()
    base = settings or Settings(data_dir=data_dir, models_dir=TEST_MODELS, fixtures_dir=FIXTURES)
    settings = base.model_copy(update={"data_dir": data_dir, "server_port": port})
    services = open_services(settings)
    live = LiveServer(url=f"http://127.0.0.1:{port}", settings=settings, services=services)
    with services.store.transaction() as tx:
        for name, (role, birth_year) in ROLE_ACCOUNTS.items():
            if name == "teen":
                birth_year = now().year - 15
            user = services.users.create(
                tx, name.replace("_", "-"), role, birth_year=birth_year, password=f"{name}-password"
            )
            _, token = services.users.issue_token(tx, user.id, label="test")
            live.tokens[name] = token
            live.users[name] = user
    app = make_app(settings, services=services)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()


@pytest.fixture()
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server and data directory for one test."""
    yield from start_live_server(tmp_path / "data")


@pytest.fixture(scope="module")
def shared_live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for a whole test module (for read-mostly tests)."""
    yield from start_live_server(tmp_path_factory.mktemp("live") / "data")
