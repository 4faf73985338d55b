"""Helpers for the gate tests: policy texts built from the shipped default, fixture media, DB counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from policies.loader import DEFAULT_DIR

# A rule that sends every upload to a human: lets the tests drive the review
# path with real media whatever the detectors find.
REVIEW_UPLOADS_RULE = """
  - id: uploads_reviewed
    description: Every upload goes to a human (gate test policy).
    condition: context.stage == "upload"
    outcome: review
    severity: low
    reason: upload_review
    queue: uploads
    priority: 75
"""

BROKEN_RULE = """
  - id: broken_rule
    description: A CEL syntax error.
    condition: nudity.max_score >=
    outcome: block
    reason: broken
"""


def default_texts() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}


def with_rule(rule: str, file: str = "content.yaml") -> dict[str, str]:
    texts = default_texts()
    texts[file] = texts[file].rstrip("\n") + "\n" + rule
    return texts


def counts(store: Any) -> dict[str, int]:
    tables = (
        "clips",
        "scans",
        "signals",
        "decisions",
        "queue_items",
        "blobs",
        "policy_versions",
        "policy_state",
        "audit_log",
    )
    return {t: int(store.query(f"SELECT count(*) FROM {t}")[0][0]) for t in tables}


@pytest.fixture(scope="session")
def face_image(fixtures_dir: Path) -> Path:
    return fixtures_dir / "faces" / "deepface" / "img5.jpg"


@pytest.fixture(scope="session")
def bunny_video(fixtures_dir: Path) -> Path:
    return fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"


@pytest.fixture(scope="session")
def scenery_video(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5.5 s of snowy mountains with nobody in them (the Sintel trailer's opening), 720p.

    For tests that need a video no face check fires on: YuNet, the default
    face detector, finds unsure "faces" in Big Buck Bunny, and unsure faces are
    held for review (detectors/faces/realism.py).
    """
    from tests.likeness.clips import splice

    out = tmp_path_factory.mktemp("gate-clips") / "scenery.mp4"
    sintel = fixtures_dir / "videos" / "sintel_trailer_clip_720p.mp4"
    return splice(out, [(sintel, 0.0, 5.5)], size=(1280, 720))
