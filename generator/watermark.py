"""Burn a visible, moving watermark into generated video frames (before signing).

Like the Sora app's, the mark is visible to people and moves over time, so it
cannot be hidden behind one static crop or blur: it hops between positions on
a fixed schedule and glides between them. It is applied before C2PA signing
so the signature covers the marked pixels. ``watermark_box`` says where the
mark is at a given time, so tests and reviewers can check it is there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEFAULT_TEXT = "AI-generated · Greenroom"
# Seconds spent at each anchor, and how much of that is the glide to the next.
HOP_S = 2.0
GLIDE_S = 0.5
# Anchors as fractions of the free space (x, y): around the frame, so any
# fixed crop of a corner or an edge loses the mark for only part of the clip.
_ANCHORS = ((0.04, 0.06), (0.96, 0.30), (0.10, 0.94), (0.90, 0.88), (0.50, 0.10))


class WatermarkError(ValueError):
    """The input cannot be watermarked; the message is safe to show."""


@dataclass(frozen=True)
class WatermarkStyle:
    text: str = DEFAULT_TEXT
    # Mark height as a fraction of the frame's shorter side.
    scale: float = 0.06
    opacity: float = 0.75


@lru_cache(maxsize=16)
def _render(text: str, height_px: int, opacity: float) -> tuple[np.ndarray, np.ndarray]:
    """The mark as premultiplied RGB (h, w, 3) float32 and alpha (h, w, 1), rendered once per size."""
    font_px = max(8, int(height_px * 0.62))
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=font_px)
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    pad = max(2, height_px // 5)
    w = int(right - left) + 2 * pad + height_px
    h = max(height_px, int(bottom - top) + 2 * pad)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=h // 3, fill=(0, 0, 0, 150))
    # A small "sparkle" glyph left of the text: recognisable at any size.
    cx, cy, r = pad + height_px // 2, h // 2, max(2, height_px // 3)
    draw.polygon(
        [(cx, cy - r), (cx + r // 3, cy - r // 3), (cx + r, cy), (cx + r // 3, cy + r // 3),
         (cx, cy + r), (cx - r // 3, cy + r // 3), (cx - r, cy), (cx - r // 3, cy - r // 3)],
        fill=(255, 255, 255, 255),
    )  # fmt: skip
    draw.text(
        (pad + height_px - left, (h - (bottom - top)) // 2 - top),
        text,
        font=font,
        fill=(255, 255, 255, 255),
    )
    rgba = np.asarray(img, dtype=np.float32) / 255.0
    alpha = rgba[..., 3:4] * opacity
    return rgba[..., :3] * alpha, alpha


def _mark_height(width: int, height: int, style: WatermarkStyle) -> int:
    return max(10, round(min(width, height) * style.scale))


def watermark_box(
    t: float, width: int, height: int, style: WatermarkStyle = WatermarkStyle()
) -> tuple[int, int, int, int]:
    """Where the mark is at time ``t`` in a ``width`` x ``height`` frame: (x0, y0, x1, y1)."""
    rgb, _ = _render(style.text, _mark_height(width, height, style), style.opacity)
    mh, mw = rgb.shape[:2]
    mw, mh = min(mw, width), min(mh, height)
    step = max(0.0, t) / HOP_S
    i, frac = math.floor(step), step - math.floor(step)
    a = _ANCHORS[i % len(_ANCHORS)]
    b = _ANCHORS[(i + 1) % len(_ANCHORS)]
    glide_start = 1.0 - GLIDE_S / HOP_S
    u = 0.0 if frac < glide_start else (frac - glide_start) / (1.0 - glide_start)
    u = u * u * (3 - 2 * u)  # smoothstep: no jerk at either end
    fx, fy = a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u
    x0 = round(fx * (width - mw))
    y0 = round(fy * (height - mh))
    return x0, y0, x0 + mw, y0 + mh


def watermark_frame(
    rgb: np.ndarray, t: float, style: WatermarkStyle = WatermarkStyle()
) -> np.ndarray:
    """A copy of one RGB uint8 frame with the mark burned in at its position for time ``t``."""
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.ndim != 3
        or rgb.shape[2] != 3
        or rgb.dtype != np.uint8
    ):
        raise WatermarkError("watermarking needs an RGB uint8 frame of shape (H, W, 3)")
    height, width = rgb.shape[:2]
    if width < 16 or height < 16:
        raise WatermarkError(f"frame {width}x{height} is too small to carry a visible watermark")
    mark, alpha = _render(style.text, _mark_height(width, height, style), style.opacity)
    x0, y0, x1, y1 = watermark_box(t, width, height, style)
    out = rgb.copy()
    region = out[y0:y1, x0:x1].astype(np.float32) / 255.0
    h, w = region.shape[:2]
    blended = mark[:h, :w] + region * (1.0 - alpha[:h, :w])
    out[y0:y1, x0:x1] = np.clip(blended * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def watermark_frames(
    frames: Iterable[tuple[float, np.ndarray]], style: WatermarkStyle = WatermarkStyle()
) -> Iterator[tuple[float, np.ndarray]]:
    """Mark a stream of ``(t, rgb)`` frames (e.g. straight from the generator)."""
    for t, rgb in frames:
        yield t, watermark_frame(rgb, t, style)


def encode_mp4(
    frames: Iterable[np.ndarray], out_path: Path, fps: float = 24.0, crf: int = 20, threads: int = 2
) -> Path:
    """Encode RGB uint8 frames to an H.264 mp4 (yuv420p, faststart)."""
    import av

    out_path = Path(out_path)
    container = av.open(str(out_path), "w", options={"movflags": "+faststart"})
    try:
        stream = None
        for rgb in frames:
            if stream is None:
                h, w = rgb.shape[:2]
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
                stream.codec_context.thread_count = threads
            frame = av.VideoFrame.from_ndarray(rgb[: stream.height, : stream.width], format="rgb24")
            container.mux(stream.encode(frame))
        if stream is None:
            raise WatermarkError("no frames to encode")
        container.mux(stream.encode(None))
    finally:
        container.close()
    return out_path


def watermark_video(
    in_path: Path,
    out_path: Path,
    style: WatermarkStyle = WatermarkStyle(),
    crf: int = 20,
    threads: int = 2,
    max_seconds: float = 600.0,
) -> Path:
    """Decode an mp4, burn the moving mark into every frame, re-encode H.264, keep the audio."""
    import av

    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise WatermarkError("output must be a different file from the input")
    try:
        src = av.open(str(in_path), metadata_errors="ignore")
    except (av.FFmpegError, OSError) as exc:
        raise WatermarkError(
            f"{in_path.name} cannot be opened as video ({type(exc).__name__})"
        ) from None
    try:
        if not src.streams.video:
            raise WatermarkError(f"{in_path.name} has no video stream")
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        ain = src.streams.audio[0] if src.streams.audio else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(24)
        dst = av.open(str(out_path), "w", options={"movflags": "+faststart"})
        try:
            vout = dst.add_stream("libx264", rate=rate)
            vout.width = int(vin.codec_context.width) & ~1
            vout.height = int(vin.codec_context.height) & ~1
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": str(crf), "preset": "veryfast"}
            vout.codec_context.thread_count = threads
            # Audio is copied as-is when mp4 can hold it, else re-encoded to AAC.
            aout = None
            copy_audio = ain is not None and ain.codec_context.name in (
                "aac",
                "mp3",
                "alac",
                "opus",
            )
            if ain is not None:
                aout = (
                    dst.add_stream_from_template(ain)
                    if copy_audio
                    else dst.add_stream("aac", rate=ain.rate or 48000)
                )
            streams = [vin] + ([ain] if ain is not None else [])
            n = 0
            for packet in src.demux(streams):
                if packet.stream is ain and aout is not None:
                    if copy_audio:
                        if packet.dts is None:
                            continue
                        packet.stream = aout
                        dst.mux(packet)
                    else:
                        for af in packet.decode():
                            if isinstance(af, av.AudioFrame):
                                dst.mux(aout.encode(af))
                    continue
                for frame in packet.decode():
                    if not isinstance(frame, av.VideoFrame):
                        continue
                    t = float(frame.time) if frame.time is not None else n / float(rate)
                    if t > max_seconds:
                        raise WatermarkError(f"video is longer than {max_seconds:.0f} s")
                    rgb = frame.to_ndarray(format="rgb24")[: vout.height, : vout.width]
                    marked = av.VideoFrame.from_ndarray(
                        watermark_frame(rgb, t, style), format="rgb24"
                    )
                    marked.pts, marked.time_base = frame.pts, frame.time_base
                    dst.mux(vout.encode(marked))
                    n += 1
            if n == 0:
                raise WatermarkError(f"{in_path.name} has no decodable video frames")
            dst.mux(vout.encode(None))
            if aout is not None and not copy_audio:
                dst.mux(aout.encode(None))
        finally:
            dst.close()
    except av.FFmpegError as exc:
        out_path.unlink(missing_ok=True)
        raise WatermarkError(
            f"{in_path.name} could not be decoded ({type(exc).__name__})"
        ) from None
    except WatermarkError:
        out_path.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    return out_path
