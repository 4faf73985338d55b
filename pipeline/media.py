"""Media intake: sniff, validate and decode images and videos before any detector sees them.

Everything a user uploads passes through here first. Formats are sniffed from
content (a WebP named ``.jpg`` is a WebP), sizes and durations are checked from
headers before pixels are decoded (decompression bombs never get decoded), and
every image comes out as an 8-bit RGB ``numpy`` array whatever it went in as
(grayscale, RGBA, palette, CMYK, 16-bit PNG, EXIF-rotated). Failures raise
:class:`detectors.base.MediaError` with a message safe to show the uploader.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from detectors.base import MediaError

# PIL's own bomb check warns at half our limit and raises at the full one; we
# check the header ourselves and want a MediaError, not PIL's exception types.
Image.MAX_IMAGE_PIXELS = None

_VIDEO_MAGIC = (
    (4, b"ftyp"),  # ISO BMFF: mp4, mov, m4v, 3gp
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI (checked further below; RIFF is also WebP)
)


@dataclass(frozen=True)
class MediaLimits:
    """The bounds checked before decoding; built from ``Settings.limits``."""

    max_bytes: int = 200 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_video_seconds: float = 120.0
    max_video_pixels_per_frame: int = 3840 * 2160


DEFAULT_LIMITS = MediaLimits()


def limits_from(limits: Any) -> MediaLimits:
    """The media bounds from the settings' ``Limits`` (uploads use the upload size limit)."""
    return MediaLimits(
        max_bytes=limits.max_upload_bytes,
        max_image_pixels=limits.max_image_pixels,
        max_video_seconds=limits.max_video_seconds,
        max_video_pixels_per_frame=limits.max_video_pixels_per_frame,
    )


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration_s: float
    fps: float
    codec: str
    has_audio: bool
    frame_count: int | None


@dataclass(frozen=True)
class Frame:
    """One decoded frame: presentation time in seconds and RGB pixels (H, W, 3) uint8."""

    t: float
    rgb: np.ndarray


def _read_head(source: Path | bytes, n: int = 64) -> bytes:
    if isinstance(source, bytes):
        return source[:n]
    with open(source, "rb") as f:
        return f.read(n)


def _size_of(source: Path | bytes) -> int:
    return len(source) if isinstance(source, bytes) else source.stat().st_size


def sniff_kind(source: Path | bytes) -> str:
    """``"image"``, ``"video"`` or ``"unknown"`` from the first bytes, never the file name."""
    try:
        head = _read_head(source)
    except OSError as exc:
        raise MediaError(f"cannot read media: {exc.strerror or exc}") from None
    if len(head) < 12:
        return "unknown"
    if head[:4] == b"RIFF":
        if head[8:12] == b"WEBP":
            return "image"
        if head[8:12] == b"AVI ":
            return "video"
        return "unknown"
    for offset, magic in _VIDEO_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            brand = head[8:12]
            # HEIF/AVIF stills are ISO BMFF too.
            if magic == b"ftyp" and brand in (b"heic", b"heix", b"avif", b"mif1"):
                return "image"
            return "video"
    image_magic = (
        b"\xff\xd8\xff",
        b"\x89PNG",
        b"GIF8",
        b"BM",
        b"II*\x00",
        b"MM\x00*",
    )
    if any(head.startswith(m) for m in image_magic):
        return "image"
    return "unknown"


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """Normalise any PIL mode to 8-bit RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        # 16-bit PNGs use the full 0..65535 range; scale by the type's range
        # rather than the image's own so dark images stay dark.
        top = 65535.0 if hi > 255 else 255.0
        if img.mode == "F" and hi <= 1.0 and lo >= 0.0:
            top = 1.0
        arr8 = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.stack([arr8] * 3, axis=-1)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        # Transparent pixels become white: faces and characters drawn on a
        # transparent canvas keep their shape, and no hidden colour leaks in.
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = img.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8).copy()


def load_image(source: Path | bytes, limits: MediaLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode an image file or bytes into RGB uint8 (H, W, 3), validating it first."""
    try:
        size = _size_of(source)
    except OSError as exc:
        raise MediaError(f"cannot read image: {exc.strerror or exc}") from None
    if size == 0:
        raise MediaError("image is empty (0 bytes)")
    if size > limits.max_bytes:
        raise MediaError(f"image is {size} bytes; the limit is {limits.max_bytes}")
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width <= 0 or height <= 0:
                raise MediaError("image has no pixels")
            if width * height > limits.max_image_pixels:
                raise MediaError(
                    f"image is {width}x{height} ({width * height} pixels); "
                    f"the limit is {limits.max_image_pixels} pixels"
                )
            img.load()
            oriented: Image.Image = ImageOps.exif_transpose(img) or img
            return _to_rgb8(oriented)
    except MediaError:
        raise
    except UnidentifiedImageError:
        raise MediaError("not a recognised image format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(f"image is corrupt or truncated ({type(exc).__name__})") from None
    except Image.DecompressionBombError:
        raise MediaError("image exceeds the pixel limit") from None


def _open_container(path: Path):  # type: ignore[no-untyped-def]
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"video cannot be opened ({type(exc).__name__})") from None


def probe_video(path: Path, limits: MediaLimits = DEFAULT_LIMITS) -> VideoInfo:
    """Read a video's header and check it against the limits, decoding nothing."""
    size = _size_of(path)
    if size == 0:
        raise MediaError("video is empty (0 bytes)")
    if size > limits.max_bytes:
        raise MediaError(f"video is {size} bytes; the limit is {limits.max_bytes}")
    container = _open_container(path)
    try:
        if not container.streams.video:
            raise MediaError("file has no video stream")
        stream = container.streams.video[0]
        width = int(stream.codec_context.width or 0)
        height = int(stream.codec_context.height or 0)
        if width <= 0 or height <= 0:
            raise MediaError("video stream has no frame size")
        if width * height > limits.max_video_pixels_per_frame:
            raise MediaError(
                f"video is {width}x{height}; the limit is "
                f"{limits.max_video_pixels_per_frame} pixels per frame"
            )
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        if duration > limits.max_video_seconds:
            raise MediaError(
                f"video is {duration:.1f} s long; the limit is {limits.max_video_seconds:.0f} s"
            )
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        return VideoInfo(
            width=width,
            height=height,
            duration_s=duration,
            fps=float(rate),
            codec=str(stream.codec_context.name),
            has_audio=bool(container.streams.audio),
            frame_count=int(stream.frames) if stream.frames else None,
        )
    finally:
        container.close()


# Skip decoding non-reference frames only when samples are at least this many
# frame intervals apart: a skipped frame can then never be the one we wanted by
# more than one frame interval, and the decoder does ~30% less work on B-frame
# streams (streams without B-frames lose nothing: every frame is a reference).
NONREF_MIN_INTERVALS = 4
# A decoded-frame gap above this many intervals means the stream marks more than
# B-frames as non-reference; decoding falls back to every frame from there on.
_NONREF_MAX_GAP_INTERVALS = 2.0


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) with the longer side at most ``max_side`` (aspect kept, never upscaled)."""
    if max_side is None or max_side <= 0 or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def iter_frames(
    path: Path,
    every_s: float = 0.5,
    max_frames: int = 600,
    limits: MediaLimits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> Iterator[Frame]:
    """Decode frames at about one per ``every_s`` seconds, validating the video first.

    Samples are taken on the grid ``0, every_s, 2*every_s, ...``: each is the
    first decoded frame at or after its grid time. ``max_side`` downscales
    frames whose longer side exceeds it inside the decoder's colour conversion
    (detection on a 720p frame costs far less than on a 4K one and finds the
    same faces). When ``every_s`` spans several frame intervals, non-reference
    frames are not decoded at all (:data:`NONREF_MIN_INTERVALS`).
    """
    import av

    info = probe_video(path, limits)
    out_w, out_h = scaled_size(info.width, info.height, max_side)
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        interval = 1.0 / info.fps if info.fps > 0 else 0.0
        skipping = interval > 0 and every_s >= NONREF_MIN_INTERVALS * interval
        if skipping:
            stream.codec_context.skip_frame = "NONREF"
        next_t = 0.0
        last_t: float | None = None
        emitted = 0
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else next_t
                if (
                    skipping
                    and last_t is not None
                    and t - last_t > _NONREF_MAX_GAP_INTERVALS * interval + 1e-6
                ):
                    stream.codec_context.skip_frame = "DEFAULT"
                    skipping = False
                last_t = t
                if t + 1e-6 < next_t:
                    continue
                if (frame.width, frame.height) == (info.width, info.height):
                    w, h = out_w, out_h
                else:  # the size changed mid-stream; scale this frame on its own
                    w, h = scaled_size(frame.width, frame.height, max_side)
                if (w, h) == (frame.width, frame.height):
                    rgb = frame.to_ndarray(format="rgb24")
                else:
                    rgb = frame.to_ndarray(
                        width=w, height=h, format="rgb24", interpolation="BILINEAR"
                    )
                yield Frame(t=t, rgb=rgb)
                emitted += 1
                if emitted >= max_frames or t > limits.max_video_seconds:
                    return
                # The next grid point after t: a late frame does not shift later samples.
                next_t = (int((t + 1e-6) / every_s) + 1) * every_s if every_s > 0 else t
        except av.FFmpegError as exc:
            if emitted == 0:
                raise MediaError(f"video is corrupt or truncated ({type(exc).__name__})") from None
            # A truncated tail still yields the frames before it; the caller
            # sees fewer frames, not a crash.
            return
    finally:
        container.close()
