"""The console signs out on the server, and shows what people typed as text, never as Markdown.

A character description (or a prompt, a reason, a handle) with
``![x](http://127.0.0.1:9/x.png)`` must not make a moderator's browser fetch
that address, and ``**bold**`` must show as typed. Checked three ways: the
escaping helpers rendered by a CommonMark parser, the console run in-process
(Streamlit's AppTest) against a real server, and a real Chromium.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from markdown_it import MarkdownIt

from console.views.common import code, md
from tests.conftest import REPO, LiveServer, start_live_server
from tests.console.browser import browser_page, console_process, go_to, need_chromium, sign_in

BAIT = "![x](http://127.0.0.1:9/x.png) and **bold** <img src=http://127.0.0.1:9/y.png> :red[hi] $x$"
HOSTILE = [
    BAIT,
    "[click](javascript:alert(1)) _under_ `tick` ``two`` # heading\n- item\n1. one\n> quote",
    "<script>alert(1)</script> &amp; &lt;b&gt; \\*not\\* ~~strike~~ | a | b |",
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_md_and_code_keep_text_literal(payload: str) -> None:
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    html = parser.render(f"prefix **{md(payload)}** · {code(payload)}")
    for tag in ("<img", "<a ", "<em>", "<h1", "<li", "<blockquote", "<script", "<del", "<table"):
        assert tag not in html, (tag, html)
    assert html.count("<strong>") == 1  # only the console's own
    inline = parser.renderInline(md(payload)).replace("<br />\n", "\n")
    import html as html_lib

    assert html_lib.unescape(inline) == payload


def _app(
    live: LiveServer, token: str, user: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = token
    at.session_state["user"] = user
    return at


def test_sign_out_revokes_the_session_on_the_server(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_server
    with live.client() as anon:
        session = anon.post(
            "/auth/login", json={"handle": "moderator", "password": "moderator-password"}
        ).json()
    at = _app(live, session["token"], session["user"], monkeypatch).run()
    assert not at.exception, [e.value for e in at.exception]
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "token" not in at.session_state
    assert any(b.label == "Sign in" for b in at.button)  # back at the sign-in form
    headers = {"Authorization": f"Bearer {session['token']}"}
    r = httpx.get(f"{live.url}/me", headers=headers, timeout=30)
    assert r.status_code == 401 and "revoked" in r.json()["error"]


def _register_bait(live: LiveServer) -> dict[str, Any]:
    with live.client("rights_holder") as rh:
        r = rh.post(
            "/characters",
            json={"name": "Bait **Bot**", "policy": "review", "description": BAIT},
        )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_description_shows_as_typed_in_the_console(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_server
    _register_bait(live)
    token = live.tokens["moderator"]
    at = _app(live, token, live.users["moderator"].to_self(), monkeypatch).run()
    at.sidebar.radio[0].set_value("Characters").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(t.value == BAIT for t in at.text), [t.value for t in at.text]
    markdown = [m.value for m in at.markdown] + [e.label for e in at.expander]
    assert markdown and all("![x](" not in m and "**bold**" not in m for m in markdown), markdown
    assert all("**Bot**" not in m for m in markdown)


@pytest.fixture()
def bait_console(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    need_chromium()
    server = start_live_server(tmp_path / "data")
    live = next(server)
    try:
        _register_bait(live)
        with console_process(live.url, tmp_path / "console.log") as url:
            yield live, url
    finally:
        server.close()


@pytest.mark.browser
def test_no_image_is_fetched_from_a_description(bait_console: tuple[LiveServer, str]) -> None:
    from playwright.sync_api import expect

    live, url = bait_console
    with browser_page() as page:
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        sign_in(page, url, "moderator", "moderator-password")
        expect(page.get_by_text("@moderator · moderator")).to_be_visible()
        go_to(page, "Characters")
        main = page.get_by_test_id("stMain")
        main.get_by_text("Bait **Bot**").first.click()  # open the expander
        expect(main.get_by_text(BAIT, exact=True)).to_be_visible()
        images = page.evaluate("() => Array.from(document.images).map(i => i.src)")
        assert not [src for src in images if "127.0.0.1:9" in src], images
        assert page.locator("strong", has_text="bold").count() == 0
        # Signing out in the browser revokes the session token on the server.
        page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert not [u for u in fetched if "127.0.0.1:9" in u], fetched
    with live.client("admin") as admin:
        audit = admin.get("/audit", params={"limit": 200}).json()["events"]
    signed_out = [e for e in audit if e["event"] == "auth.logged_out"]
    assert [e["actor_id"] for e in signed_out] == [live.users["moderator"].id]


def test_a_teen_confirms_a_guardian_and_an_admin_suspends_in_the_console(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_server
    with live.client("guardian") as g:
        assert g.post("/guardians/teen").json()["status"] == "pending"
    at = _app(live, live.tokens["teen"], live.users["teen"].to_self(), monkeypatch).run()
    at.sidebar.radio[0].set_value("Guardians").run()
    assert any("asks to be your guardian" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Confirm").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with live.client("guardian") as g:
        assert g.get("/teens/teen/settings").status_code == 200

    at = _app(live, live.tokens["admin"], live.users["admin"].to_self(), monkeypatch).run()
    at.sidebar.radio[0].set_value("People").run()
    next(s for s in at.selectbox if s.label == "Account").set_value("adult")
    next(t for t in at.text_input if t.label.startswith("Reason")).set_value("spam wave")
    next(b for b in at.button if b.label == "Suspend").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with live.client("adult") as adult:
        assert adult.get("/me").status_code == 401
    next(s for s in at.selectbox if s.label == "Account").set_value("adult")
    next(t for t in at.text_input if t.label.startswith("Reason")).set_value("appeal upheld")
    next(b for b in at.button if b.label == "Reinstate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with live.client("adult") as adult:
        assert adult.get("/me").status_code == 200
