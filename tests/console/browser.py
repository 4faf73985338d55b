"""Shared helpers for console browser tests: the console process, Chromium, sign-in, navigation.

Reuses the foundation test's Chromium settings, start-up wait and sign-in
(``tests/foundation/test_console_browser.py``) and adds what the page tests
need: a console process against any server URL, sidebar navigation, and a
wait for Streamlit to finish rendering before asserting or taking a picture.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, free_port
from tests.foundation.test_console_browser import CHROMIUM, CHROMIUM_ARGS, _sign_in, _wait

__all__ = [
    "CHROMIUM",
    "browser_page",
    "console_process",
    "full_screenshot",
    "go_to",
    "need_chromium",
    "settle",
]

sign_in = _sign_in


def need_chromium() -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is not installed (scripts/bootstrap.sh --test installs it)")
        pytest.skip("SKIPPED LOUDLY: chromium is not installed; run scripts/bootstrap.sh --test")
    return CHROMIUM


@contextmanager
def console_process(server_url: str, log: Path) -> Iterator[str]:
    """``greenroom console`` against ``server_url`` on a free port; yields the console URL."""
    port = free_port()
    with log.open("wb") as out:
        ui = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "greenroom",
                "console",
                "--server-url",
                server_url,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait(f"http://127.0.0.1:{port}/_stcore/health", ui, 90)
            yield f"http://127.0.0.1:{port}"
        finally:
            ui.terminate()
            try:
                ui.wait(timeout=15)
            except subprocess.TimeoutExpired:
                ui.kill()


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A fresh headless Chromium page with a generous timeout (2 loaded cores)."""
    from playwright.sync_api import sync_playwright

    executable = need_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(90_000)
            yield page
        finally:
            browser.close()


def settle(page: Any, quiet_s: float = 1.0, timeout_s: float = 90.0) -> None:
    """Wait until Streamlit has finished the current run and every image has loaded."""
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        busy = page.evaluate(
            """() => {
                const status = document.querySelector('[data-testid="stStatusWidget"]');
                const running = !!status && /running/i.test(status.innerText || '');
                const stale = document.querySelectorAll('[data-stale="true"]').length > 0;
                const loading = Array.from(document.images).some(i => !i.complete);
                return running || stale || loading;
            }"""
        )
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.2)
    raise AssertionError(f"the console did not settle in {timeout_s} s")


def go_to(page: Any, title: str) -> None:
    """Open a page from the sidebar."""
    page.get_by_test_id("stSidebar").get_by_text(title, exact=True).click()
    settle(page)


# Past this height a page is cut rather than grown (Chromium's texture limit is near 16k px).
_MAX_SHOT_HEIGHT = 12_000


def full_screenshot(page: Any, path: Path) -> None:
    """The whole page, not just the window: Streamlit scrolls inside its main block, which
    Playwright's ``full_page`` cannot see, so the window is grown to that block's height."""
    viewport = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        """() => Math.max(...[document.documentElement,
              document.querySelector('[data-testid="stMain"]'),
              document.querySelector('[data-testid="stMainBlockContainer"]'),
              document.querySelector('[data-testid="stSidebarContent"]')]
            .filter(Boolean).map(e => e.scrollHeight))"""
    )
    tall = max(viewport["height"], min(int(height) + 40, _MAX_SHOT_HEIGHT))
    page.set_viewport_size({"width": viewport["width"], "height": tall})
    try:
        settle(page, quiet_s=0.5)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(viewport)
