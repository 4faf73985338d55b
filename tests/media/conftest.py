"""The hostile-media corpus, built once per session from the real fixtures (see corpus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media.corpus import Hostile, build


@pytest.fixture(scope="session")
def hostile_corpus(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Hostile]:
    for needed in ("videos", "faces", "c2pa/assets"):
        if not (fixtures_dir / needed).is_dir():
            pytest.skip(f"SKIPPED LOUDLY: no fixtures at {fixtures_dir / needed}")
    return build(tmp_path_factory.mktemp("hostile-corpus"), fixtures_dir)
