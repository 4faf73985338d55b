"""decode_video: the decoder in a limited child process.

Same frames as an in-process decode for good files; every limit (decoded
frames, CPU seconds, wall clock, address space) and every way a child can fail
(a crash, silence, a lying or malformed reply) ends as a MediaError with a
reason, the child gone, and this process decoding normally afterwards.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.base import MediaError
from pipeline.media import (
    DEFAULT_LIMITS,
    MediaLimits,
    check_structure,
    decode_video,
    iter_frames,
    run_isolated,
)
from tests.media.corpus import _retime


@pytest.fixture(scope="module")
def videos(fixtures_dir: Path) -> Path:
    folder = fixtures_dir / "videos"
    if not folder.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: no fixture videos at {folder}")
    return folder


def _limits(**changes: Any) -> MediaLimits:
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


def _no_children_left() -> None:
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize(
    ("name", "every_s", "max_side"),
    [
        ("liveportrait_d3_woman_talking.mp4", 0.5, None),  # full size
        ("sintel_trailer_clip_720p.mp4", 0.5, 640),  # B-frames skipped, decoder scaling
        ("bbb_bunny_720p_seg49-51.mp4", 1.0, 1280),
    ],
)
def test_isolated_frames_are_the_in_process_frames(
    videos: Path, name: str, every_s: float, max_side: int | None
) -> None:
    path = videos / name
    here = list(iter_frames(path, every_s=every_s, max_side=max_side))
    there = decode_video(path, every_s=every_s, max_side=max_side)
    assert [f.t for f in there.frames] == [f.t for f in here]
    for a, b in zip(here, there.frames, strict=True):
        assert a.rgb.dtype == b.rgb.dtype == np.uint8
        assert np.array_equal(a.rgb, b.rgb)
    assert there.info.width > 0 and there.info.frame_count
    _no_children_left()


def test_max_frames_stops_early_like_iter_frames(videos: Path) -> None:
    path = videos / "sintel_trailer_clip_720p.mp4"
    got = decode_video(path, every_s=0.5, max_frames=3).frames
    assert [f.t for f in got] == [f.t for f in iter_frames(path, every_s=0.5, max_frames=3)]
    assert len(got) == 3


def test_decoded_frames_count_before_sampling(videos: Path, tmp_path: Path) -> None:
    # Matroska declares no frame count, so only the decode loop can count.
    mkv = tmp_path / "d3.mkv"
    _retime(videos / "liveportrait_d3_woman_talking.mp4", mkv, "matroska", Fraction(1, 30), int)
    # One sample every 10 s is 2 frames, but every one of the 354 frames is decoded to find them.
    assert len(list(iter_frames(mkv, every_s=10.0))) == 2
    with pytest.raises(MediaError, match="decodes to more than 100 frames"):
        list(iter_frames(mkv, every_s=10.0, limits=_limits(max_decoded_frames=100)))
    with pytest.raises(MediaError, match="decodes to more than 100 frames"):
        decode_video(mkv, every_s=10.0, limits=_limits(max_decoded_frames=100))
    # An MP4 declares its count: refused from the header, before decoding.
    with pytest.raises(MediaError, match="354 frames; the limit is 100"):
        decode_video(
            videos / "liveportrait_d3_woman_talking.mp4",
            every_s=10.0,
            limits=_limits(max_decoded_frames=100),
        )
    _no_children_left()


def test_timestamps_denser_than_the_frame_rate_limit_are_refused(
    videos: Path, tmp_path: Path
) -> None:
    mkv = tmp_path / "dense.mkv"
    # 30 fps content re-stamped at 10 ms steps: 100 frames per second of timestamps.
    _retime(videos / "liveportrait_d3_woman_talking.mp4", mkv, "matroska", Fraction(1, 100), int)
    # Samples 0.1 s apart: no frame skipped, all 354 decoded within 3.5 s of timestamps.
    assert decode_video(mkv, every_s=0.1).frames  # under the default 240 fps
    with pytest.raises(MediaError, match="more than 50 frames per second"):
        decode_video(mkv, every_s=0.1, limits=_limits(max_video_fps=50.0))
    _no_children_left()


def test_cpu_budget_is_a_clear_refusal(videos: Path) -> None:
    path = videos / "sintel_trailer_clip_720p.mp4"
    with pytest.raises(MediaError, match="CPU time"):
        decode_video(path, every_s=0.5, limits=_limits(max_decode_cpu_s=0.02))
    _no_children_left()


def test_wall_clock_limit_kills_the_child(videos: Path) -> None:
    path = videos / "sintel_trailer_clip_720p.mp4"
    with pytest.raises(MediaError, match="took longer than"):
        decode_video(path, every_s=0.5, limits=_limits(max_decode_wall_s=0.01))
    _no_children_left()


def test_memory_limit_is_a_clear_refusal(videos: Path) -> None:
    path = videos / "sintel_trailer_clip_720p.mp4"
    # Below what the decoder needs for 720p H.264: the child fails (an error it reports,
    # or a crash in native code that did not check an allocation), the parent explains.
    with pytest.raises(MediaError, match="64 MiB memory limit"):
        decode_video(path, every_s=0.5, limits=_limits(max_decode_memory_bytes=64 << 20))
    _no_children_left()
    # The default limit leaves room for the same file.
    assert decode_video(path, every_s=2.0).frames


# -- children that misbehave (targets run in the forkserver child) ----------------------------


def _abort(conn: Any) -> None:
    os.abort()


def _killed_by_signal(conn: Any) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _silent(conn: Any) -> None:
    time.sleep(60)


def _lying_frame(conn: Any) -> None:
    import json
    import struct

    info = {
        "width": 64,
        "height": 64,
        "duration_s": 1.0,
        "fps": 25.0,
        "codec": "x",
        "has_audio": False,
        "frame_count": 1,
    }
    conn.send_bytes(b"I" + json.dumps(info).encode())
    # Claims a 100000 x 100000 frame: the parent must not allocate 30 GB for it.
    conn.send_bytes(b"F" + struct.pack("<dII", 0.0, 100_000, 100_000))
    time.sleep(60)


def _short_frame(conn: Any) -> None:
    import json
    import struct

    info = {
        "width": 4,
        "height": 4,
        "duration_s": 1.0,
        "fps": 25.0,
        "codec": "x",
        "has_audio": False,
        "frame_count": 1,
    }
    conn.send_bytes(b"I" + json.dumps(info).encode())
    conn.send_bytes(b"F" + struct.pack("<dII", 0.0, 4, 4))
    conn.send_bytes(b"\x00" * 47)  # one byte short of 4x4x3
    conn.send_bytes(b"D")


def _three_frames(conn: Any) -> None:
    import json
    import struct

    info = {
        "width": 2,
        "height": 2,
        "duration_s": 1.0,
        "fps": 25.0,
        "codec": "x",
        "has_audio": False,
        "frame_count": 3,
    }
    conn.send_bytes(b"I" + json.dumps(info).encode())
    for k in range(3):
        conn.send_bytes(b"F" + struct.pack("<dII", k * 0.5, 2, 2))
        conn.send_bytes(bytes(12))
    conn.send_bytes(b"D")


def _pickle(conn: Any) -> None:
    conn.send(("a pickle", "the parent never unpickles"))


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (_abort, "crashed on this file (SIGABRT"),
        (_killed_by_signal, "crashed on this file (SIGSEGV"),
        (_silent, "took longer than 2 s"),
        (_lying_frame, "malformed frame"),
        (_short_frame, "malformed frame"),
        (_pickle, "malformed message"),
    ],
)
def test_a_misbehaving_child_is_a_media_error_and_nothing_more(target: Any, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(MediaError) as refused:
        run_isolated(target, (), _limits(max_decode_wall_s=2.0))
    assert reason in str(refused.value)
    assert time.monotonic() - started < 60  # killed, not waited for
    _no_children_left()


def test_a_child_sending_more_frames_than_asked_is_refused() -> None:
    assert len(run_isolated(_three_frames, (), DEFAULT_LIMITS, max_frames=3).frames) == 3
    with pytest.raises(MediaError, match="malformed message"):
        run_isolated(_three_frames, (), DEFAULT_LIMITS, max_frames=2)
    _no_children_left()


def test_this_process_decodes_normally_after_children_failed(videos: Path) -> None:
    with pytest.raises(MediaError):
        run_isolated(_abort, (), DEFAULT_LIMITS)
    path = videos / "bbb_bunny_720p_seg49-51.mp4"
    frames = decode_video(path, every_s=1.0).frames
    assert [f.t for f in frames] == [f.t for f in iter_frames(path, every_s=1.0)]
    assert len(frames) == 6


def test_empty_and_oversized_files_never_start_a_child(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        decode_video(empty)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00" * 2048)
    with pytest.raises(MediaError, match="the limit is 1024"):
        decode_video(big, limits=_limits(max_bytes=1024))
    _no_children_left()


# -- container structure ---------------------------------------------------------------------


def test_fixture_media_pass_the_structure_check(fixtures_dir: Path) -> None:
    from pipeline.media import sniff_kind

    checked = 0
    for path in sorted(fixtures_dir.rglob("*")):
        if not path.is_file() or path.suffix.lower() in (".tsv", ".md", ".txt", ".json", ".pem"):
            continue
        kind = sniff_kind(path)
        if kind == "unknown":
            continue
        check_structure(path, kind)  # no MediaError: real files are not polyglots
        checked += 1
    assert checked >= 20


def test_trailing_zero_padding_is_not_a_polyglot(fixtures_dir: Path, tmp_path: Path) -> None:
    face = (fixtures_dir / "faces" / "face_recognition" / "obama.jpg").read_bytes()
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(face + b"\x00" * 4096)
    check_structure(padded, "image")
    newline = tmp_path / "newline.jpg"
    newline.write_bytes(face + b"\r\n")
    check_structure(newline, "image")
    glued = tmp_path / "glued.jpg"
    glued.write_bytes(face + b"PK\x03\x04" + b"x" * 64)
    with pytest.raises(MediaError, match="polyglot"):
        check_structure(glued, "image")
