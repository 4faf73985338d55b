"""Shared material for the provenance tests: dev certificates and small generated videos."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from generator.certs import DevCerts, create_dev_certs
from generator.signing import GenerationInfo, SigningIdentity, SignResult, sign_file
from generator.watermark import encode_mp4


def synthetic_frames(
    seed: int, seconds: float = 2.0, fps: int = 24, size: tuple[int, int] = (320, 240)
) -> Iterator[np.ndarray]:
    """Textured frames that drift over time (PDQ needs texture; flat frames hash alike)."""
    w, h = size
    rng = np.random.default_rng(seed)
    # Low-frequency texture: a coarse random grid upsampled, so re-encoding
    # keeps it (pure pixel noise would be destroyed by H.264).
    coarse = rng.integers(0, 256, size=(h // 16 + 4, w // 16 + 4, 3), dtype=np.uint8)
    tex = np.kron(coarse, np.ones((16, 16, 1), dtype=np.uint8))
    for i in range(int(seconds * fps)):
        dx = (i * 2) % 32
        frame = tex[:h, dx : dx + w].copy()
        # A bright square moving across: content that changes from keyframe to keyframe.
        x = int((i / (seconds * fps)) * (w - 60))
        frame[90:150, x : x + 60] = (255, 255, 255)
        yield frame


def make_mp4(path: Path, seed: int, seconds: float = 2.0, with_audio: bool = False) -> Path:
    if not with_audio:
        return encode_mp4(synthetic_frames(seed, seconds), path, fps=24, threads=1)
    import av

    container = av.open(str(path), "w")
    v = container.add_stream("libx264", rate=24)
    v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
    a = container.add_stream("aac", rate=48000)
    a.layout = "mono"
    for rgb in synthetic_frames(seed, seconds):
        container.mux(v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
    container.mux(v.encode(None))
    t = np.arange(int(48000 * seconds)) / 48000
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, len(tone), 1024):
        chunk = tone[start : start + 1024]
        af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        af.sample_rate = 48000
        af.pts = start
        af.time_base = Fraction(1, 48000)
        container.mux(a.encode(af))
    container.mux(a.encode(None))
    container.close()
    return path


def remux(src: Path, dst: Path, options: dict[str, str] | None = None) -> Path:
    """Copy the streams into a fresh container: the C2PA box does not survive."""
    import av

    with (
        av.open(str(src)) as inp,
        av.open(str(dst), "w", format="mp4", options=options or {}) as out,
    ):
        mapping = {
            s.index: out.add_stream_from_template(s)
            for s in inp.streams
            if s.type in ("video", "audio")
        }
        for packet in inp.demux():
            if packet.dts is None or packet.stream.index not in mapping:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    return dst


@pytest.fixture(scope="session")
def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    return create_dev_certs(tmp_path_factory.mktemp("devcerts"))


@pytest.fixture(scope="session")
def identity(dev_certs: DevCerts) -> SigningIdentity:
    return SigningIdentity.from_files(dev_certs.signer_cert, dev_certs.signer_key)


@pytest.fixture(scope="session")
def dev_anchors(dev_certs: DevCerts) -> str:
    return dev_certs.trust_anchors.read_text()


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prov")


@pytest.fixture(scope="session")
def clip_mp4(work: Path) -> Path:
    return make_mp4(work / "clip.mp4", seed=1)


@pytest.fixture(scope="session")
def signed_clip(work: Path, clip_mp4: Path, identity: SigningIdentity) -> SignResult:
    info = GenerationInfo(
        model_id="tiny-t2v-random-weights", decision_id="dec-42", clip_id="clip-001"
    )
    return sign_file(clip_mp4, work / "clip.signed.mp4", identity, info)
