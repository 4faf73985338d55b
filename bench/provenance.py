"""Provenance benchmark: watermark, sign and verify a 10-second 720p mp4; own-output lookup speed.

Run: ``.venv/bin/python -m bench.provenance [--fixtures DIR] [--threads N] [--repeats N]``.
Prints the figures and writes ``bench/results/provenance.json``.

The clip is the first 10 s of ``videos/sintel_trailer_clip_720p.mp4``
(1280x720, 30 fps) re-encoded to H.264 without audio. Signing uses a fresh
``greenroom certs dev`` identity (ES256, no timestamp authority); verification
uses its CA as the trust anchor. Times are wall-clock medians on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from detectors.fingerprint import Keyframe, OwnOutputIndex, fingerprint_clip
from detectors.hashing import PdqHash
from detectors.provenance import verify
from generator.certs import create_dev_certs
from generator.signing import GenerationInfo, SigningIdentity, sign_file
from generator.watermark import encode_mp4, watermark_frame, watermark_video
from pipeline.media import MediaLimits, iter_frames, probe_video

REPO = Path(__file__).resolve().parent.parent


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    runs, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs, result


def make_clip(src: Path, out: Path, seconds: float, threads: int) -> Path:
    import av

    def frames() -> Any:
        with av.open(str(src)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in c.decode(stream):
                if frame.time is not None and frame.time >= seconds:
                    return
                yield frame.to_ndarray(format="rgb24")

    with av.open(str(src)) as c:
        fps = float(c.streams.video[0].average_rate or 30)
    return encode_mp4(frames(), out, fps=fps, crf=23, threads=threads)


def random_index(n_clips: int, frames_per_clip: int, backend: str, seed: int = 0) -> OwnOutputIndex:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_clips):
        for k in range(frames_per_clip):
            value = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()
            rows.append(
                {"clip_id": f"c{c}", "kind": "pdq", "value": value, "t": k * 0.5, "quality": 100}
            )
    return OwnOutputIndex.from_rows(rows, backend=backend)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    src = args.fixtures / "videos" / "sintel_trailer_clip_720p.mp4"
    results: dict[str, Any] = {"threads": args.threads, "repeats": args.repeats, "source": src.name}
    with tempfile.TemporaryDirectory(prefix="bench-prov-") as tmp_s:
        tmp = Path(tmp_s)
        clip = make_clip(src, tmp / "clip.mp4", args.seconds, args.threads)
        info = probe_video(clip, MediaLimits())
        results["clip"] = {
            "width": info.width,
            "height": info.height,
            "duration_s": round(info.duration_s, 2),
            "fps": info.fps,
            "bytes": clip.stat().st_size,
        }

        frame = next(iter_frames(clip, every_s=1.0)).rgb
        med, _, _ = timed(lambda: watermark_frame(frame, 1.3), 50)
        results["watermark_frame_ms"] = round(med * 1000, 3)
        med, runs, marked = timed(
            lambda: watermark_video(clip, tmp / "marked.mp4", threads=args.threads),
            max(1, args.repeats // 2),
        )
        results["watermark_video_s"] = round(med, 3)
        results["watermark_video_runs_s"] = [round(r, 3) for r in runs]

        certs = create_dev_certs(tmp / "certs")
        identity = SigningIdentity.from_files(certs.signer_cert, certs.signer_key)
        anchors = certs.trust_anchors.read_text()
        gen = GenerationInfo(model_id="bench", decision_id="d", clip_id="bench-clip")
        med, runs, signed = timed(
            lambda: sign_file(marked, tmp / "signed.mp4", identity, gen), args.repeats
        )
        results["sign_s"] = round(med, 4)
        results["sign_runs_s"] = [round(r, 4) for r in runs]
        results["signed_bytes"] = signed.out.stat().st_size

        med, runs, report = timed(lambda: verify(signed.out, anchors), args.repeats * 2)
        assert report.state == "trusted", report.reason
        results["verify_trusted_s"] = round(med, 4)
        results["verify_runs_s"] = [round(r, 4) for r in runs]
        med, _, report = timed(lambda: verify(clip), args.repeats * 2)
        assert report.state == "absent"
        results["verify_absent_s"] = round(med, 4)
        tampered = tmp / "tampered.mp4"
        data = bytearray(signed.out.read_bytes())
        data[data.find(b"mdat") + 4096] ^= 0xFF
        tampered.write_bytes(bytes(data))
        med, _, report = timed(lambda: verify(tampered, anchors), args.repeats * 2)
        assert report.state == "invalid"
        results["verify_tampered_s"] = round(med, 4)

        # Own-output fingerprints: keyframes every 0.5 s, then lookups.
        med, _, fp = timed(
            lambda: fingerprint_clip(
                "bench-clip", iter_frames(signed.out, every_s=0.5), path=signed.out
            ),
            1,
        )
        results["fingerprint_clip_s"] = round(med, 3)
        results["fingerprint_keyframes"] = len(fp.keyframes)
        queries = [Keyframe(k.t, PdqHash(k.pdq.hex, k.pdq.quality)) for k in fp.keyframes]
        lookups: dict[str, Any] = {}
        for backend in ("brute", "mih"):
            index = random_index(2000, 20, backend)
            index.add(fp)
            med, _, match = timed(partial(index.lookup, None, queries), args.repeats)
            assert match is not None and match.clip_id == "bench-clip"
            lookups[backend] = {
                "entries": 2000 * 20 + len(queries),
                "lookup_ms": round(med * 1000, 2),
            }
        results["own_output_lookup"] = lookups

    print(f"clip: {results['clip']}")
    print(
        f"watermark: {results['watermark_frame_ms']} ms/frame, {results['watermark_video_s']} s per clip (decode+mark+encode)"
    )
    print(
        f"sign: {results['sign_s']} s   verify (trusted): {results['verify_trusted_s']} s   "
        f"verify (absent): {results['verify_absent_s']} s   verify (tampered): {results['verify_tampered_s']} s"
    )
    print(
        f"fingerprint: {results['fingerprint_clip_s']} s for {results['fingerprint_keyframes']} keyframes"
    )
    for backend, row in lookups.items():
        print(f"own-output lookup ({backend}, {row['entries']} keyframes): {row['lookup_ms']} ms")
    out = REPO / "bench" / "results" / "provenance.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
