"""`greenroom up` stops cleanly on SIGTERM: both children exit and the data directory is released."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from store.db import Store
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.slow


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "greenroom up exited early"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never became healthy")


def _down(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return True
    return False


def test_sigterm_stops_server_and_console(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "greenroom", "init", "--data-dir", str(data)],
                   cwd=REPO, check=True, capture_output=True)  # fmt: skip
    server_port, console_port = free_port(), free_port()
    env = {
        **os.environ,
        "GREENROOM_SERVER_PORT": str(server_port),
        "GREENROOM_CONSOLE_PORT": str(console_port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenroom", "up", "--data-dir", str(data)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(f"http://127.0.0.1:{server_port}/healthz", proc, 180)
        _wait(f"http://127.0.0.1:{console_port}/_stcore/health", proc, 240)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _down(f"http://127.0.0.1:{server_port}/healthz")
    assert _down(f"http://127.0.0.1:{console_port}/_stcore/health")
    with Store(data):  # the server let go of the data directory
        pass


def test_sigterm_stops_the_console_alone(tmp_path: Path) -> None:
    """`greenroom console` is Streamlit itself (exec), so stopping it frees its port: before,
    SIGTERM ended the wrapper and left Streamlit running, still serving."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenroom", "console", "--server-url", "http://127.0.0.1:9",
         "--port", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    health = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        _wait(health, proc, 120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) is not None
        assert _down(health), "the console still answers after SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
