"""The console run in-process by Streamlit's AppTest, signed in, talking to a real server over HTTP."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.conftest import REPO, LiveServer


def console_app(
    live: LiveServer, account: str, monkeypatch: pytest.MonkeyPatch, page: str | None = None
) -> Any:
    """``console/app.py`` signed in as ``account`` (and on ``page`` when given), run once."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = live.tokens[account]
    at.session_state["user"] = live.users[account].to_self()
    at.run()
    if page is not None:
        at.sidebar.radio[0].set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
