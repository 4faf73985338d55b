"""PDQ hashing and hash banks: re-encode matches, other videos do not, index == brute force, file format."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors.base import MediaError
from detectors.hashing import (
    DEFAULT_PDQ_THRESHOLD,
    BankEntry,
    BankFormatError,
    BankMatcher,
    BruteForcePdqIndex,
    HashBank,
    MultiIndexPdqIndex,
    PdqHash,
    export_bank,
    hamming,
    import_bank,
    pdq_hash,
    pdq_hash_reference,
    sha256_file,
)
from pipeline.media import iter_frames

VIDEOS = [
    "liveportrait_d3_woman_talking.mp4",
    "sintel_trailer_clip_720p.mp4",
    "bbb_bunny_720p_seg49-51.mp4",
]


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@pytest.fixture(scope="module")
def keyframes(fixtures_dir: Path) -> dict[str, list[np.ndarray]]:
    return {
        v: [f.rgb for f in iter_frames(fixtures_dir / "videos" / v, every_s=2.0)] for v in VIDEOS
    }


@pytest.fixture(scope="module")
def bank(keyframes: dict[str, list[np.ndarray]]) -> HashBank:
    b = HashBank(name="severe-test", description="test bank")
    for rgb in keyframes[VIDEOS[0]]:
        b.add_pdq(
            pdq_hash(rgb),
            label="test removal",
            severity="critical",
            source_clip_id="clip-1",
            added_by="mod",
        )
    assert len(b.entries) >= 3
    return b


def test_reencoded_resized_frames_match(
    bank: HashBank, keyframes: dict[str, list[np.ndarray]]
) -> None:
    matcher = BankMatcher([bank])
    for rgb in keyframes[VIDEOS[0]]:
        small = np.asarray(
            Image.fromarray(_jpeg(rgb, 30)).resize((rgb.shape[1] // 2, rgb.shape[0] // 2))
        )
        hits = matcher.match_pdq(pdq_hash(small), t=1.0)
        assert hits and hits[0].distance <= DEFAULT_PDQ_THRESHOLD
        assert hits[0].bank == "severe-test" and hits[0].t == 1.0
        sig = hits[0].to_signal()
        assert sig.kind == "hash.match" and sig.explanation.threshold == DEFAULT_PDQ_THRESHOLD


def test_other_videos_do_not_match(bank: HashBank, keyframes: dict[str, list[np.ndarray]]) -> None:
    matcher = BankMatcher([bank])
    for v in VIDEOS[1:]:
        for rgb in keyframes[v]:
            assert matcher.match_pdq(pdq_hash(rgb)) == []


def test_low_quality_frames_are_neither_banked_nor_matched() -> None:
    flat = np.full((120, 160, 3), 7, np.uint8)
    h = pdq_hash(flat)
    assert h.quality < 50
    b = HashBank(name="flat")
    assert not b.add_pdq(h, label="x", severity="high")
    b.entries.append(BankEntry(h.hex, "pdq", "forced", "high", quality=h.quality))
    assert BankMatcher([b]).match_pdq(h) == []


def test_sha256_matching(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"hello")
    digest = sha256_file(f)
    b = HashBank(name="files")
    assert b.add(BankEntry(digest, "sha256", "known file", "high"))
    assert not b.add(BankEntry(digest, "sha256", "dup", "high"))
    hits = BankMatcher([b]).match_media(digest, [])
    assert [(m.entry.kind, m.distance) for m in hits] == [("sha256", 0)]
    assert BankMatcher([b]).match_media("0" * 64, []) == []


def test_multi_index_equals_brute_force(bank: HashBank) -> None:
    rng = np.random.default_rng(3)
    brute, mih = BruteForcePdqIndex(), MultiIndexPdqIndex()
    real = [e.hash for e in bank.entries]
    hashes = real + [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(3000)]
    for i, h in enumerate(hashes):
        brute.add(h, i)
        mih.add(h, i)
    for k in range(300):
        base = PdqHash(hashes[k % len(hashes)], 100).bits
        bits = np.unpackbits(base)
        bits[rng.choice(256, int(rng.integers(0, 60)), replace=False)] ^= 1
        q = np.packbits(bits).tobytes().hex()
        for radius in (0, 15, 31, 47):
            assert mih.search(q, radius) == brute.search(q, radius)
    assert hamming(hashes[0], hashes[0]) == 0
    fast = BankMatcher([bank])
    slow = BankMatcher([bank], brute_force=True)
    q = PdqHash(bank.entries[0].hash, 100)
    assert [m.to_dict() for m in fast.match_pdq(q)] == [m.to_dict() for m in slow.match_pdq(q)]


def test_export_import_round_trip(bank: HashBank, tmp_path: Path) -> None:
    b = HashBank(name=bank.name, description=bank.description, entries=list(bank.entries))
    b.add(BankEntry("ab" * 32, "sha256", "file ünïcode label", "medium", None, "mod"))
    path = tmp_path / "bank.jsonl"
    export_bank(b, path)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "greenroom-hashbank" and header["version"] == 1
    assert header["entries"] == len(b.entries) == len(lines) - 1
    back = import_bank(path)
    assert back.name == b.name and back.description == b.description
    assert [e.to_dict() for e in back.entries] == [e.to_dict() for e in b.entries]


def _valid_text() -> str:
    b = HashBank(name="ok")
    b.add(
        BankEntry("cd" * 32, "pdq", "x", "high", added_at="2026-01-01T00:00:00+00:00", quality=90)
    )
    return export_bank(b)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: "", "empty"),
        (lambda t: "not json\n", "line 1: not valid JSON"),
        (lambda t: t.replace('"greenroom-hashbank"', '"other"'), "not a greenroom-hashbank"),
        (lambda t: t.replace('"version": 1', '"version": 2'), "unsupported bank format version"),
        (lambda t: t.replace('"entries": 1', '"entries": 2'), "truncated"),
        (lambda t: t.replace('"bank": "ok"', '"bank": "../etc"'), "bank name"),
        (lambda t: t.replace("cd" * 32, "zz" * 32), "line 2: a pdq hash must be 64"),
        (lambda t: t.replace("cd" * 32, "cd" * 31), "64 lowercase hex"),
        (lambda t: t.replace('"kind": "pdq"', '"kind": "md5"'), "kind must be"),
        (lambda t: t.replace('"severity": "high"', '"severity": "huge"'), "severity"),
        (lambda t: t.replace('"label": "x"', '"label": ""'), "label"),
        (lambda t: t.replace("2026-01-01T00:00:00+00:00", "yesterday"), "ISO-8601"),
        (lambda t: t.replace('"quality": 90', '"quality": 900'), "quality"),
        (lambda t: t.replace('"quality": 90', '"quality": 90, "extra": 1'), "unknown field"),
        (lambda t: t + t.splitlines()[1] + "\n", "duplicate"),
        (lambda t: t.splitlines()[0] + "\n[1, 2]\n", "expected a JSON object"),
    ],
)
def test_invalid_bank_files(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    path.write_text(mutate(_valid_text()), encoding="utf-8")
    with pytest.raises(BankFormatError, match=message):
        import_bank(path)


def test_unreadable_bank_files(tmp_path: Path) -> None:
    with pytest.raises(BankFormatError, match="cannot read"):
        import_bank(tmp_path / "missing.jsonl")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BankFormatError, match="UTF-8"):
        import_bank(binary)


def test_pdq_bad_input() -> None:
    with pytest.raises(MediaError):
        pdq_hash(np.zeros((10, 10), np.uint8))
    with pytest.raises(MediaError):
        pdq_hash(np.zeros((1, 1, 3), np.uint8))


def test_centre_crop_bank_entries_catch_a_letterbox_crop(
    keyframes: dict[str, list[np.ndarray]],
) -> None:
    from detectors.hashing import pdq_hash_crops

    rgb = keyframes[VIDEOS[0]][1]
    h, w = rgb.shape[:2]
    cropped = np.ascontiguousarray(
        rgb[int(h * 0.05) : h - int(h * 0.05), int(w * 0.05) : w - int(w * 0.05)]
    )
    plain = HashBank(name="plain")
    plain.add_pdq(pdq_hash(rgb), label="x", severity="high")
    with_crops = HashBank(name="crops")
    for _, ph in pdq_hash_crops(rgb):
        with_crops.add_pdq(ph, label="x", severity="high")
    q = pdq_hash(cropped)
    assert BankMatcher([plain]).match_pdq(q) == []  # PDQ alone is not crop-robust
    assert BankMatcher([with_crops]).match_pdq(q)


# ---------------------------------------------------------------- fast PDQ == reference


def _distance(a: PdqHash, b: PdqHash) -> int:
    return hamming(a.hex, b.hex)


@pytest.fixture(scope="module")
def real_images(fixtures_dir: Path) -> list[tuple[str, np.ndarray]]:
    """Every fixture face photo, and keyframes of every fixture video."""
    images = [
        (str(p.relative_to(fixtures_dir)), np.asarray(Image.open(p).convert("RGB")))
        for p in sorted((fixtures_dir / "faces").rglob("*"))
        if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    ]
    for video in sorted((fixtures_dir / "videos").glob("*.mp4")):
        images += [(f"{video.name}@{f.t:.1f}s", f.rgb) for f in iter_frames(video, every_s=2.0)]
    return images


def test_fast_pdq_equals_the_reference_on_real_images(
    real_images: list[tuple[str, np.ndarray]],
) -> None:
    assert len(real_images) >= 100
    distances, quality_diffs = [], []
    for name, rgb in real_images:
        fast, ref = pdq_hash(rgb), pdq_hash_reference(rgb)
        distances.append(_distance(fast, ref))
        quality_diffs.append(abs(fast.quality - ref.quality))
        # A float rounding difference may flip a bit sitting on the median, no more.
        assert distances[-1] <= 2, (name, distances[-1])
        assert quality_diffs[-1] <= 1, (name, fast.quality, ref.quality)
    exact = sum(d == 0 for d in distances)
    assert exact >= 0.95 * len(real_images), f"{exact}/{len(real_images)} identical"
    assert sum(q == 0 for q in quality_diffs) >= 0.95 * len(real_images)


def _smooth(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like image: random colours on a coarse grid, interpolated up."""
    coarse = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))


def _odd_images() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    out: list[tuple[str, np.ndarray]] = []
    for h, w in [(2, 2), (4, 9), (5, 5), (7, 300), (63, 65), (64, 64), (65, 64), (100, 3000),
                 (3000, 100), (129, 257), (1080, 1920)]:  # fmt: skip
        out.append((f"noise {h}x{w}", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
        out.append((f"smooth {h}x{w}", _smooth(rng, h, w)))
    for value in (0, 128, 255):
        out.append((f"grey {value} 50x70", np.full((50, 70, 3), value, np.uint8)))
        out.append((f"grey {value} 720p", np.full((720, 1280, 3), value, np.uint8)))
    out.append(("colour 90x160", np.full((90, 160, 3), (200, 30, 90), np.uint8)))
    out.append(("colour 64x64", np.full((64, 64, 3), (13, 250, 7), np.uint8)))
    big = _smooth(rng, 800, 1400)
    out.append(("crop view", big[17:737, 30:1310]))
    out.append(("strided view", big[::2, ::3]))
    out.append(("flipped view", big[::-1, ::-1]))
    out.append(("BGR view", big[..., ::-1]))
    out.append(("Fortran order", np.asfortranarray(big)))
    return out


@pytest.mark.parametrize(
    ("name", "rgb"), _odd_images(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_fast_pdq_equals_the_reference_on_odd_sizes_and_layouts(name: str, rgb: np.ndarray) -> None:
    fast, ref = pdq_hash(rgb), pdq_hash_reference(rgb)
    assert _distance(fast, ref) <= 2 and abs(fast.quality - ref.quality) <= 1
    if min(rgb.shape[:2]) < 5 or np.ptp(rgb) == 0:
        # Below 5 px the reference returns zero bits; a flat image's bits are its
        # float rounding noise, which the fast path repeats exactly.
        assert fast == ref


def test_fast_pdq_rejects_what_the_reference_rejects() -> None:
    for bad in (
        np.zeros((10, 1, 3), np.uint8),
        np.zeros((1, 10, 3), np.uint8),
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
    ):
        for fn in (pdq_hash, pdq_hash_reference):
            with pytest.raises(MediaError):
                fn(bad)


def test_fast_pdq_quality_equals_the_reference_below_the_cap(
    real_images: list[tuple[str, np.ndarray]],
) -> None:
    # Real photos almost all score the capped 100; faded copies spread the scores
    # over 0-100, where an error in the quality arithmetic would show.
    qualities = []
    for _, rgb in real_images[::4]:
        for alpha in (0.03, 0.08, 0.15, 0.3):
            faded = (rgb * alpha + 128 * (1 - alpha)).astype(np.uint8)
            fast, ref = pdq_hash(faded), pdq_hash_reference(faded)
            assert abs(fast.quality - ref.quality) <= 1 and _distance(fast, ref) <= 2
            qualities.append((fast.quality, ref.quality))
    below_cap = [(f, r) for f, r in qualities if r < 100]
    assert len(below_cap) >= 50 and len({r for _, r in below_cap}) >= 20
    assert sum(f == r for f, r in below_cap) >= 0.95 * len(below_cap)
