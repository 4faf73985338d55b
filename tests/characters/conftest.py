"""Session-wide pieces for the character tests: the real MiniLM model and the fixture characters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.characters import load_fixture_characters, load_prompts
from detectors.characters import CharacterRef, MiniLMTextEmbedder
from detectors.characters.names import load_common_words


@pytest.fixture(scope="session")
def embedder() -> MiniLMTextEmbedder:
    return MiniLMTextEmbedder()


@pytest.fixture(scope="session")
def common_words() -> frozenset[str]:
    return load_common_words()


@pytest.fixture(scope="session")
def fixture_characters(
    fixtures_dir: Path,
) -> tuple[list[CharacterRef], dict[str, list[np.ndarray]]]:
    return load_fixture_characters(fixtures_dir)


@pytest.fixture(scope="session")
def prompts() -> list[dict]:
    return load_prompts()
