"""Small controls from the abuse review: the takedown lane, the pepper on public addresses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feed.app import PRIORITY_LANE
from greenroom.settings import DEFAULT_PEPPER, Settings
from greenroom.wiring import build_pipeline, check_serving
from store.db import Store
from tests.conftest import REPO


def test_takedowns_have_their_own_lane(tmp_path: Path) -> None:
    with Store(tmp_path / "d") as store:
        ctx = build_pipeline(store, Settings(data_dir=tmp_path / "d"))
        lane = ctx.worker(only=PRIORITY_LANE)
        general = ctx.worker(exclude=PRIORITY_LANE)
    assert set(lane.handlers) == {"takedown"}
    assert "takedown" not in general.handlers and {"scan", "generate"} <= set(general.handlers)


def test_default_pepper_refused_beyond_loopback(tmp_path: Path) -> None:
    check_serving(Settings(server_host="127.0.0.1"))  # loopback: a development setup
    with pytest.raises(ValueError, match="development token pepper"):
        check_serving(Settings(server_host="0.0.0.0"))
    check_serving(Settings(server_host="0.0.0.0", token_pepper="a-long-random-production-pepper"))
    assert Settings().token_pepper.get_secret_value() == DEFAULT_PEPPER
    run = subprocess.run(
        [sys.executable, "-m", "greenroom", "serve", "--host", "0.0.0.0",
         "--data-dir", str(tmp_path / "d")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "pepper" in run.stderr
