"""A corpus of hostile and malformed media, built from the real fixtures into a folder.

``build(out_dir, fixtures)`` writes every file and returns what it wrote: each
:class:`Hostile` names the file and the trick. Nothing here is downloaded:
every file is a real fixture (``fixtures/videos``, ``fixtures/faces``,
``fixtures/c2pa/assets``) cut, patched, re-muxed with PyAV, or glued to
something else, plus a few files encoded from scratch (bombs, frame floods,
size changes). Files that carry text carry :data:`CANARY`, so a test can check
that no answer echoes the file's content.

Run it by hand to look at the files: ``python -m tests.media.corpus OUT_DIR``.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

CANARY = "GREENROOM-CANARY-7f3a"

_FACE = "faces/face_recognition/obama.jpg"
_PNG = "faces/face_recognition/32bit.png"
_FASTSTART = "videos/liveportrait_s18_woman.mp4"  # moov before mdat
_FASTSTART_2 = "videos/bbb_bunny_720p_seg49-51.mp4"
_MOOV_AT_END = "videos/sintel_trailer_clip_720p.mp4"
_C2PA_VIDEO = "c2pa/assets/video1.mp4"  # a C2PA manifest in a top-level uuid box
_C2PA_JPEG = "c2pa/assets/C.jpg"  # a C2PA manifest in APP11 (JUMBF) segments


@dataclass(frozen=True)
class Hostile:
    name: str
    path: Path
    trick: str


def _html() -> bytes:
    return f"<!doctype html><html><script>alert('{CANARY}')</script></html>\n".encode()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("payload.html", _html())
        archive.writestr("readme.txt", f"{CANARY} " * 50)
    return buf.getvalue()


# -- byte-level helpers -----------------------------------------------------------------------


def _top_boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of an ISO BMFF file's top-level boxes."""
    out, i = [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
        elif size == 0:
            size = len(data) - i
        out.append((i, size, kind))
        i += size
    return out


def _box(data: bytes, kind: bytes) -> tuple[int, int]:
    for offset, size, found in _top_boxes(data):
        if found == kind:
            return offset, size
    raise LookupError(kind)


def _jpeg_segment(data: bytes, marker: int) -> tuple[int, int]:
    """(offset of the 0xFF, segment length field) of the first segment with ``marker``."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        found, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if found == marker:
            return i, length
        if found == 0xDA:
            break
        i += 2 + length
    raise LookupError(hex(marker))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` zeros: kilobytes on disk, gigapixels decoded."""
    row = b"\x00" * (1 + (width + 7) // 8)
    squeeze = zlib.compressobj(9)
    parts = [squeeze.compress(row) for _ in range(height)]
    parts.append(squeeze.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def _png_with_size(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR size replaced (CRC fixed, so only the size lies)."""
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + png[24:29]
    return png[:8] + _png_chunk(b"IHDR", ihdr) + png[33:]


def _small_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


def _small_gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (16, 16), 3).save(buf, format="GIF")
    return buf.getvalue()


# -- video helpers (PyAV) ---------------------------------------------------------------------


def _packets(codec: str, width: int, height: int, count: int, start: int) -> list[av.Packet]:
    """``count`` encoded frames of a moving gradient, pts from ``start`` in 1/rate units."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.open()
    out: list[av.Packet] = []
    ramp = np.linspace(0, 255, width).astype(np.int64)[None, :, None]
    for k in range(count):
        rgb = np.broadcast_to((ramp + k * 7) % 256, (height, width, 3)).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format=ctx.pix_fmt)
        frame.pts = start + k
        out += list(ctx.encode(frame))
    out += list(ctx.encode(None))
    return out


def _mux(
    path: Path,
    fmt: str,
    codec: str,
    segments: list[tuple[int, int, int]],
    rate: int = 25,
) -> None:
    """Mux (width, height, frames) segments of ``codec`` packets into one stream of ``path``.

    The stream's header names the first segment's size; later segments keep
    their own (a mid-stream size change).
    """
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = segments[0][0], segments[0][1]
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.time_base = Fraction(1, rate)
        start = 0
        for width, height, count in segments:
            for packet in _packets(codec, width, height, count, start):
                packet.stream = stream
                packet.time_base = Fraction(1, rate)
                out.mux(packet)
            start += count


def _retime(src: Path, dst: Path, fmt: str, time_base: Fraction, pts: Callable[[int], int]) -> None:
    """Re-mux ``src``'s video packets into ``dst`` with timestamps ``pts(i)`` in ``time_base``."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format=fmt) as out:
        video = source.streams.video[0]
        stream = out.add_stream_from_template(video)
        stream.time_base = time_base
        i = 0
        for packet in source.demux(video):
            if packet.dts is None:
                continue
            packet.stream = stream
            packet.time_base = time_base
            packet.pts = packet.dts = pts(i)
            packet.duration = max(1, pts(i + 1) - pts(i))
            out.mux(packet)
            i += 1


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        samples = (np.sin(np.arange(44100) / 10.0) * 0.2).astype(np.float32)[None, :]
        for k in range(0, 44100, 1024):
            chunk = np.ascontiguousarray(samples[:, k : k + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = k
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


# -- the corpus -------------------------------------------------------------------------------


def build(out_dir: Path, fixtures: Path) -> list[Hostile]:
    """Write the corpus into ``out_dir``; returns every file with its trick."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made: list[Hostile] = []

    def put(name: str, data: bytes, trick: str) -> None:
        path = out_dir / name
        path.write_bytes(data)
        made.append(Hostile(name, path, trick))

    def encoded(name: str, trick: str, write: Callable[[Path], None]) -> None:
        path = out_dir / name
        write(path)
        made.append(Hostile(name, path, trick))

    faststart = (fixtures / _FASTSTART).read_bytes()
    faststart_2 = (fixtures / _FASTSTART_2).read_bytes()
    moov_at_end = (fixtures / _MOOV_AT_END).read_bytes()
    face = (fixtures / _FACE).read_bytes()
    png = (fixtures / _PNG).read_bytes()

    # Truncation: the headline case is the first fifth of a faststart MP4, whose
    # index is complete and whose first seconds decode.
    put(
        "truncated_faststart_20pct.mp4", faststart[: len(faststart) // 5], "first fifth, moov first"
    )
    put(
        "truncated_faststart_60pct.mp4", faststart_2[: len(faststart_2) * 3 // 5], "60%, moov first"
    )
    put("truncated_faststart_97pct.mp4", faststart[: len(faststart) * 97 // 100], "last 3% cut")
    put("truncated_moov_at_end.mp4", moov_at_end[: len(moov_at_end) // 2], "index never arrives")
    put("truncated_in_ftyp.mp4", faststart[:20], "cut inside the first box")
    # Cut, then the mdat box shortened to fit: the framing is whole, the samples are not.
    cut = bytearray(faststart[: len(faststart) // 3])
    offset, _ = _box(faststart, b"mdat")
    cut[offset : offset + 4] = struct.pack(">I", len(cut) - offset)
    put("truncated_reboxed.mp4", bytes(cut), "first third, mdat size fixed up")
    whole_mkv = out_dir / "_whole.mkv"
    _retime(fixtures / _FASTSTART, whole_mkv, "matroska", Fraction(1, 30), lambda i: i)
    mkv = whole_mkv.read_bytes()
    whole_mkv.unlink()
    put("truncated_matroska_40pct.mkv", mkv[: len(mkv) * 2 // 5], "Matroska cut at 40%")
    put("truncated_jpeg_half.jpg", face[: len(face) // 2], "JPEG cut in its scan")
    put("truncated_png_half.png", png[: len(png) // 2], "PNG cut in IDAT")

    # No index, damaged payload.
    offset, _ = _box(faststart, b"moov")
    no_moov = bytearray(faststart)
    no_moov[offset + 4 : offset + 8] = b"free"
    put("moov_renamed_free.mp4", bytes(no_moov), "index box renamed away")
    damaged = bytearray(moov_at_end)
    rng = np.random.default_rng(11)
    middle = len(damaged) // 2
    damaged[middle : middle + 200_000] = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    put("corrupt_middle_random.mp4", bytes(damaged), "200 KB of noise mid-file")
    flipped = bytearray(moov_at_end)
    for i in range(len(flipped) // 3, len(flipped) // 3 + 50_000, 997):
        flipped[i] ^= 0xFF
    put("flipped_bits.mp4", bytes(flipped), "bit flips the decoder conceals")
    offset, size = _box(faststart, b"mdat")
    past_end = bytearray(faststart)
    past_end[offset : offset + 4] = struct.pack(">I", size + 1_000_000)
    put("mdat_size_past_end.mp4", bytes(past_end), "box size beyond the file")
    crc = bytearray(png)
    crc[len(crc) // 2] ^= 0x55
    put("png_idat_crc_mismatch.png", bytes(crc), "IDAT byte flipped, CRC wrong")

    # Empty and wrong magic.
    put("zero_length.mp4", b"", "0 bytes")
    put("zero_length.jpg", b"", "0 bytes")
    put("text_named_mp4.mp4", f"{CANARY} not a video\n".encode() * 40, "text, video name")
    put("ftyp_then_garbage.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40, "magic only")
    put("png_wrong_magic.png", b"\x88" + png[1:], "PNG signature broken")
    put("html_named_jpg.jpg", _html() * 20, "HTML, image name")
    put("svg_script_named_png.png", f"<svg onload=\"alert('{CANARY}')\"/>".encode() * 20, "SVG")
    put("zip_named_mp4.mp4", _zip(), "ZIP, video name")
    put(
        "riff_avi_garbage.avi",
        b"RIFF" + struct.pack("<I", 9_000_000) + b"AVI " + bytes(4000),
        "AVI",
    )
    put("heic_brand_garbage.heic", b"\x00\x00\x00\x18ftypheic" + bytes(range(200)) * 5, "HEIF")

    # Polyglots: a valid file with something else glued on.
    put("jpeg_zip_polyglot.jpg", face + _zip(), "JPEG + ZIP")
    put("png_zip_polyglot.png", png + _zip(), "PNG + ZIP")
    put("gif_html_polyglot.gif", _small_gif() + _html(), "GIF + HTML")
    put("mp4_html_appended.mp4", faststart + _html(), "MP4 + HTML")

    # Decompression bombs and absurd dimensions.
    put("png_bomb_20000x20000.png", _png_bomb(20_000, 20_000), "400 Mpx of zeros in ~40 KB")
    put("png_ihdr_2g_by_2g.png", _png_with_size(_small_png(), 2**31 - 1, 2**31 - 1), "IHDR lies")
    put("png_ihdr_zero_width.png", _png_with_size(_small_png(), 0, 32), "0-wide")
    gif = bytearray(_small_gif())
    gif[6:10] = struct.pack("<HH", 65535, 65535)
    put("gif_screen_65535x65535.gif", bytes(gif), "GIF logical screen bomb")
    sof, _ = _jpeg_segment(face, 0xC0)
    jpeg = bytearray(face)
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    put("jpeg_sof_65500x65500.jpg", bytes(jpeg), "JPEG frame header bomb")
    tiff = io.BytesIO()
    Image.new("L", (8, 8), 0).save(tiff, format="TIFF")
    put(
        "tiff_60000x60000.tif",
        _patch_tiff_size(tiff.getvalue(), 60_000, 60_000),
        "TIFF tags bomb",
    )
    encoded(
        "video_4000x4000.mkv",
        "frames over the pixel limit",
        lambda p: _mux(p, "matroska", "mjpeg", [(4000, 4000, 2)]),
    )
    encoded(
        "video_17000x16.mkv",
        "a 17000-pixel side",
        lambda p: _mux(p, "matroska", "mjpeg", [(17_000, 16, 2)]),
    )

    # Frame counts and timestamps.
    encoded(
        "frame_flood_16000.mkv",
        "16000 tiny frames, no declared count",
        lambda p: _mux(p, "matroska", "mjpeg", [(16, 16, 16_000)], rate=200),
    )
    encoded(
        "declared_16000_frames.mp4",
        "16000 frames declared",
        lambda p: _mux(p, "mp4", "mpeg4", [(16, 16, 16_000)], rate=200),
    )
    src = fixtures / _FASTSTART
    encoded(
        "pts_microsecond_steps.mp4",
        "every frame 1 us apart",
        lambda p: _retime(src, p, "mp4", Fraction(1, 1_000_000), lambda i: i),
    )
    encoded(
        "pts_millisecond_steps.mkv",
        "every frame 1 ms apart",
        lambda p: _retime(src, p, "matroska", Fraction(1, 1000), lambda i: i),
    )
    encoded(
        "pts_jump_forward.mp4",
        "timestamps jump by a day",
        lambda p: _retime(
            src, p, "mp4", Fraction(1, 30), lambda i: i if i < 100 else i + 30 * 86_400
        ),
    )
    encoded(
        "size_change_midstream.mkv",
        "64x64 then 128x128",
        lambda p: _mux(p, "matroska", "mjpeg", [(64, 64, 10), (128, 128, 10)]),
    )
    encoded(
        "size_change_past_limit.mkv",
        "64x64 then 4096x4096",
        lambda p: _mux(p, "matroska", "mjpeg", [(64, 64, 10), (4096, 4096, 2)]),
    )
    encoded("audio_only.mp4", "no video stream", _audio_only)

    # Broken C2PA carriers.
    c2pa_video = (fixtures / _C2PA_VIDEO).read_bytes()
    offset, _ = _box(c2pa_video, b"uuid")
    uuid_huge = bytearray(c2pa_video)
    uuid_huge[offset : offset + 4] = struct.pack(">I", 0x7FFFFFF0)
    put("c2pa_uuid_box_size_huge.mp4", bytes(uuid_huge), "C2PA uuid box claims 2 GB")
    uuid_tiny = bytearray(c2pa_video)
    uuid_tiny[offset : offset + 4] = struct.pack(">I", 4)
    put("c2pa_uuid_box_size_4.mp4", bytes(uuid_tiny), "C2PA uuid box smaller than its header")
    c2pa_jpeg = (fixtures / _C2PA_JPEG).read_bytes()
    app11, length = _jpeg_segment(c2pa_jpeg, 0xEB)
    put(
        "c2pa_app11_truncated.jpg",
        c2pa_jpeg[: app11 + 4 + length // 2],
        "file ends inside the JUMBF (APP11) segment",
    )
    stretched = bytearray(c2pa_jpeg)
    stretched[app11 + 2 : app11 + 4] = struct.pack(">H", 0xFFFF)
    put("c2pa_app11_length_0xffff.jpg", bytes(stretched), "APP11 length swallows the image")
    return made


def _patch_tiff_size(data: bytes, width: int, height: int) -> bytes:
    """A little-endian TIFF with its ImageWidth/ImageLength tags set to LONG ``width``/``height``."""
    assert data[:4] == b"II*\x00"
    out = bytearray(data)
    ifd = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[ifd : ifd + 2])[0]
    for k in range(count):
        entry = ifd + 2 + 12 * k
        tag = struct.unpack("<H", data[entry : entry + 2])[0]
        if tag in (256, 257):
            value = width if tag == 256 else height
            out[entry + 2 : entry + 12] = struct.pack("<HII", 4, 1, value)
    return bytes(out)


if __name__ == "__main__":  # pragma: no cover - a look at the files by hand
    from tests.conftest import FIXTURES

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for item in build(target, FIXTURES):
        print(f"{item.path.stat().st_size:>10}  {item.name:40}  {item.trick}")
