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
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
    if _IN_CI:
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
    """Settings for one test: a fresh data directory under tmp_path."""
    return Settings(data_dir=tmp_path / "data", models_dir=TEST_MODELS, fixtures_dir=FIXTURES)
