"""Shared material for the generate tests: the RANDOM-WEIGHT tiny generator and a server that uses it.

No pretrained text-to-video weights exist offline, so every test here runs
the real diffusers pipeline with random weights built from a tiny config
(``generator.video.build_tiny_random_t2v``); its frames are noise-like, which
is all the watermark / signing / fingerprint path needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import detectors  # noqa: F401  - the torchvision hook must precede diffusers
from generator.video import DiffusersTextToVideo, build_tiny_random_t2v
from tests.conftest import LiveServer, start_live_server

# Small frames keep a generation to about a second on one core.
SIZE = 128


@pytest.fixture(scope="session")
def tiny_t2v() -> DiffusersTextToVideo:
    return build_tiny_random_t2v(seed=0, threads=1)


@pytest.fixture(scope="module")
def gen_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_t2v: DiffusersTextToVideo
) -> Iterator[LiveServer]:
    """A live server whose generation service uses the session's tiny generator at 128x128."""
    for live in start_live_server(tmp_path_factory.mktemp("gen") / "data"):
        generation = live.services.pipeline.generation
        generation._generator = tiny_t2v
        generation.width = generation.height = SIZE
        yield live


def dev_anchors(live: LiveServer) -> str:
    """The data directory's development CA (created on the first signature)."""
    return (Path(live.settings.data_dir) / "certs" / "dev" / "trust-anchors.pem").read_text()
