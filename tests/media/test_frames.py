"""iter_frames pinned on the fixture videos: sample times with non-reference skipping, decoder scaling, damage."""

from __future__ import annotations

import concurrent.futures
import functools
import shutil
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from detectors.base import MediaError
from pipeline.media import NONREF_MIN_INTERVALS, iter_frames, probe_video, scaled_size

VIDEOS = [
    "liveportrait_d3_woman_talking.mp4",
    "liveportrait_d13_man_selfie_talking.mp4",
    "liveportrait_s18_woman.mp4",
    "bbb_bunny_720p_seg49-51.mp4",
    "sintel_trailer_clip_720p.mp4",
    "musetalk_yongen_anime.mp4",
]


@functools.cache
def _all_frames(path: Path) -> tuple[list[float], bool]:
    """Every frame's time from a plain decode (no skipping), and whether the stream has B-frames."""
    times: list[float] = []
    has_b = False
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            times.append(float(frame.time))
            has_b = has_b or frame.pict_type == av.video.frame.PictureType.B
    return times, has_b


def _reference_times(all_times: list[float], every_s: float, max_frames: int = 600) -> list[float]:
    """For each grid point, the first frame at or after it: what iter_frames should approximate."""
    out: list[float] = []
    next_t = 0.0
    for t in all_times:
        if t + 1e-6 < next_t:
            continue
        out.append(t)
        if len(out) >= max_frames:
            break
        next_t = (int((t + 1e-6) / every_s) + 1) * every_s
    return out


@pytest.fixture(scope="module")
def videos(fixtures_dir: Path) -> Path:
    folder = fixtures_dir / "videos"
    if not folder.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: no fixture videos at {folder}")
    return folder


@pytest.mark.parametrize("name", VIDEOS)
@pytest.mark.parametrize("every_s", [0.5, 1.0])
def test_sampled_times_stay_within_one_frame_of_a_full_decode(
    videos: Path, name: str, every_s: float
) -> None:
    path = videos / name
    info = probe_video(path)
    interval = 1.0 / info.fps
    assert every_s >= NONREF_MIN_INTERVALS * interval  # the skipping path is the one under test
    all_times, has_b = _all_frames(path)
    want = _reference_times(all_times, every_s)
    got = [f.t for f in iter_frames(path, every_s=every_s)]
    assert len(got) == len(want)
    worst = max(abs(a - b) for a, b in zip(got, want, strict=True))
    assert worst <= interval + 1e-6
    # Sampled times are on the every_s grid: no drift from late frames.
    for k, t in enumerate(got):
        assert t >= want[0] + k * every_s - 1e-6
    if not has_b:
        # Every frame is a reference: skipping must lose none of them.
        assert got == want


@pytest.mark.parametrize(
    "name", ["liveportrait_d3_woman_talking.mp4", "bbb_bunny_720p_seg49-51.mp4"]
)
def test_dense_sampling_decodes_every_frame(videos: Path, name: str) -> None:
    path = videos / name
    interval = 1.0 / probe_video(path).fps
    all_times, _ = _all_frames(path)
    got = [f.t for f in iter_frames(path, every_s=interval / 2)]
    assert got == all_times


@pytest.mark.parametrize("name", VIDEOS)
def test_decoder_scaling_gives_the_requested_size(videos: Path, name: str) -> None:
    path = videos / name
    info = probe_video(path)
    want_w, want_h = scaled_size(info.width, info.height, 640)
    assert max(want_w, want_h) == min(640, max(info.width, info.height))
    frames = list(iter_frames(path, every_s=2.0, max_side=640, max_frames=3))
    assert frames
    for frame in frames:
        assert frame.rgb.shape == (want_h, want_w, 3)
        assert frame.rgb.dtype == np.uint8


def test_decoder_scaling_matches_a_full_decode_resized(videos: Path) -> None:
    path = videos / "sintel_trailer_clip_720p.mp4"
    full = list(iter_frames(path, every_s=4.0, max_frames=3))
    small = list(iter_frames(path, every_s=4.0, max_frames=3, max_side=640))
    assert [f.t for f in full] == [f.t for f in small]
    for big, little in zip(full, small, strict=True):
        h, w = little.rgb.shape[:2]
        resized = np.asarray(
            Image.fromarray(big.rgb).resize((w, h), Image.Resampling.BILINEAR), dtype=np.int16
        )
        # Same picture, different filters: a few grey levels apart on average.
        assert float(np.abs(resized - little.rgb.astype(np.int16)).mean()) < 3.0


def test_no_upscaling_and_unchanged_full_size(videos: Path) -> None:
    path = videos / "liveportrait_d3_woman_talking.mp4"  # 512x512
    (frame,) = list(iter_frames(path, every_s=1.0, max_frames=1, max_side=1280))
    assert frame.rgb.shape == (512, 512, 3)
    assert scaled_size(512, 512, None) == (512, 512)
    assert scaled_size(1280, 720, 640) == (640, 360)
    assert scaled_size(720, 1280, 640) == (360, 640)


def _refusal(path: Path) -> str:
    """The MediaError message for a damaged video; frames from one are never a success."""
    with pytest.raises(MediaError) as refused:
        list(iter_frames(path, every_s=0.5))
    message = str(refused.value)
    assert message and "Traceback" not in message
    return message


@pytest.mark.parametrize("keep", [0.0005, 0.2, 0.3, 0.7, 0.95])
@pytest.mark.parametrize("name", ["sintel_trailer_clip_720p.mp4", "liveportrait_s18_woman.mp4"])
def test_truncated_video_is_refused_with_a_reason(
    videos: Path, tmp_path: Path, name: str, keep: float
) -> None:
    data = (videos / name).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: max(16, int(len(data) * keep))])
    message = _refusal(cut)
    if name == "liveportrait_s18_woman.mp4" and keep > 0.01:
        # Its index is at the front (faststart): the frames before the cut decode,
        # and the file is refused for what is missing, not scanned on what is there.
        assert "truncated" in message, message


@pytest.mark.parametrize(
    "name", ["sintel_trailer_clip_720p.mp4", "liveportrait_d13_man_selfie_talking.mp4"]
)
def test_corrupt_middle_is_refused(videos: Path, tmp_path: Path, name: str) -> None:
    src = videos / name
    bad = tmp_path / "bad.mp4"
    shutil.copyfile(src, bad)
    data = bytearray(bad.read_bytes())
    rng = np.random.default_rng(7)
    start = len(data) // 2
    data[start : start + 200_000] = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    bad.write_bytes(bytes(data))
    assert "corrupt" in _refusal(bad)


def test_flipped_bits_the_decoder_conceals_are_refused(videos: Path, tmp_path: Path) -> None:
    # Scattered bit flips decode "successfully" with concealed (damaged) frames.
    data = bytearray((videos / "sintel_trailer_clip_720p.mp4").read_bytes())
    for offset in range(len(data) // 3, len(data) // 3 + 50_000, 997):
        data[offset] ^= 0xFF
    bad = tmp_path / "flipped.mp4"
    bad.write_bytes(bytes(data))
    assert "corrupt" in _refusal(bad)


def test_garbage_with_a_video_header_is_a_media_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    with pytest.raises(MediaError):
        list(iter_frames(fake, every_s=0.5))


def _signature(path: Path, every_s: float, threads: int) -> list[tuple[float, str]]:
    import hashlib

    return [
        (round(f.t, 4), hashlib.sha256(f.rgb.tobytes()).hexdigest())
        for f in iter_frames(path, every_s=every_s, threads=threads, max_side=720)
    ]


def _busy(stop: threading.Event) -> None:
    # numpy releases the GIL in matmul: this keeps the cores busy beside the decoders.
    a = np.random.default_rng(0).random((300, 300))
    while not stop.is_set():
        a = a @ a
        a /= np.abs(a).max() or 1.0


@pytest.mark.slow
@pytest.mark.parametrize("every_s", [0.5, 2.0])
def test_the_same_file_gives_the_same_keyframes_under_contention(
    videos: Path, every_s: float
) -> None:
    """Decoded alone with one thread, or six at once with 0-8 decoder threads beside busy cores:
    the same frames at the same times (the frames a detector sees must not depend on load)."""
    stop = threading.Event()
    burners = [threading.Thread(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
    for b in burners:
        b.start()
    try:
        for name in ("sintel_trailer_clip_720p.mp4", "liveportrait_d3_woman_talking.mp4"):
            path = videos / name
            alone = _signature(path, every_s, threads=1)
            assert alone
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                thread_counts = (0, 2, 4, 8, 0, 3)
                runs = list(pool.map(_signature, [path] * 6, [every_s] * 6, thread_counts))
            for threads, run in zip(thread_counts, runs, strict=True):
                assert run == alone, (name, every_s, threads)
    finally:
        stop.set()
        for b in burners:
            b.join()
