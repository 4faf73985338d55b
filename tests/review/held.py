"""Uploads held for review: a test policy sends every upload to a human for the length of a post."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policies.loader import DEFAULT_DIR
from tests.conftest import LiveServer

REVIEW_UPLOADS = """
  - id: test_uploads_reviewed
    description: Every upload goes to a human (a test policy).
    condition: context.stage == "upload"
    outcome: review
    severity: low
    reason: upload_review
    queue: uploads
    priority: 30
"""


def held_upload(live: LiveServer, who: str, image: Path, prompt: str = "") -> dict[str, Any]:
    """Post ``image`` as ``who`` under a review-everything policy; the answer (status queued)."""
    policies = live.services.pipeline.policies
    default = policies.state()["active"]
    texts = {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}
    texts["content.yaml"] = texts["content.yaml"].rstrip("\n") + "\n" + REVIEW_UPLOADS
    policies.save(texts, None, "tests: review every upload", activate=True)
    try:
        with live.client(who) as c:
            r = c.post(
                "/clips",
                files={"file": (image.name, image.read_bytes())},
                data={"prompt": prompt} if prompt else {},
            )
    finally:
        policies.activate(default, None)
    assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    return r.json()  # type: ignore[no-any-return]
