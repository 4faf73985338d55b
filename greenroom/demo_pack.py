"""Where the demo's media comes from: the in-repo pack first, the shared fixtures for extras.

The pack (``greenroom/demo_media/``, shipped as package data) holds a few
megabytes of redistributable media, each file listed with its source, licence
and attribution in ``MANIFEST.tsv``. A file the pack does not have (e.g. the
public figure's photo the likeness demo also protects) is taken from
``settings.fixtures_dir`` when that folder exists, so a fresh clone seeds from
the pack alone and a development checkout with ``../shared`` seeds a little more.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from greenroom.settings import Settings

# Licences the pack may hold (SPDX ids as written in MANIFEST.tsv's licence column).
ALLOWED_LICENCES = frozenset({"CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "MIT OR Apache-2.0"})
# The pack stays small enough to live in git.
MAX_PACK_BYTES = 6 * 1024 * 1024


def pack_dir() -> Path:
    """The pack folder (a real folder: the package is installed unzipped, editable or wheel)."""
    return Path(str(resources.files("greenroom").joinpath("demo_media")))


def manifest() -> list[dict[str, str]]:
    """The pack's MANIFEST.tsv rows: file, bytes, sha256, source, licence, attribution, notes."""
    with (pack_dir() / "MANIFEST.tsv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def media(settings: Settings, rel: str) -> Path | None:
    """``rel`` from the pack, else from the shared fixtures, else None."""
    for root in (pack_dir(), Path(settings.fixtures_dir)):
        path = root / rel
        if path.is_file():
            return path
    return None


def extra(settings: Settings, rel: str) -> Path | None:
    """``rel`` from the shared fixtures only (what the pack may not hold), else None."""
    path = Path(settings.fixtures_dir) / rel
    return path if path.is_file() else None
