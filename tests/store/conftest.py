"""Store test fixtures: a real DuckDB data directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.db import Store


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture()
def store(data_dir: Path) -> Iterator[Store]:
    with Store(data_dir) as opened:
        yield opened
