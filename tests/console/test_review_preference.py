"""A moderator's own review-media preference: stored on the server, audited, followed by the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.console.apptest import console_app as _app


def test_preferences_are_checked_and_audited(shared_live_server: LiveServer) -> None:
    live = shared_live_server
    with live.client("moderator") as mod:
        assert mod.get("/me/preferences").json() == {"review_media": "blur"}
        bad_value = mod.put("/me/preferences", json={"review_media": "sometimes"})
        bad_name = mod.put("/me/preferences", json={"theme": "dark"})
        changed = mod.put("/me/preferences", json={"review_media": "show"})
        after = mod.get("/me/preferences").json()
    assert bad_value.status_code == 422 and "review_media" in bad_value.json()["error"]
    assert bad_name.status_code == 422 and "unknown preference" in bad_name.json()["error"]
    assert changed.status_code == 200 and after == {"review_media": "show"}
    with live.client("admin") as admin:
        assert admin.get("/me/preferences").json() == {"review_media": "blur"}  # per person
    events = live.services.store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'user.preferences_changed' AND subject_id = ?",
        [live.users["moderator"].id],
    )
    assert events[0][0] == 1
    with live.client("moderator") as mod:
        assert mod.put("/me/preferences", json={"review_media": "blur"}).status_code == 200


def test_the_clip_page_follows_the_preference(
    shared_live_server: LiveServer, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = shared_live_server
    image = fixtures_dir / "characters" / "go_gopher" / "frontpage.png"
    with live.client("adult") as c:
        clip_id = c.post(
            "/clips", files={"file": (image.name, image.read_bytes())}, data={}
        ).json()["clip_id"]

    def open_clip(at: Any) -> list[str]:
        at.text_input[0].set_value(clip_id)
        at.button[0].click().run()
        assert not at.exception, [e.value for e in at.exception]
        return [c for img in at.get("image") for c in img.captions]

    blurred = _app(live, "admin", monkeypatch, "Clip")
    assert open_clip(blurred) == ["blurred: reveal to see it"]

    settings = _app(live, "admin", monkeypatch, "My settings")
    toggle = next(t for t in settings.toggle if t.label.startswith("Blur review media"))
    assert toggle.value is True
    toggle.set_value(False).run()
    assert not settings.exception, [e.value for e in settings.exception]
    with live.client("admin") as admin:
        assert admin.get("/me/preferences").json() == {"review_media": "show"}

    shown = _app(live, "admin", monkeypatch, "Clip")
    assert open_clip(shown) == [""]  # the image itself, no blur caption
