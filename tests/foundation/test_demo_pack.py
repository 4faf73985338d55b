"""The in-repo demo media pack: every file listed with its source, a matching sha256 and an allowed licence."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from greenroom.demo_pack import (
    ALLOWED_LICENCES,
    MAX_PACK_BYTES,
    extra,
    manifest,
    media,
    pack_dir,
)
from greenroom.settings import Settings

# Fixture sources of photos and videos of real people: never in the pack.
REAL_PEOPLE_SOURCES = (
    "serengil/deepface",
    "ageitgey/face_recognition",
    "KwaiVGI/LivePortrait",
    "bagashvilit/facial_recognition_bias",
    "TMElyralab/MuseTalk",
)
# Text files of the pack itself (not media, not in the manifest).
PACK_DOCS = {"MANIFEST.tsv", "README.md"}


def test_every_file_is_in_the_manifest_with_its_sha256_and_an_allowed_licence() -> None:
    root = pack_dir()
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - PACK_DOCS
    rows = manifest()
    listed = [r["file"] for r in rows]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert set(listed) == on_disk
    for row in rows:
        data = (root / row["file"]).read_bytes()
        assert int(row["bytes"]) == len(data), row["file"]
        assert row["sha256"] == hashlib.sha256(data).hexdigest(), row["file"]
        assert row["licence"] in ALLOWED_LICENCES, row
        assert row["attribution"].strip(), row["file"]
        # owner/repo@commit/path (a derived file adds how it was made in ``notes``)
        assert re.match(r"[\w.-]+/[\w.-]+@[0-9a-f]{7,40}/\S", row["source"]), row["source"]
        assert not row["source"].startswith(REAL_PEOPLE_SOURCES), row


def test_pack_is_within_its_size_budget() -> None:
    total = sum(int(r["bytes"]) for r in manifest())
    assert total <= MAX_PACK_BYTES, f"{total} bytes"
    # Each video a short cut.
    for row in manifest():
        if row["file"].endswith(".mp4"):
            assert int(row["bytes"]) <= 1024 * 1024, row["file"]


def test_media_comes_from_the_pack_first_and_extras_only_from_the_fixtures(
    tmp_path: Path,
) -> None:
    fixtures = tmp_path / "fixtures"
    (fixtures / "videos").mkdir(parents=True)
    (fixtures / "videos" / "only-here.mp4").write_bytes(b"x")
    (fixtures / "c2pa" / "assets").mkdir(parents=True)
    (fixtures / "c2pa" / "assets" / "CA.jpg").write_bytes(b"not the pack's")
    settings = Settings(data_dir=tmp_path / "d", fixtures_dir=fixtures)
    assert media(settings, "c2pa/assets/CA.jpg") == pack_dir() / "c2pa/assets/CA.jpg"
    assert media(settings, "videos/only-here.mp4") == fixtures / "videos" / "only-here.mp4"
    assert media(settings, "videos/nowhere.mp4") is None
    assert extra(settings, "characters/tux/tux_boot.png") is None
    gone = Settings(data_dir=tmp_path / "d", fixtures_dir=tmp_path / "no-such-fixtures")
    assert media(gone, "characters/tux/tux_boot.png") == pack_dir() / "characters/tux/tux_boot.png"
    assert extra(gone, "videos/only-here.mp4") is None
