"""Every file of the hostile-media corpus, posted to a live server's POST /scan.

Each one is refused with a 4xx and a reason a person can read (no stack trace,
nothing of the file echoed), within a generous bound; nothing is published or
stored; and afterwards the server still answers, scans a good file, and has no
decoder child left running.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenroom.settings import Settings
from tests.conftest import FIXTURES, TEST_MODELS, LiveServer, start_live_server
from tests.media.corpus import CANARY, Hostile

pytestmark = pytest.mark.slow

# Per file, words of which the refusal must contain one: the reason, not just "no".
TRUNCATED = ("truncated",)
POLYGLOT = ("polyglot",)
LIMIT = ("limit",)
UNSUPPORTED = ("not a supported",)
EXPECTED: dict[str, tuple[str, ...]] = {
    "truncated_faststart_20pct.mp4": TRUNCATED,
    "truncated_faststart_60pct.mp4": TRUNCATED,
    "truncated_faststart_97pct.mp4": TRUNCATED,
    "truncated_moov_at_end.mp4": TRUNCATED,
    "truncated_in_ftyp.mp4": TRUNCATED,
    "truncated_reboxed.mp4": TRUNCATED,
    "truncated_matroska_40pct.mkv": TRUNCATED,
    "truncated_jpeg_half.jpg": TRUNCATED,
    "truncated_png_half.png": TRUNCATED,
    "moov_renamed_free.mp4": ("moov",),
    "corrupt_middle_random.mp4": ("corrupt",),
    "flipped_bits.mp4": ("corrupt",),
    "mdat_size_past_end.mp4": TRUNCATED,
    "png_idat_crc_mismatch.png": ("corrupt",),
    "zero_length.mp4": ("empty",),
    "zero_length.jpg": ("empty",),
    "text_named_mp4.mp4": UNSUPPORTED,
    "ftyp_then_garbage.mp4": ("not part of it",),
    "png_wrong_magic.png": UNSUPPORTED,
    "html_named_jpg.jpg": UNSUPPORTED,
    "svg_script_named_png.png": UNSUPPORTED,
    "zip_named_mp4.mp4": UNSUPPORTED,
    "riff_avi_garbage.avi": TRUNCATED,
    "heic_brand_garbage.heic": ("not part of it",),
    "jpeg_zip_polyglot.jpg": POLYGLOT,
    "png_zip_polyglot.png": POLYGLOT,
    "gif_html_polyglot.gif": POLYGLOT,
    "mp4_html_appended.mp4": POLYGLOT,
    "png_bomb_20000x20000.png": LIMIT,
    "png_ihdr_2g_by_2g.png": LIMIT,
    "png_ihdr_zero_width.png": ("image",),
    "gif_screen_65535x65535.gif": LIMIT,
    "jpeg_sof_65500x65500.jpg": LIMIT,
    "tiff_60000x60000.tif": LIMIT,
    "video_4000x4000.mkv": LIMIT,
    "video_17000x16.mkv": LIMIT,
    "frame_flood_16000.mkv": ("frames",),
    "declared_16000_frames.mp4": ("frames",),
    "pts_microsecond_steps.mp4": ("frames per second",),
    "pts_millisecond_steps.mkv": ("frames per second",),
    "pts_jump_forward.mp4": LIMIT,
    "size_change_midstream.mkv": ("changes frame size",),
    "size_change_past_limit.mkv": LIMIT,
    "audio_only.mp4": ("no video stream",),
    "c2pa_uuid_box_size_huge.mp4": TRUNCATED,
    "c2pa_uuid_box_size_4.mp4": ("impossible size",),
    "c2pa_app11_truncated.jpg": TRUNCATED,
    "c2pa_app11_length_0xffff.jpg": ("corrupt",),
}
# Per file, seconds: generous (a loaded two-core machine), but a hang or a
# decode of every frame of a flood would blow through it.
BOUND_S = 120.0


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose scan rate limit is off: 50 uploads in a row are the point here."""
    settings = Settings(
        data_dir=tmp_path / "data",
        models_dir=TEST_MODELS,
        fixtures_dir=FIXTURES,
        rate_limits={"scan": 0},
    )
    yield from start_live_server(tmp_path / "data", settings)


def _counts(live: LiveServer) -> dict[str, int]:
    store = live.services.store
    return {
        table: int(store.query(f"SELECT count(*) FROM {table}")[0][0])
        for table in ("clips", "scans", "blobs", "jobs")
    }


def _check_refusal(item: Hostile, status: int, text: str, body: object) -> str:
    assert 400 <= status < 500, (item.name, status, text[:300])
    assert isinstance(body, dict), (item.name, text[:300])
    message = body.get("error") or body.get("detail")
    assert isinstance(message, str) and message.strip(), (item.name, text[:300])
    assert len(message) < 400, (item.name, message)
    assert "Traceback" not in text and 'File "' not in text, (item.name, text[:300])
    assert CANARY not in text, f"{item.name}: the answer echoes the file's content"
    assert str(item.path.parent) not in text, f"{item.name}: the answer names a server path"
    wanted = EXPECTED[item.name]
    assert any(w in message for w in wanted), (item.name, message, wanted)
    return message


def test_every_hostile_file_is_refused_clearly_and_the_server_lives(
    server: LiveServer, hostile_corpus: list[Hostile], fixtures_dir: Path
) -> None:
    live_server = server
    assert len(hostile_corpus) >= 30
    assert {h.name for h in hostile_corpus} == set(EXPECTED)
    before = _counts(live_server)
    report: list[tuple[float, str, str]] = []
    started = time.monotonic()
    with live_server.client("adult") as client:
        client.timeout = BOUND_S + 30
        for item in hostile_corpus:
            t0 = time.monotonic()
            response = client.post(
                "/scan",
                files={"file": (item.name, item.path.read_bytes(), "application/octet-stream")},
                data={"prompt": "just my holiday clip"},
            )
            elapsed = time.monotonic() - t0
            body = (
                response.json()
                if response.headers.get("content-type", "").startswith("application/json")
                else None
            )
            message = _check_refusal(item, response.status_code, response.text, body)
            assert elapsed < BOUND_S, (item.name, elapsed)
            report.append((elapsed, item.name, message))
        # The asynchronous door refuses at once too: no draft clip, no job.
        truncated = next(h for h in hostile_corpus if h.name == "truncated_faststart_20pct.mp4")
        later = client.post(
            "/scan",
            params={"wait": "false"},
            files={"file": (truncated.name, truncated.path.read_bytes(), "video/mp4")},
        )
        _check_refusal(truncated, later.status_code, later.text, later.json())
    total = time.monotonic() - started
    print(f"\n{len(hostile_corpus)} hostile files refused in {total:.1f} s")
    for elapsed, name, message in sorted(report, reverse=True):
        print(f"{elapsed:7.2f} s  {name:34}  {message}")

    # Nothing was kept: no clip (so none published), scan, stored bytes or job.
    assert _counts(live_server) == before
    published = live_server.services.store.query(
        "SELECT count(*) FROM clips WHERE status = 'published'"
    )[0][0]
    assert published == 0
    assert list((live_server.settings.data_dir / "blobs" / "tmp").glob("*")) == []

    # The server is alive and still does its job; no decoder child was left behind.
    with live_server.client() as anonymous:
        assert anonymous.get("/healthz").status_code == 200
    good = fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4"
    with live_server.client("adult") as client:
        client.timeout = 600
        ok = client.post("/scan", files={"file": (good.name, good.read_bytes(), "video/mp4")})
    assert ok.status_code == 200, ok.text
    assert multiprocessing.active_children() == []
