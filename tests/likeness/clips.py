"""Test clips cut and spliced from the fixture videos with PyAV (no ffmpeg binary needed).

Every clip is re-encoded as H.264 at a fixed size and frame rate so pieces of
different sources can follow each other in one file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image


def _frames(path: Path, start_s: float, end_s: float) -> Iterable[tuple[float, np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if t < start_s:
                continue
            if t >= end_s:
                break
            yield t, frame.to_ndarray(format="rgb24")


def _fit(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Letterbox into ``size`` (w, h) keeping the aspect ratio."""
    w, h = size
    scale = min(w / rgb.shape[1], h / rgb.shape[0])
    img = Image.fromarray(rgb).resize(
        (max(2, round(rgb.shape[1] * scale)), max(2, round(rgb.shape[0] * scale)))
    )
    canvas = np.zeros((h, w, 3), np.uint8)
    y, x = (h - img.height) // 2, (w - img.width) // 2
    canvas[y : y + img.height, x : x + img.width] = np.asarray(img)
    return canvas


def write_video(out: Path, frames: Iterable[np.ndarray], fps: int = 30) -> Path:
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        started = False
        for rgb in frames:
            if not started:
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
                started = True
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def splice(
    out: Path, pieces: Sequence[tuple[Path, float, float]], size: tuple[int, int] = (512, 512)
) -> Path:
    """Concatenate (video, start_s, end_s) pieces, each letterboxed to ``size``."""
    return write_video(
        out, (_fit(rgb, size) for src, a, b in pieces for _, rgb in _frames(src, a, b))
    )


def still(out: Path, rgb: np.ndarray, seconds: float = 4.0, fps: int = 30) -> Path:
    """A "video" that is one photo held still."""
    return write_video(out, (rgb for _ in range(int(seconds * fps))), fps)


def side_by_side(out: Path, a: Path, b: Path, seconds: float, size: int = 384) -> Path:
    """Two people at once: two fixture videos next to each other."""
    return write_video(
        out,
        (
            np.concatenate([_fit(x, (size, size)), _fit(y, (size, size))], axis=1)
            for (_, x), (_, y) in zip(_frames(a, 0, seconds), _frames(b, 0, seconds), strict=False)
        ),
    )


def frame_at(path: Path, t: float) -> np.ndarray:
    for _, rgb in _frames(path, t, t + 10):
        return rgb
    raise ValueError(f"no frame at {t} s in {path.name}")


def stage(
    out: Path,
    person: Path,
    backdrop: Path,
    small_s: float = 3.0,
    close_s: float = 3.0,
    person_height: int = 90,
    size: tuple[int, int] = (1280, 720),
) -> Path:
    """A person who stands small in a wide frame, then is seen close (the issue 15 stage clip).

    For ``small_s`` seconds ``person``'s frames, shrunk to ``person_height``
    pixels tall, stand in the lower right of ``backdrop``'s frames (a scene
    without faces), then ``close_s`` seconds of ``person`` letterboxed to
    ``size``. Both parts move (each is the source video's own frames).
    """
    w, h = size

    def small_frames() -> Iterable[np.ndarray]:
        pairs = zip(_frames(backdrop, 0, small_s), _frames(person, 0, small_s), strict=False)
        for (_, back), (_, rgb) in pairs:
            canvas = _fit(back, size)
            scale = person_height / rgb.shape[0]
            pw = max(2, round(rgb.shape[1] * scale))
            small = np.asarray(
                Image.fromarray(rgb).resize((pw, person_height), Image.Resampling.LANCZOS)
            )
            y, x = h - person_height - h // 12, w - pw - w // 5
            canvas[y : y + person_height, x : x + pw] = small
            yield canvas

    def close_frames() -> Iterable[np.ndarray]:
        for _, rgb in _frames(person, small_s, small_s + close_s):
            yield _fit(rgb, size)

    return write_video(out, itertools.chain(small_frames(), close_frames()))
