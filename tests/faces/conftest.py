"""Face backends loaded once per test session, and helpers to read the face fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.faces import build_detector, build_embedder
from detectors.faces.types import FaceDetector, FaceEmbedder

DETECTOR_NAMES = ("dlib-hog", "scrfd", "yunet")


@pytest.fixture(scope="session")
def faces_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "faces"


@pytest.fixture(scope="session")
def detectors_by_name(test_models_dir: Path) -> dict[str, FaceDetector]:
    return {name: build_detector(name, test_models_dir, threads=1) for name in DETECTOR_NAMES}


@pytest.fixture(scope="session")
def dlib_embedder() -> FaceEmbedder:
    return build_embedder("dlib-resnet", None, threads=1)
