"""Own-output recognition: strip the C2PA metadata by re-muxing and still find the clip id."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.base import DetectorError
from detectors.fingerprint import ROW_KEYS, OwnOutputIndex, fingerprint_clip, keyframe_hashes
from detectors.hashing import sha256_file
from detectors.provenance import verify
from generator.signing import SignResult
from pipeline.media import iter_frames

from .conftest import make_mp4, remux


def _frames(path: Path) -> list[tuple[float, object]]:
    return [(f.t, f.rgb) for f in iter_frames(path, every_s=0.5)]


@pytest.fixture(scope="module")
def index_rows(signed_clip: SignResult, work: Path) -> list[dict]:
    # Three of our clips: the signed one and two unrelated generations.
    index = OwnOutputIndex()
    index.add(
        fingerprint_clip(
            "clip-001", iter_frames(signed_clip.out, every_s=0.5), path=signed_clip.out
        )
    )
    for n, seed in ((2, 7), (3, 11)):
        other = make_mp4(work / f"other{n}.mp4", seed=seed)
        index.add(fingerprint_clip(f"clip-00{n}", iter_frames(other, every_s=0.5), path=other))
    return index.rows()


@pytest.fixture(scope="module")
def stripped(signed_clip: SignResult, work: Path) -> Path:
    return remux(signed_clip.out, work / "stripped.mp4")


def test_remux_strips_the_manifest(stripped: Path, signed_clip: SignResult) -> None:
    assert verify(signed_clip.out).state == "valid_untrusted"
    assert verify(stripped).state == "absent"
    assert sha256_file(stripped) != sha256_file(signed_clip.out)


@pytest.mark.parametrize("backend", ["mih", "brute"])
def test_stripped_upload_is_recognised(
    index_rows: list[dict], stripped: Path, backend: str
) -> None:
    index = OwnOutputIndex.from_rows(index_rows, backend=backend)
    match = index.lookup_media(iter_frames(stripped, every_s=0.5), stripped)
    assert match is not None and match.clip_id == "clip-001"
    assert match.method == "pdq-keyframes"
    assert match.details["matched_keyframes"] == match.details["usable_keyframes"] >= 3
    assert match.details["max_distance"] <= match.details["threshold"]
    report = verify(stripped).with_own_output(match)
    assert report.own_output == "clip-001"
    assert report.to_signal().data["own_output"] == "clip-001"


def test_reencoded_upload_is_recognised(index_rows: list[dict], stripped: Path, work: Path) -> None:
    from generator.watermark import encode_mp4

    reencoded = encode_mp4(
        (rgb for _, rgb in _frames(stripped)), work / "reenc.mp4", fps=2, crf=32, threads=1
    )
    match = OwnOutputIndex.from_rows(index_rows).lookup_media(
        iter_frames(reencoded, every_s=0.5), reencoded
    )
    assert match is not None and match.clip_id == "clip-001"


def test_exact_copy_matches_by_sha256(index_rows: list[dict], signed_clip: SignResult) -> None:
    match = OwnOutputIndex.from_rows(index_rows).lookup_media(iter(()), signed_clip.out)
    assert match is not None and (match.clip_id, match.method) == ("clip-001", "sha256")


def test_unrelated_video_is_not_ours(
    index_rows: list[dict], fixtures_dir: Path, work: Path
) -> None:
    index = OwnOutputIndex.from_rows(index_rows)
    stranger = make_mp4(work / "stranger.mp4", seed=99)
    assert index.lookup_media(iter_frames(stranger, every_s=0.5), stranger) is None
    real = fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"
    assert index.lookup_media(iter_frames(real, every_s=0.5, max_side=640), real) is None


def test_mih_and_brute_force_agree(index_rows: list[dict], work: Path, stripped: Path) -> None:
    mih = OwnOutputIndex.from_rows(index_rows, backend="mih")
    brute = OwnOutputIndex.from_rows(index_rows, backend="brute")
    queries = keyframe_hashes(_frames(stripped)) + keyframe_hashes(_frames(work / "other2.mp4"))
    for k in queries:
        for radius in (0, 15, 31, 60):
            assert mih._pdq.search(k.pdq.hex, radius) == brute._pdq.search(k.pdq.hex, radius)
    assert mih.lookup(None, queries[:4]) == brute.lookup(None, queries[:4])


def test_rows_round_trip(index_rows: list[dict], tmp_path: Path) -> None:
    assert all(set(r) == set(ROW_KEYS) for r in index_rows)
    assert {r["kind"] for r in index_rows} == {"sha256", "pdq"}
    index = OwnOutputIndex.from_rows(index_rows)
    assert len(index) == 3 and index.rows() == index_rows
    index.save_jsonl(tmp_path / "fp.jsonl")
    assert OwnOutputIndex.load_jsonl(tmp_path / "fp.jsonl").rows() == index_rows


def test_bad_rows_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="64 hex"):
        OwnOutputIndex.from_rows([{"clip_id": "c", "kind": "pdq", "value": "xyz"}])
    with pytest.raises(DetectorError, match="unknown kind"):
        OwnOutputIndex.from_rows([{"clip_id": "c", "kind": "md5", "value": "0" * 64}])
    with pytest.raises(DetectorError, match="lacks"):
        OwnOutputIndex.from_rows([{"kind": "pdq", "value": "0" * 64}])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(DetectorError, match="line 1"):
        OwnOutputIndex.load_jsonl(bad)
    with pytest.raises(ValueError, match="backend"):
        OwnOutputIndex(backend="faiss")  # type: ignore[arg-type]


def test_flat_frames_never_match(tmp_path: Path) -> None:
    import numpy as np

    black = [(t * 0.5, np.zeros((240, 320, 3), dtype=np.uint8)) for t in range(4)]
    index = OwnOutputIndex()
    index.add(fingerprint_clip("dark-clip", black))
    assert index.lookup(None, keyframe_hashes(black)) is None
