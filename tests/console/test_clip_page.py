"""The clip page in the console (Streamlit's AppTest over HTTP against a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.console.apptest import console_app as _app


def test_staff_open_a_clip_and_read_its_record(
    shared_live_server: LiveServer, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = shared_live_server
    image = fixtures_dir / "characters" / "go_gopher" / "gophercolor.png"
    with live.client("adult") as c:
        posted = c.post(
            "/clips", files={"file": (image.name, image.read_bytes())}, data={"prompt": "a gopher"}
        ).json()
    with live.client("guardian") as c:
        assert (
            c.post(f"/clips/{posted['clip_id']}/report", json={"reason": "spam"}).status_code == 200
        )

    at = _app(live, "moderator", monkeypatch)
    at.sidebar.radio[0].set_value("Clip").run()
    at.text_input[0].set_value(posted["clip_id"])
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    headers = [h.value for h in at.subheader]
    assert any(h.startswith("Decisions (") for h in headers)
    assert "Reports (1) and appeals (0)" in headers
    # The media is blurred until revealed.
    images = at.get("image")
    assert images and images[0].captions == ["blurred: reveal to see it"]
    assert not any(t.value for t in at.toggle)
    assert len(at.dataframe) >= 2  # review history, reports, audit

    missing = _app(live, "moderator", monkeypatch)
    missing.sidebar.radio[0].set_value("Clip").run()
    missing.text_input[0].set_value("clip_nothing")
    missing.button[0].click().run()
    assert any("no clip" in e.value for e in missing.error)

    user = _app(live, "adult", monkeypatch)
    assert "Clip" not in user.sidebar.radio[0].options
