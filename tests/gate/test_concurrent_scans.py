"""Two scans at once give the signals two scans one after the other give (issue 12).

Last round two concurrent scans crashed the server (models shared across
threads). Here every detector is on (a character registered, so the copy
detector checks every keyframe), two clips are scanned one at a time, then
each twice more from two threads at once, through one set of shared models:
every concurrent scan's signals must equal its clip's serial ones exactly
(scores included), and every decision is recorded.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from greenroom.settings import Settings
from greenroom.wiring import build_services
from pipeline.characters import RefUpload
from store.db import Store

CLIPS = ("liveportrait_s18_woman.mp4", "sintel_trailer_clip_720p.mp4")


def _signals(result: Any) -> str:
    return json.dumps(result.signals, sort_keys=True, default=str)


@pytest.mark.slow
def test_two_scans_at_once_find_what_serial_scans_find(
    settings: Settings, fixtures_dir: Path
) -> None:
    clips = {name: (fixtures_dir / "videos" / name).read_bytes() for name in CLIPS}
    with Store(settings.data_dir) as store:
        svc = build_services(store, settings)
        with store.transaction() as tx:
            user = svc.users.create(tx, "uploader", "user", birth_year=1990)
            owner = svc.users.create(tx, "studio", "rights_holder")
        refs = [
            RefUpload(p.read_bytes(), p.name)
            for p in sorted((fixtures_dir / "characters" / "tux").glob("*.png"))
        ]
        svc.pipeline.characters.register(None, owner, name="Tux", policy="review", refs=refs)
        gate = svc.pipeline.gate

        serial = {name: _signals(gate.scan(data, user, "a clip")) for name, data in clips.items()}
        assert all(json.loads(s) for s in serial.values())
        kinds = {sig["kind"] for s in serial.values() for sig in json.loads(s)}
        assert {"likeness.unknown_face", "provenance.state", "nudity.score"} <= kinds

        order = list(CLIPS) * 2
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda name: gate.scan(clips[name], user, "a clip"), order))
        for name, result in zip(order, results, strict=True):
            assert not result.source_errors, (name, result.source_errors)
            assert _signals(result) == serial[name], name

        recorded = store.query("SELECT count(*) FROM decisions")[0][0]
        assert recorded >= len(CLIPS) + len(order)
        assert store.verify_audit().ok
