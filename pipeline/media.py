"""Media intake: sniff, validate and decode images and videos before any detector sees them.

Everything a user uploads passes through here first. Formats are sniffed from
content (a WebP named ``.jpg`` is a WebP), sizes and durations are checked from
headers before pixels are decoded (decompression bombs never get decoded), and
every image comes out as an 8-bit RGB ``numpy`` array whatever it went in as
(grayscale, RGBA, palette, CMYK, 16-bit PNG, EXIF-rotated). Failures raise
:class:`detectors.base.MediaError` with a message safe to show the uploader.

Videos are decoded strictly: a decode error, a damaged (concealed) frame, a
frame size that changes mid-stream, or a stream that ends before its declared
length or frame count is a refusal, never "the frames that decoded". Every
decoded frame (sampled or not) counts against a per-file budget of frames and
CPU seconds. :func:`decode_video` runs the decoder in a child process with
address-space, CPU and wall-clock limits, so a decoder crash or a bomb costs
the child, not the server; it is what the gate and provenance use.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from detectors.base import MediaError

# PIL's own bomb check warns at half our limit and raises at the full one; we
# check the header ourselves and want a MediaError, not PIL's exception types.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class MediaLimits:
    """The bounds checked before decoding; built from ``Settings.limits``."""

    max_bytes: int = 200 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_video_seconds: float = 120.0
    max_video_pixels_per_frame: int = 3840 * 2160
    # Frame rate, declared or as decoded (frames per second of presentation time):
    # timestamps a microsecond apart would otherwise decode millions of frames.
    max_video_fps: float = 240.0
    # The per-file decode budget: every frame the decoder outputs counts, sampled or not.
    max_decoded_frames: int = 15_000
    max_decode_cpu_s: float = 120.0
    # decode_video's child process: wall clock and address space (RLIMIT_AS).
    max_decode_wall_s: float = 300.0
    max_decode_memory_bytes: int = 3 * 1024 * 1024 * 1024
    # The gate's sampling: one frame per this many seconds (0: every frame), at most
    # max_keyframes of them (pipeline.intake).
    keyframe_every_s: float = 0.5
    max_keyframes: int = 240


DEFAULT_LIMITS = MediaLimits()


def limits_from(limits: Any) -> MediaLimits:
    """The media bounds from the settings' ``Limits`` (uploads use the upload size limit).

    The decode budget takes the settings' values where they have them and the
    defaults above otherwise.
    """
    default = DEFAULT_LIMITS
    return MediaLimits(
        max_bytes=limits.max_upload_bytes,
        max_image_pixels=limits.max_image_pixels,
        max_video_seconds=limits.max_video_seconds,
        max_video_pixels_per_frame=limits.max_video_pixels_per_frame,
        max_video_fps=getattr(limits, "max_video_fps", default.max_video_fps),
        max_decoded_frames=getattr(limits, "max_decoded_frames", default.max_decoded_frames),
        max_decode_cpu_s=getattr(limits, "max_decode_cpu_s", default.max_decode_cpu_s),
        max_decode_wall_s=getattr(limits, "max_decode_wall_s", default.max_decode_wall_s),
        max_decode_memory_bytes=getattr(
            limits, "max_decode_memory_bytes", default.max_decode_memory_bytes
        ),
        keyframe_every_s=getattr(limits, "keyframe_every_s", default.keyframe_every_s),
        max_keyframes=getattr(limits, "max_keyframes", default.max_keyframes),
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


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say a file is: ``kind`` (image, video, unknown) and its media type."""

    kind: str
    media_type: str


_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG", "image/png"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
UNKNOWN = Sniffed("unknown", "application/octet-stream")


def sniff(source: Path | bytes) -> Sniffed:
    """The one file-type sniffer: kind and media type from the first bytes, never the file name."""
    try:
        head = _read_head(source)
    except OSError as exc:
        raise MediaError(f"cannot read media: {exc.strerror or exc}") from None
    if len(head) < 12:
        return UNKNOWN
    if head[:4] == b"RIFF":
        if head[8:12] == b"WEBP":
            return Sniffed("image", "image/webp")
        if head[8:12] == b"AVI ":
            return Sniffed("video", "video/x-msvideo")
        return UNKNOWN
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        # HEIF/AVIF stills are ISO BMFF too.
        if brand in (b"heic", b"heix", b"avif", b"mif1"):
            return Sniffed("image", "image/avif" if brand == b"avif" else "image/heic")
        return Sniffed("video", "video/quicktime" if brand[:2] == b"qt" else "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "video/webm")
    for magic, media_type in _IMAGE_MAGIC:
        if head.startswith(magic):
            return Sniffed("image", media_type)
    return UNKNOWN


def sniff_kind(source: Path | bytes) -> str:
    """``"image"``, ``"video"`` or ``"unknown"`` (see :func:`sniff`)."""
    return sniff(source).kind


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


# Longer than any real camera or codec level (8K is 7680): a 1x8,000,000 "video"
# is within the pixel limit but no video.
_MAX_VIDEO_SIDE = 16384


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
        if max(width, height) > _MAX_VIDEO_SIDE:
            raise MediaError(
                f"video is {width}x{height}; the limit is {_MAX_VIDEO_SIDE} pixels a side"
            )
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
        if duration < 0 or not math.isfinite(duration):
            raise MediaError("video declares an invalid duration")
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        fps = float(rate)
        if fps > limits.max_video_fps:
            raise MediaError(
                f"video declares {fps:.0f} frames per second; the limit is "
                f"{limits.max_video_fps:.0f}"
            )
        frame_count = int(stream.frames) if stream.frames else None
        if frame_count is not None:
            if frame_count > limits.max_decoded_frames:
                raise MediaError(
                    f"video declares {frame_count} frames; the limit is {limits.max_decoded_frames}"
                )
            if frame_count > limits.max_video_fps * (duration + 1.0):
                raise MediaError(
                    f"video declares {frame_count} frames in {duration:.1f} s, more than "
                    f"{limits.max_video_fps:.0f} per second"
                )
        return VideoInfo(
            width=width,
            height=height,
            duration_s=duration,
            fps=fps,
            codec=str(stream.codec_context.name),
            has_audio=bool(container.streams.audio),
            frame_count=frame_count,
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
# A stream may end this much before its declared duration (plus three frame
# intervals: the last frames may be skipped non-reference ones) and this share
# of its declared frames may be missing; past that it is truncated.
_END_SLACK_S = 0.5
_MISSING_FRAMES_SLACK = 0.01
# Frames beyond max_video_fps x (timestamp span) tolerated for jittery timestamps.
_FPS_SLACK_FRAMES = 16
# The CPU budget is read every this many decoded frames.
_CPU_CHECK_EVERY = 8


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) with the longer side at most ``max_side`` (aspect kept, never upscaled)."""
    if max_side is None or max_side <= 0 or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _where(t: float | None) -> str:
    return f"at about {t:.1f} s" if t is not None else "before the first frame"


def _decode_failure(exc: Exception, t: float | None, limits: MediaLimits) -> MediaError:
    """A clear refusal for an FFmpeg error while demuxing or decoding (never FFmpeg's text)."""
    import av

    if isinstance(exc, MemoryError):
        return MediaError(f"decoding the video ran out of memory {_where(t)}")
    if isinstance(exc, av.error.ArgumentError):
        # EINVAL from the decoder: a frame over max_pixels or an invalid frame size.
        return MediaError(
            f"video has a frame over the limit of {limits.max_video_pixels_per_frame} "
            f"pixels or an invalid frame size {_where(t)}"
        )
    return MediaError(f"video is corrupt or truncated: decoding failed {_where(t)}")


def _video_duration(container: Any, stream: Any) -> float:
    """The video stream's own declared length; the container's only when it has no audio
    (a container's duration is its longest stream's, and audio may outlast the picture)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if not container.streams.audio and container.duration is not None:
        return float(container.duration) / 1_000_000
    return 0.0


def _decode(
    path: Path,
    info: VideoInfo,
    every_s: float,
    max_frames: int,
    limits: MediaLimits,
    max_side: int | None,
    threads: int,
    cpu_clock: Callable[[], float],
) -> Iterator[Frame]:
    """The strict decode loop behind :func:`iter_frames` (see there)."""
    import av

    out_w, out_h = scaled_size(info.width, info.height, max_side)
    container = _open_container(path)
    cpu_start = cpu_clock()
    try:
        stream = container.streams.video[0]
        interval = 1.0 / info.fps if info.fps > 0 else 0.0
        # A stream that declares no frame reordering has no B-frames: every frame is a
        # reference (x264 and friends without B-frames), so skipping saves nothing there
        # and frame threading (below) is worth more. Skipping would only ever drop frames
        # the samples do not need, so leaving it off never changes the frames sampled.
        reorders = bool(stream.codec_context.has_b_frames)
        skipping = reorders and interval > 0 and every_s >= NONREF_MIN_INTERVALS * interval
        # Frame threading decodes several frames ahead: turning non-reference skipping
        # off mid-stream (below) would then take effect at a frame that depends on
        # thread timing, and the sampled frames on machine load. Slice threading
        # applies it at the next packet, the same on every run.
        stream.thread_type = "SLICE" if skipping else "AUTO"
        if threads > 0:
            stream.thread_count = threads
        # FFmpeg refuses frames over the pixel limit before allocating them.
        stream.codec_context.options = {"max_pixels": str(limits.max_video_pixels_per_frame)}
        if skipping:
            stream.codec_context.skip_frame = "NONREF"
        next_t = 0.0
        last_t: float | None = None
        first_t: float | None = None
        max_t = 0.0
        emitted = 0
        decoded = 0
        packets = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    packets += 1
                for frame in packet.decode():
                    # Every frame the decoder outputs counts, before any sampling.
                    decoded += 1
                    t = float(frame.time) if frame.time is not None else next_t
                    if not math.isfinite(t):
                        raise MediaError(f"video has an invalid timestamp {_where(last_t)}")
                    if decoded > limits.max_decoded_frames:
                        raise MediaError(
                            f"video decodes to more than {limits.max_decoded_frames} frames"
                        )
                    if decoded % _CPU_CHECK_EVERY == 0:
                        used = cpu_clock() - cpu_start
                        if used > limits.max_decode_cpu_s:
                            raise MediaError(
                                f"decoding the video took more than "
                                f"{limits.max_decode_cpu_s:g} s of CPU time {_where(t)}"
                            )
                    if (frame.width, frame.height) != (info.width, info.height):
                        raise MediaError(
                            f"video changes frame size mid-stream ({info.width}x{info.height} "
                            f"to {frame.width}x{frame.height}) {_where(t)}"
                        )
                    if frame.is_corrupt:
                        raise MediaError(f"video is corrupt: a damaged frame {_where(t)}")
                    first_t = t if first_t is None else first_t
                    max_t = max(max_t, t)
                    if decoded > limits.max_video_fps * (max_t - first_t) + _FPS_SLACK_FRAMES:
                        raise MediaError(
                            f"video has more than {limits.max_video_fps:.0f} frames per second "
                            f"of its timestamps {_where(t)}"
                        )
                    if max_t - first_t > limits.max_video_seconds + 1.0:
                        raise MediaError(
                            f"video runs past the {limits.max_video_seconds:.0f} s limit "
                            "(its header declares less)"
                        )
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
                    if (out_w, out_h) == (frame.width, frame.height):
                        rgb = frame.to_ndarray(format="rgb24")
                    else:
                        rgb = frame.to_ndarray(
                            width=out_w, height=out_h, format="rgb24", interpolation="BILINEAR"
                        )
                    yield Frame(t=t, rgb=rgb)
                    emitted += 1
                    if emitted >= max_frames:
                        return  # enough samples: the rest of the file is not looked at
                    # The next grid point after t: a late frame does not shift later samples.
                    next_t = (int((t + 1e-6) / every_s) + 1) * every_s if every_s > 0 else t
        except (av.FFmpegError, MemoryError) as exc:
            raise _decode_failure(exc, last_t, limits) from None
        if decoded == 0:
            raise MediaError("video has no decodable frames")
        declared = info.frame_count
        if declared and packets < declared - max(2, _MISSING_FRAMES_SLACK * declared):
            raise MediaError(
                f"video is truncated: {packets} of its {declared} declared frames are present"
            )
        declared_s = _video_duration(container, stream)
        end = max_t + interval
        if declared_s > 0 and end < declared_s - (_END_SLACK_S + 3 * interval):
            raise MediaError(
                f"video is truncated: its frames stop at {end:.1f} s of the "
                f"{declared_s:.1f} s it declares"
            )
    finally:
        container.close()


def iter_frames(
    path: Path,
    every_s: float = 0.5,
    max_frames: int = 600,
    limits: MediaLimits = DEFAULT_LIMITS,
    max_side: int | None = None,
    threads: int = 0,
) -> Iterator[Frame]:
    """Decode frames at about one per ``every_s`` seconds, validating the video first.

    Samples are taken on the grid ``0, every_s, 2*every_s, ...``: each is the
    first decoded frame at or after its grid time. ``max_side`` downscales
    frames whose longer side exceeds it inside the decoder's colour conversion
    (detection on a 720p frame costs far less than on a 4K one and finds the
    same faces). When ``every_s`` spans several frame intervals, non-reference
    frames are not decoded at all (:data:`NONREF_MIN_INTERVALS`).

    Strict: every decoded frame counts against ``limits.max_decoded_frames``
    and the CPU budget (this thread's CPU time here; the whole process's in
    :func:`decode_video`), and a decode error, a damaged frame, a size change
    or a stream that stops short of its header raises :class:`MediaError`
    (possibly after earlier frames were yielded: a caller that keeps frames
    should collect them all first). Stopping at ``max_frames`` skips the
    end-of-stream checks. This runs in the caller's process; for uploads use
    :func:`decode_video`.
    """
    info = probe_video(path, limits)
    yield from _decode(path, info, every_s, max_frames, limits, max_side, threads, time.thread_time)


# -- decoding in a child process --------------------------------------------------------------

# Decoder threads in the child: enough for speed, few enough that their stacks
# and malloc arenas leave the address-space limit to the frames.
_CHILD_THREADS = 4
# Decoder children running at once in this process (each may use its whole
# memory limit): more uploads at once wait for a slot.
_CHILD_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
_MESSAGE_CHARS = 300
_FRAME_HEADER = struct.Struct("<dII")


@dataclass(frozen=True)
class DecodedVideo:
    """What :func:`decode_video` returns: the header and the sampled frames."""

    info: VideoInfo
    frames: list[Frame]


# What the fork server imports once, so that its children start with it: the
# decoder's modules and the C2PA verifier's (pipeline.provenance runs
# detectors.provenance.verify_isolated in the same kind of child).
# multiprocessing also re-runs the parent's main module in every child (as
# ``__mp_main__``) unless it is a package's ``__main__``: the server runs as
# ``python -m greenroom`` (``greenroom up``; ``greenroom serve`` re-execs so)
# and the benchmarks as ``python -m bench <name>``, so no child re-runs the
# application's imports. (Preloading "__main__" here would not help: CPython
# 3.11's fork server never receives the main module's path.)
_FORKSERVER_PRELOAD = ["numpy", "av", "pipeline.media", "detectors.provenance", "c2pa"]


@functools.lru_cache(maxsize=1)
def isolation_context() -> Any:
    """The multiprocessing context for isolated children (video decoding, C2PA verification).

    A fork server with the decoder's and verifier's modules preloaded: each
    child is a fork of a small single-threaded process (no copy of the
    server's threads, open files or database handles) and starts in
    milliseconds. Where there is no fork server (not Linux/macOS), ``spawn``.
    """
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_FORKSERVER_PRELOAD)
    return ctx


def _limit_child(limits: MediaLimits) -> None:
    """Address space, CPU time and no core files for this (child) process; best effort."""
    import resource

    _suppress = functools.partial(contextlib.suppress, OSError, ValueError, AttributeError)
    with _suppress():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with _suppress():
        # Few malloc arenas: each thread's 64 MiB arena reservation counts against RLIMIT_AS.
        import ctypes

        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX
    cpu = max(1, math.ceil(limits.max_decode_cpu_s) + 1)
    with _suppress():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    if limits.max_decode_memory_bytes > 0:
        with _suppress():
            memory = int(limits.max_decode_memory_bytes)
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _clean_message(text: str) -> str:
    return "".join(c for c in text if c.isprintable())[:_MESSAGE_CHARS]


def _near_memory_limit(limits: MediaLimits) -> bool:
    """Whether this process's peak address space came within 32 MiB of the limit."""
    if limits.max_decode_memory_bytes <= 0:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    peak = int(line.split()[1]) * 1024
                    return peak >= limits.max_decode_memory_bytes - 32 * 1024 * 1024
    except (OSError, ValueError, IndexError):
        pass
    return False


def _decode_child(
    conn: Any,
    path: str,
    every_s: float,
    max_frames: int,
    limits: MediaLimits,
    max_side: int | None,
) -> None:
    """The child's side: decode and stream frames back as plain bytes (no pickles to the parent)."""
    _limit_child(limits)
    try:
        try:
            info = probe_video(Path(path), limits)
            conn.send_bytes(b"I" + json.dumps(asdict(info)).encode())
            threads = min(_CHILD_THREADS, os.cpu_count() or 1)
            for frame in _decode(
                Path(path), info, every_s, max_frames, limits, max_side, threads,
                time.process_time,
            ):  # fmt: skip
                rgb = np.ascontiguousarray(frame.rgb, dtype=np.uint8)
                h, w = int(rgb.shape[0]), int(rgb.shape[1])
                conn.send_bytes(b"F" + _FRAME_HEADER.pack(frame.t, h, w))
                conn.send_bytes(rgb.reshape(-1).data)
            conn.send_bytes(b"D")
        except Exception as exc:  # the parent gets a reason, never a traceback
            if isinstance(exc, MemoryError) or _near_memory_limit(limits):
                # FFmpeg reports a failed allocation as anything from ENOMEM to
                # EINVAL, and Python as an ImportError: the peak says what it was.
                mib = limits.max_decode_memory_bytes // (1024 * 1024)
                message = f"decoding the video needs more than its {mib} MiB memory limit"
            elif isinstance(exc, MediaError):
                message = str(exc)
            else:
                message = f"video could not be decoded ({type(exc).__name__})"
            conn.send_bytes(b"E" + _clean_message(message).encode())
    except (OSError, ValueError):
        pass  # the parent went away or stopped listening
    finally:
        conn.close()


def _child_death(exitcode: int | None, limits: MediaLimits) -> MediaError:
    import signal

    if exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
        return MediaError(
            f"decoding the video took more than {limits.max_decode_cpu_s:g} s of CPU time"
        )
    # A failed allocation under RLIMIT_AS can end in a crash (native code that
    # does not check malloc) as well as in an error the child reports.
    mib = limits.max_decode_memory_bytes // (1024 * 1024)
    hint = f"; it may have run out of its {mib} MiB memory limit" if mib > 0 else ""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else exitcode
        return MediaError(f"the video decoder crashed on this file ({name}{hint})")
    return MediaError(f"the video decoder stopped on this file (exit code {exitcode}{hint})")


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def wait(self, conn: Any) -> None:
        if not conn.poll(max(0.0, self.end - time.monotonic())):
            raise MediaError(f"decoding the video took longer than {self.seconds:g} s")


def _receive_frame(conn: Any, header: bytes, limits: MediaLimits, deadline: _Deadline) -> Frame:
    """One frame's pixels straight into a new array, after checking the size the child claims."""
    from multiprocessing import BufferTooShort

    if len(header) != 1 + _FRAME_HEADER.size:
        raise MediaError("the video decoder sent a malformed frame")
    t, h, w = _FRAME_HEADER.unpack(header[1:])
    if not (math.isfinite(t) and h > 0 and w > 0 and h * w <= limits.max_video_pixels_per_frame):
        raise MediaError("the video decoder sent a malformed frame")
    rgb = np.empty((h, w, 3), dtype=np.uint8)
    deadline.wait(conn)
    try:
        # A flat view: Connection sizes the buffer by len(), the first axis only.
        received = conn.recv_bytes_into(rgb.reshape(-1))
    except BufferTooShort:
        received = -1
    if received != rgb.nbytes:
        raise MediaError("the video decoder sent a malformed frame")
    return Frame(t=t, rgb=rgb)


def run_isolated(
    target: Callable[..., None],
    args: tuple[Any, ...],
    limits: MediaLimits,
    max_frames: int = 10_000,
) -> DecodedVideo:
    """Run ``target(conn, *args)`` in a limited child and collect what it streams back.

    The protocol is plain bytes (``I`` + JSON video info, ``F`` + frame header
    followed by the raw pixels, ``E`` + a message, ``D`` done), so a child
    taken over by a hostile file cannot hand the server a pickle. A child that
    dies, overruns the wall clock, sends more than ``max_frames`` frames or
    breaks the protocol is a :class:`MediaError`; the child is killed on
    every way out. At most ``_CHILD_SLOTS`` children run at once; a caller
    waits for a slot within the same wall-clock limit.
    """
    deadline = _Deadline(limits.max_decode_wall_s)
    if not _CHILD_SLOTS.acquire(timeout=max(0.0, limits.max_decode_wall_s)):
        raise MediaError("the server is busy decoding other videos; try again shortly")
    try:
        return _run_child(target, args, limits, max_frames, deadline)
    finally:
        _CHILD_SLOTS.release()


def _run_child(
    target: Callable[..., None],
    args: tuple[Any, ...],
    limits: MediaLimits,
    max_frames: int,
    deadline: _Deadline,
) -> DecodedVideo:
    ctx = isolation_context()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(sender, *args), daemon=True)
    proc.start()
    sender.close()
    info: VideoInfo | None = None
    frames: list[Frame] = []
    try:
        while True:
            deadline.wait(receiver)
            try:
                message = receiver.recv_bytes(64 * 1024)
            except EOFError:
                proc.join(5)
                raise _child_death(proc.exitcode, limits) from None
            except OSError:
                raise MediaError("the video decoder sent a malformed message") from None
            kind = message[:1]
            if kind == b"F" and info is not None and len(frames) < max_frames:
                frames.append(_receive_frame(receiver, message, limits, deadline))
            elif kind == b"I" and info is None:
                try:
                    info = VideoInfo(**json.loads(message[1:]))
                except (ValueError, TypeError):
                    raise MediaError("the video decoder sent a malformed header") from None
            elif kind == b"E":
                text = _clean_message(message[1:].decode("utf-8", "replace"))
                raise MediaError(text or "video could not be decoded")
            elif kind == b"D" and info is not None:
                return DecodedVideo(info=info, frames=frames)
            else:
                raise MediaError("the video decoder sent a malformed message")
    finally:
        receiver.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def decode_video(
    path: Path,
    every_s: float = 0.5,
    max_frames: int = 600,
    limits: MediaLimits = DEFAULT_LIMITS,
    max_side: int | None = None,
) -> DecodedVideo:
    """:func:`iter_frames` in a child process with memory, CPU and wall-clock limits.

    The same frames at the same times as ``iter_frames`` with the same
    arguments, all of them or a :class:`MediaError`: a hostile file that
    crashes, hangs or bloats the decoder costs the child
    (``limits.max_decode_memory_bytes`` of address space,
    ``limits.max_decode_cpu_s`` of CPU, ``limits.max_decode_wall_s`` of wall
    clock), and the caller gets a reason it can show the uploader.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"cannot read video: {exc.strerror or exc}") from None
    if size == 0:
        raise MediaError("video is empty (0 bytes)")
    if size > limits.max_bytes:
        raise MediaError(f"video is {size} bytes; the limit is {limits.max_bytes}")
    return run_isolated(
        _decode_child,
        (str(path), float(every_s), int(max_frames), limits, max_side),
        limits,
        max_frames=int(max_frames),
    )


# -- container structure: truncation and polyglots, before any decoder sees the file -------

# Bytes after a file's end marker that are tolerated when they are not all zero
# (a stray newline from a careless tool); a ZIP directory or an HTML page is more.
_TRAILING_TOLERANCE = 16


def _be16(data: Any, i: int) -> int:
    return int.from_bytes(data[i : i + 2], "big")


def _be32(data: Any, i: int) -> int:
    return int.from_bytes(data[i : i + 4], "big")


def _le32(data: Any, i: int) -> int:
    return int.from_bytes(data[i : i + 4], "little")


def _png_end(data: Any) -> int:
    n, i = len(data), 8
    while True:
        if i + 12 > n:
            raise MediaError("image is truncated: its PNG chunks stop before the end chunk")
        length, kind = _be32(data, i), bytes(data[i + 4 : i + 8])
        i += 12 + length
        if i > n:
            raise MediaError("image is truncated: a PNG chunk runs past the end of the file")
        if kind == b"IEND":
            return i


def _jpeg_end(data: Any) -> int:
    n, i = len(data), 2
    truncated = MediaError("image is truncated: the JPEG stops before its end marker")
    while True:
        if i >= n:
            raise truncated
        if data[i] != 0xFF:
            raise MediaError("image is corrupt: the JPEG's segment structure is broken")
        while i < n and data[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= n:
            raise truncated
        marker = data[i]
        i += 1
        if marker == 0xD9:
            return i
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if i + 2 > n:
            raise truncated
        length = _be16(data, i)
        if length < 2:
            raise MediaError("image is corrupt: a JPEG segment has an impossible length")
        if i + length > n:
            name = f"APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else f"0x{marker:02X}"
            raise MediaError(
                f"image is truncated: its JPEG {name} segment runs past the end of the file"
            )
        i += length
        if marker == 0xDA:  # entropy-coded data up to the next real marker
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    raise truncated
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    i = j + 2
                    continue
                i = j
                break


def _gif_end(data: Any) -> int:
    n = len(data)
    truncated = MediaError("image is truncated: the GIF stops before its trailer")
    if n < 13:
        raise truncated
    i = 13
    flags = data[10]
    if flags & 0x80:
        i += 3 * (2 ** ((flags & 7) + 1))

    def sub_blocks(i: int) -> int:
        while True:
            if i >= n:
                raise truncated
            size = data[i]
            i += 1
            if size == 0:
                return i
            i += size

    while True:
        if i >= n:
            raise truncated
        block = data[i]
        if block == 0x3B:
            return i + 1
        if block == 0x21:
            i = sub_blocks(i + 2)
        elif block == 0x2C:
            if i + 10 > n:
                raise truncated
            local = data[i + 9]
            i += 10
            if local & 0x80:
                i += 3 * (2 ** ((local & 7) + 1))
            i = sub_blocks(i + 1)  # after the LZW minimum code size
        else:
            raise MediaError("image is corrupt: the GIF's block structure is broken")


def _riff_end(data: Any) -> int:
    n, i = len(data), 0
    while i + 8 <= n and bytes(data[i : i + 4]) == b"RIFF":
        size = _le32(data, i + 4)
        i += 8 + size + (size & 1)
        if i > n + (size & 1):
            raise MediaError("file is truncated: its RIFF chunk runs past the end of the file")
    return min(i, n)


# Top-level ISO BMFF boxes seen in real MP4/MOV/HEIF files (ISO 14496-12, QuickTime, C2PA).
_BMFF_TOP_BOXES = frozenset(
    {
        *(b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"moof", b"mfra"),
        *(b"meta", b"pdin", b"styp", b"sidx", b"ssix", b"emsg", b"prft", b"jumb", b"mvex"),
        *(b"pnot", b"junk", b"PICT"),
    }
)


def _bmff_end(data: Any, kind: str) -> int:
    """Walk ISO BMFF top-level boxes: they must tile the file; videos need their index."""
    n, i = len(data), 0
    seen: set[bytes] = set()
    while i + 8 <= n:
        size, box = _be32(data, i), bytes(data[i + 4 : i + 8])
        header = 8
        if size == 1:
            if i + 16 > n:
                raise MediaError("file is truncated inside a box header")
            size, header = int.from_bytes(data[i + 8 : i + 16], "big"), 16
        elif size == 0:
            size = n - i  # the last box runs to the end of the file
        if box not in _BMFF_TOP_BOXES and i > 0:
            raise MediaError(
                f"file has {n - i} bytes after its last box that are not part of it "
                "(a polyglot or a damaged file)"
            )
        name = box.decode("latin-1") if box.isascii() and box.isalnum() else "?"
        if size < header:
            raise MediaError(f"file is corrupt: its '{name}' box has an impossible size")
        if i + size > n:
            raise MediaError(
                f"file is truncated: its '{name}' box runs {i + size - n} bytes past the end"
            )
        seen.add(box)
        i += size
    if kind == "video" and b"moov" not in seen:
        raise MediaError("video has no index ('moov' box): it is truncated or incomplete")
    return i


def check_structure(path: Path, kind: str) -> None:
    """Refuse truncated containers and files that are two things at once (polyglots).

    Walks the container's own framing (ISO BMFF boxes, PNG chunks, JPEG
    segments, GIF blocks, RIFF chunks) to its end: a box or segment that runs
    past the end of the file is truncation; more than a few non-zero bytes
    after the end (a ZIP archive after a JPEG, HTML after an MP4) is a
    polyglot, refused because the stored bytes are served back as they are.
    Formats without such framing here (TIFF, BMP, Matroska) pass unchecked.
    """
    import mmap

    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                raise MediaError("file is empty (0 bytes)")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                end = _structure_end(data, kind)
                if end is None or end >= len(data):
                    return
                tail = len(data) - end
                if tail > _TRAILING_TOLERANCE and data[end:].count(0) != tail:
                    what = "image" if kind == "image" else "video"
                    raise MediaError(
                        f"{what} has {tail} bytes of other data after its end: files that "
                        "are two formats at once (polyglots) are not accepted"
                    )
    except OSError as exc:
        raise MediaError(f"cannot read media: {exc.strerror or exc}") from None


def _structure_end(data: Any, kind: str) -> int | None:
    head = bytes(data[:12])
    if head[4:8] == b"ftyp":
        return _bmff_end(data, kind)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_end(data)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_end(data)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif_end(data)
    if head.startswith(b"RIFF"):
        return _riff_end(data)
    return None
