"""Re-encoded copies of fixture media: what a re-upload looks like (used by benchmarks and tests)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

from PIL import Image


def reencode_image(src: Path, dst: Path, scale: float = 0.6, quality: int = 40) -> Path:
    """A JPEG re-encode at a smaller size: a typical re-upload of a still."""
    with Image.open(src) as img:
        rgb = img.convert("RGB")
        size = (max(2, int(rgb.width * scale)), max(2, int(rgb.height * scale)))
        buf = io.BytesIO()
        rgb.resize(size).save(buf, format="JPEG", quality=quality)
    dst.write_bytes(buf.getvalue())
    return dst


def reencode_video(src: Path, dst: Path) -> Path:
    """A real H.264 re-encode at half resolution and low quality (CRF 32)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        rate = s_in.average_rate or 25
        s_out = out.add_stream("libx264", rate=rate)
        s_out.width = (s_in.codec_context.width // 2) // 2 * 2
        s_out.height = (s_in.codec_context.height // 2) // 2 * 2
        s_out.pix_fmt = "yuv420p"
        s_out.options = {"crf": "32", "preset": "veryfast"}
        for i, frame in enumerate(inp.decode(s_in)):
            img = frame.reformat(width=s_out.width, height=s_out.height, format="yuv420p")
            img.pts = i
            img.time_base = Fraction(1, round(float(rate)))
            for pkt in s_out.encode(img):
                out.mux(pkt)
        for pkt in s_out.encode():
            out.mux(pkt)
    return dst
