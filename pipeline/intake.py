"""Media intake for the gate: validate an upload, store it by content hash, decode its keyframes once.

Validation happens before the bytes reach the blob store: size, the sniffed
format, the container's framing (truncation and polyglots,
:func:`pipeline.media.check_structure`), image pixels, video duration and
frame size, and for videos a full strict decode in a limited child process
(:func:`pipeline.media.decode_video`). A refused upload -- truncated, corrupt,
a bomb, a decoder crash -- leaves nothing behind but a temp file that is
deleted at once. The decode gives the gate's keyframes, kept on the item, so a
scan decodes once. Accepted media is
stored content-addressed (``blobs`` row + audit in its own small transaction:
an asynchronous scan job must be able to find the bytes after a restart).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from pipeline.errors import MediaError
from pipeline.media import (
    DEFAULT_LIMITS,
    Frame,
    MediaLimits,
    VideoInfo,
    check_structure,
    decode_video,
    load_image,
    sniff,
    sniff_kind,
)
from store.blobs import BlobStore
from store.db import Store

# Detectors work on downscaled frames: faces and characters in a clip are
# large, and a 4K frame costs ~9x a 720p one for the same findings.
DEFAULT_MAX_SIDE = 1280
# The sampling setting's defaults (one place: MediaLimits); the provenance
# fingerprint keeps to these whatever the gate's setting, so fingerprints compare.
DEFAULT_EVERY_S = DEFAULT_LIMITS.keyframe_every_s
MAX_KEYFRAMES = DEFAULT_LIMITS.max_keyframes
_NAME_CHARS = 120


@dataclass
class MediaItem:
    """One accepted upload: where its bytes live and what they are."""

    sha256: str
    kind: Literal["image", "video"]
    path: Path
    size: int
    declared_name: str | None = None
    video: VideoInfo | None = None
    width: int = 0
    height: int = 0
    # The decoded image (RGB uint8) for stills, kept so it is decoded once.
    _image: np.ndarray | None = field(default=None, repr=False)
    _keyframes: dict[tuple[float, int], list[Frame]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "size": self.size,
            "declared_name": self.declared_name,
            "width": self.width,
            "height": self.height,
            "duration_s": self.video.duration_s if self.video else None,
            "fps": self.video.fps if self.video else None,
            "codec": self.video.codec if self.video else None,
        }


def _clean_name(name: str | None) -> str | None:
    # Shown back to people and stored; never used as a path.
    if name is None:
        return None
    cleaned = "".join(c for c in os.path.basename(str(name)) if c.isprintable())
    return cleaned[:_NAME_CHARS] or None


class MediaIntake:
    """Accepts media into one data directory's blob store, validated against ``limits``."""

    def __init__(self, store: Store, blobs: BlobStore, limits: MediaLimits) -> None:
        self.store = store
        self.blobs = blobs
        self.limits = limits

    def ingest(self, source: Path | bytes, declared_name: str | None = None) -> MediaItem:
        """Validate ``source`` (a file or its bytes) and store it; :class:`MediaError` when refused."""
        limits = self.limits
        blobs = self.blobs
        temp: Path | None = None
        if isinstance(source, bytes | bytearray):
            if len(source) == 0:
                raise MediaError("upload is empty (0 bytes)")
            if len(source) > limits.max_bytes:
                raise MediaError(f"upload is {len(source)} bytes; the limit is {limits.max_bytes}")
            # Videos are probed from a file; the temp file lives beside the blobs so
            # no user-chosen name ever reaches the filesystem.
            temp = blobs.root / "tmp" / f"intake-{secrets.token_hex(12)}"
            temp.write_bytes(bytes(source))
            path = temp
        else:
            path = Path(source)
            if not path.is_file():
                raise MediaError(f"no such media file: {path.name}")
            declared_name = declared_name or path.name
        try:
            size = path.stat().st_size
            if size == 0:
                raise MediaError("upload is empty (0 bytes)")
            if size > limits.max_bytes:
                raise MediaError(f"upload is {size} bytes; the limit is {limits.max_bytes}")
            kind = sniff_kind(path)
            if kind in ("image", "video"):
                # Truncated containers and polyglots, from the framing alone.
                check_structure(path, kind)
            image: np.ndarray | None = None
            info: VideoInfo | None = None
            frames: list[Frame] | None = None
            if kind == "image":
                image = load_image(path, limits)
                height, width = int(image.shape[0]), int(image.shape[1])
            elif kind == "video":
                # Every frame decoded (strictly, in a child) before anything is stored.
                frames, info = _decode_keyframes(
                    path, limits.keyframe_every_s, DEFAULT_MAX_SIDE, limits
                )
                width, height = info.width, info.height
            else:
                raise MediaError("not a supported image or video format")
            # Copy and fsync before the transaction: the write lock is held for the row only.
            staged = blobs.stage(path)
            with self.store.transaction() as tx:
                ref = blobs.record(tx, staged, sniff(path).media_type)
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)
        item = MediaItem(
            sha256=ref.sha256,
            kind=kind,  # type: ignore[arg-type]
            path=blobs.path(ref.sha256),
            size=ref.size,
            declared_name=_clean_name(declared_name),
            video=info,
            width=width,
            height=height,
        )
        item._image = image
        if frames is not None:
            item._keyframes[_cache_key(limits.keyframe_every_s, DEFAULT_MAX_SIDE)] = frames
        return item

    def open_stored(self, sha256: str) -> MediaItem:
        """A MediaItem for bytes already in the blob store (e.g. a queued scan job), re-validated."""
        path = self.blobs.path(sha256)
        if not path.is_file():
            raise MediaError(f"stored media {sha256[:12]}… is missing")
        return self.ingest(path)


def _downscale(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    if max_side is None or max(rgb.shape[:2]) <= max_side:
        return rgb
    scale = max_side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def _cache_key(every_s: float, max_side: int | None) -> tuple[float, int]:
    return (float(every_s), int(max_side or 0))


def _decode_keyframes(
    path: Path, every_s: float, max_side: int | None, limits: MediaLimits
) -> tuple[list[Frame], VideoInfo]:
    """A video's keyframes from the isolated, strict decoder; never an empty list."""
    decoded = decode_video(
        path, every_s=every_s, max_frames=limits.max_keyframes, limits=limits, max_side=max_side
    )
    if not decoded.frames:
        raise MediaError("video has no decodable frames")
    return decoded.frames, decoded.info


def keyframes(
    item: MediaItem,
    every_s: float | None = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> list[Frame]:
    """Frames for the detectors, decoded once per (interval, size) and cached on the item.

    ``every_s`` defaults to the sampling setting (``limits.keyframe_every_s``;
    0: every frame). Videos are decoded by :func:`pipeline.media.decode_video`
    (a child process with memory, CPU and time limits); the default interval
    and size were already decoded when the item was ingested.
    """
    if every_s is None:
        every_s = limits.keyframe_every_s
    key = _cache_key(every_s, max_side)
    cached = item._keyframes.get(key)
    if cached is not None:
        return cached
    if item.kind == "image":
        rgb = item._image if item._image is not None else load_image(item.path, limits)
        frames = [Frame(t=0.0, rgb=_downscale(rgb, max_side))]
    else:
        frames, _ = _decode_keyframes(item.path, every_s, max_side, limits)
    item._keyframes[key] = frames
    return frames
