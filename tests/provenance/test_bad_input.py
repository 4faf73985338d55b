"""Broken, disguised and hostile inputs give a state with a reason, never an exception."""

from __future__ import annotations

import os
from pathlib import Path

from detectors.provenance import verify
from generator.signing import SignResult

from .conftest import remux


def test_truncated_signed_mp4(signed_clip: SignResult, tmp_path: Path) -> None:
    data = signed_clip.out.read_bytes()
    head = tmp_path / "head.mp4"
    head.write_bytes(data[:100])
    report = verify(head)
    assert report.state == "error" and "parsed" in (report.reason or "")
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    # The manifest survives in the first half; the media it binds does not.
    assert verify(half).state in ("invalid", "error")


def test_wrong_extension_is_sniffed(
    signed_clip: SignResult, dev_anchors: str, tmp_path: Path
) -> None:
    disguised = tmp_path / "holiday.jpg"
    disguised.write_bytes(signed_clip.out.read_bytes())
    report = verify(disguised, dev_anchors)
    assert report.state == "trusted" and report.mime == "video/mp4"


def test_bytes_input(signed_clip: SignResult, dev_anchors: str) -> None:
    assert verify(signed_clip.out.read_bytes(), dev_anchors).state == "trusted"


def test_fragmented_mp4(signed_clip: SignResult, tmp_path: Path) -> None:
    frag = remux(signed_clip.out, tmp_path / "frag.mp4", {"movflags": "frag_keyframe+empty_moov"})
    report = verify(frag)
    assert report.state in ("absent", "unsupported", "error")
    assert report.reason


def test_empty_text_random_and_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert verify(empty).state == "error"
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image")
    assert verify(text).state == "unsupported"
    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(4096))
    assert verify(noise).state in ("unsupported", "error")
    assert verify(tmp_path).state == "error"
    missing = verify(tmp_path / "missing.mp4")
    assert missing.state == "error" and "cannot read" in (missing.reason or "")


def test_fake_box_header(tmp_path: Path) -> None:
    # An ftyp header followed by a box claiming an absurd size.
    evil = tmp_path / "evil.mp4"
    evil.write_bytes(
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\xff\xff\xff\xffuuid" + b"\x00" * 64
    )
    assert verify(evil).state in ("error", "absent", "unsupported")


def test_huge_file_is_refused_before_parsing(signed_clip: SignResult) -> None:
    report = verify(signed_clip.out, max_bytes=1000)
    assert report.state == "error" and "limit" in (report.reason or "")


def test_bad_trust_anchors(signed_clip: SignResult) -> None:
    report = verify(signed_clip.out, trust_anchors_pem="not a certificate")
    assert report.state == "error" and "PEM" in (report.reason or "")


def test_remote_manifest_is_not_fetched(fixtures_dir: Path, identity, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import io

    import c2pa

    from generator.signing import GenerationInfo, build_manifest

    src = (fixtures_dir / "c2pa" / "assets" / "py_A.jpg").read_bytes()
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(identity.alg, identity.cert_pem, identity.key_pem, None)
    )
    with c2pa.Builder(build_manifest(GenerationInfo(model_id="m"), None)) as builder:
        builder.set_no_embed()
        # A port nothing listens on: if verify fetched, it would fail differently.
        builder.set_remote_url("http://127.0.0.1:9/manifest.c2pa")
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(src), out)
    remote = tmp_path / "remote.jpg"
    remote.write_bytes(out.getvalue())
    report = verify(remote)
    assert report.state == "remote_only"
    assert report.remote_url == "http://127.0.0.1:9/manifest.c2pa"


def test_isolated_verify_matches_and_times_out(signed_clip: SignResult, dev_anchors: str) -> None:
    from detectors.provenance import verify_isolated

    inline = verify(signed_clip.out, dev_anchors)
    isolated = verify_isolated(signed_clip.out, dev_anchors)
    assert isolated == inline and isolated.state == "trusted"
    slow = verify_isolated(signed_clip.out, dev_anchors, timeout_s=0.001)
    assert slow.state == "error" and "did not finish" in (slow.reason or "")
