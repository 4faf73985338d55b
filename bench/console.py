"""Console benchmark: how long the Review queue and Audit log pages take to render in a browser.

Run: ``.venv/bin/python -m bench.console [--items 10000] [--audit 100000] [--repeat 3]``.

Seeds a throwaway data directory: ``--items`` unresolved queue items (bulk SQL, a tenth claimed,
no clip, so their evidence is empty) in one queue, and ``--audit`` audit events appended through
the store's chain (``Tx.audit``, one transaction), so ``GET /audit/verify`` checks a real chain.
Starts a real server (``greenroom.wiring.make_app`` under uvicorn in a thread) and
``greenroom console`` in a subprocess, signs in as an admin in headless Chromium (Playwright) and
times, ``--repeat`` times each, from the sidebar click until Streamlit's run has finished and the
page's table is on screen: the Review queue page with its items expander opened, and the Audit log
page (total, first page of 100, and the incremental chain check from the tip of the server's
full check at start, whose duration is reported apart). The first visit of each page is timed apart. Prints the medians and writes
``bench/results/console.json``. Wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from greenroom.settings import Settings
from greenroom.wiring import make_app, open_services
from store.db import now
from store.events import UserUpdated

REPO = Path(__file__).resolve().parent.parent
QUEUE = "bench-review"
PASSWORD = "bench-admin-password"
# Seconds the server's start-up chain check still ran after the server answered (filled by server()).
CHAIN_CHECK_AT_START: list[float] = []
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(services: Any, items: int, events: int) -> dict[str, Any]:
    store = services.store
    with store.transaction() as tx:
        admin = services.users.create(tx, "bench-admin", "admin", password=PASSWORD)
    started = time.perf_counter()
    with store.transaction() as tx:
        tx.execute(
            "INSERT INTO queue_items (id, clip_id, decision_id, queue, priority, reason, status, "
            "claimed_by, claimed_at, due_at, created_at, dedupe_key) "
            "SELECT 'qi_bench' || i, NULL, NULL, ?, (hash(i) % 100)::INTEGER, "
            "['nudity score', 'likeness match', 'user report', 'copyright claim'][1 + i % 4] "
            "|| ' ' || i, CASE WHEN i % 10 = 0 THEN 'claimed' ELSE 'open' END, "
            "CASE WHEN i % 10 = 0 THEN ? END, CASE WHEN i % 10 = 0 THEN ?::TIMESTAMPTZ END, "
            "?::TIMESTAMPTZ + to_seconds((i % 86400)::DOUBLE), "
            "?::TIMESTAMPTZ - to_seconds((i * 7)::DOUBLE), 'bench-' || i FROM range(?) t(i)",
            [QUEUE, admin.id, now(), now(), now(), items],
        )
    items_s = time.perf_counter() - started
    started = time.perf_counter()
    with store.transaction() as tx:
        for n in range(events):
            tx.audit(
                UserUpdated(
                    actor_id=admin.id, user_id=f"usr_bench{n % 500}", changes={"note": f"memo {n}"}
                )
            )
    audit_s = time.perf_counter() - started
    return {"admin": admin, "items_seed_s": round(items_s, 2), "audit_seed_s": round(audit_s, 2)}


@contextmanager
def server(settings: Settings, services: Any) -> Iterator[str]:
    import uvicorn

    app = make_app(settings, services=services)
    # The lifespan runs as in production: its full chain check at start is what lets the
    # console's routine checks read only new rows.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=settings.server_port, log_level="warning", lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    started = time.perf_counter()
    app.state.chain_check.join()
    CHAIN_CHECK_AT_START.append(time.perf_counter() - started)
    # Measured once ready, as a load balancer would send traffic: models warm (when on).
    app.state.readiness.wait()
    try:
        yield f"http://127.0.0.1:{settings.server_port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextmanager
def console(server_url: str, log: Path) -> Iterator[str]:
    port = _free_port()
    with log.open("wb") as out:
        ui = subprocess.Popen(
            [sys.executable, "-m", "greenroom", "console", "--server-url", server_url,
             "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                if ui.poll() is not None:
                    raise RuntimeError(f"the console exited with {ui.returncode}")
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the console did not come up")
                time.sleep(0.2)
            yield url
        finally:
            ui.terminate()
            try:
                ui.wait(timeout=15)
            except subprocess.TimeoutExpired:
                ui.kill()


_IDLE = """() => {
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    const running = !!status && /running/i.test(status.innerText || '');
    const stale = document.querySelectorAll('[data-stale="true"]').length > 0;
    return !running && !stale;
}"""


def _wait_idle(page: Any, timeout_s: float = 120.0) -> None:
    page.wait_for_function(_IDLE, timeout=timeout_s * 1000, polling=50)


def _render(page: Any, title: str, ready: Any) -> float:
    """Seconds from the sidebar click until the run is over and ``ready(page)`` has returned."""
    page.get_by_test_id("stSidebar").get_by_text("Overview", exact=True).click()
    page.get_by_role("heading", name="Overview").first.wait_for()
    _wait_idle(page)
    started = time.perf_counter()
    page.get_by_test_id("stSidebar").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title).first.wait_for()
    ready(page)
    _wait_idle(page)
    return time.perf_counter() - started


def _review_ready(page: Any) -> None:
    page.get_by_text(f"Items in {QUEUE}").first.click()
    page.get_by_text("Items 1–50").first.wait_for()
    page.locator('[data-testid="stExpander"] [data-testid="stDataFrame"]').first.wait_for()


def _audit_ready(page: Any) -> None:
    page.get_by_text("Hash chain").first.wait_for()
    page.get_by_text("matching events").first.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()


def _nothing(page: Any) -> None:
    return None


def measure(console_url: str, repeat: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (scripts/bootstrap.sh --test installs it)")
    times: dict[str, list[float]] = {
        "review_queue": [],
        "audit_log": [],
        "baseline_my_standing": [],
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(console_url)
            page.get_by_role("textbox", name="Handle").fill("bench-admin")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("@bench-admin").first.wait_for()
            _wait_idle(page)
            # The first visit each is kept apart: it imports the page's modules. The audit page
            # checks the rows since the server's start-up check on every visit.
            times["review_queue_first"] = [_render(page, "Review queue", _review_ready)]
            times["audit_log_first"] = [_render(page, "Audit log", _audit_ready)]
            for _ in range(repeat):
                times["review_queue"].append(_render(page, "Review queue", _review_ready))
                times["audit_log"].append(_render(page, "Audit log", _audit_ready))
                # The floor: a light page (one small API call), the same click-to-idle way.
                times["baseline_my_standing"].append(_render(page, "My standing", _nothing))
        finally:
            browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--audit", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", threads=1, server_port=_free_port())
        services = open_services(settings)
        try:
            seeded = seed(services, args.items, args.audit)
            print(f"seeded {args.items} items in {seeded['items_seed_s']} s, "
                  f"{args.audit} audit events in {seeded['audit_seed_s']} s")  # fmt: skip
            with server(settings, services) as url:
                token_client = httpx.Client(base_url=url, timeout=300)
                token = token_client.post(
                    "/auth/login", json={"handle": "bench-admin", "password": PASSWORD}
                ).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                started = time.perf_counter()
                chain = token_client.get("/audit/verify", headers=headers).json()
                verify_s = time.perf_counter() - started
                started = time.perf_counter()
                routine = token_client.get(
                    "/audit/verify", params={"mode": "incremental"}, headers=headers
                ).json()
                verify_incremental_s = time.perf_counter() - started
                assert routine["ok"] and routine["mode"] == "incremental", routine
                started = time.perf_counter()
                listed = token_client.get(f"/queues/{QUEUE}", headers=headers).json()
                queue_s = time.perf_counter() - started
                started = time.perf_counter()
                audit_page = token_client.get("/audit", headers=headers).json()
                audit_s = time.perf_counter() - started
                token_client.close()
                with console(url, Path(tmp) / "console.log") as console_url:
                    times = measure(console_url, args.repeat)
        finally:
            services.close()
    result = {
        "items": args.items,
        "audit_events": args.audit,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average_1m_after": round(os.getloadavg()[0], 1),
        "chain": chain,
        "seed": {k: v for k, v in seeded.items() if k != "admin"},
        "api_s": {
            "audit_verify": round(verify_s, 3),
            "audit_verify_incremental": round(verify_incremental_s, 3),
            "chain_check_at_start_after_ready": round(CHAIN_CHECK_AT_START[-1], 3),
            "queue_page": round(queue_s, 3),
            "audit_page": round(audit_s, 3),
            "audit_total": audit_page["total"],
            "queue_next_offset": listed["next_offset"],
        },
        "render_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "target_s": 1.5,
    }
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results" / "console.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
