"""The console in a real headless Chromium: sign in as the demo admin and see the pages.

Starts the real server and the real Streamlit console as processes on free
loopback ports (as ``greenroom up`` does), drives Debian's Chromium with
Playwright, and takes a screenshot (``docs/console.png`` for the README when
``GREENROOM_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, REPO, free_port

# GREENROOM_UPDATE_SCREENSHOTS=1 refreshes the README's screenshot in docs/.
UPDATE_SCREENSHOTS = os.environ.get("GREENROOM_UPDATE_SCREENSHOTS") == "1"
# Screenshots of every page, kept after the run (git ignores the folder).
ARTEFACTS = Path(os.environ.get("GREENROOM_TEST_ARTEFACTS") or REPO / "test-artefacts")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url}: process exited with {proc.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not come up in {seconds} s")


@pytest.fixture(scope="module")
def running_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is not installed (scripts/bootstrap.sh --test installs it)")
        pytest.skip("SKIPPED LOUDLY: chromium is not installed; run scripts/bootstrap.sh --test")
    data = tmp_path_factory.mktemp("console") / "demo"
    seed = subprocess.run(
        [sys.executable, "-m", "greenroom", "demo", "seed", "--data-dir", str(data), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seed.returncode == 0, seed.stderr
    logins = {login["handle"]: login for login in json.loads(seed.stdout)["logins"]}
    api_port, ui_port = free_port(), free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "greenroom",
            "serve",
            "--data-dir",
            str(data),
            "--port",
            str(api_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "greenroom",
            "console",
            "--server-url",
            f"http://127.0.0.1:{api_port}",
            "--port",
            str(ui_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{api_port}/healthz", server, 60)
        _wait(f"http://127.0.0.1:{ui_port}/_stcore/health", ui, 90)
        yield f"http://127.0.0.1:{ui_port}", logins
    finally:
        for proc in (ui, server):
            proc.terminate()
        for proc in (ui, server):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _sign_in(page, url: str, handle: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.get_by_role("textbox", name="Handle").fill(handle)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_admin_signs_in_and_sees_admin_pages(
    running_console: tuple[str, dict], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, logins = running_console
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        _sign_in(page, url, "admin", "wrong-password")
        expect(page.get_by_text("wrong handle or password")).to_be_visible()
        _sign_in(page, url, "admin", logins["admin"]["password"])
        expect(page.get_by_text("@admin · admin")).to_be_visible()
        expect(page.get_by_text("Audit log")).to_be_visible()
        page.get_by_text("Audit log").click()
        expect(page.get_by_text("Hash chain intact")).to_be_visible()
        shots = REPO / "docs" if UPDATE_SCREENSHOTS else tmp_path
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "console.png"))
        # Every page the admin has, rendered without an error, each kept as a screenshot.
        from tests.console.browser import full_screenshot, settle

        artefacts = ARTEFACTS / "pages"
        artefacts.mkdir(parents=True, exist_ok=True)
        titles = page.get_by_test_id("stSidebar").get_by_test_id("stRadio").inner_text()
        for title in [t for t in titles.split("\n") if t.strip()]:
            page.get_by_test_id("stSidebar").get_by_text(title, exact=True).click()
            settle(page)
            main = page.get_by_test_id("stMain")
            assert main.get_by_test_id("stException").count() == 0, title
            slug = "".join(c if c.isalnum() else "-" for c in title.lower())
            full_screenshot(page, artefacts / f"admin-{slug}.png")
        browser.close()


def test_a_user_does_not_see_admin_pages(running_console: tuple[str, dict]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, logins = running_console
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        _sign_in(page, url, "alice", logins["alice"]["password"])
        expect(page.get_by_text("@alice · user")).to_be_visible()
        assert page.get_by_text("Audit log").count() == 0
        browser.close()
