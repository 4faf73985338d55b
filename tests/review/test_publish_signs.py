"""A moderator's publish of a generated clip that was never signed signs it first, or is refused.

The server signs with a configured certificate whose key file the test
breaks and then repairs: a generation whose output goes to review fails to
sign (the clip stays queued, unsigned); a publish while the key is broken is
refused and changes nothing; once repaired, the publish signs and publishes
in one transaction. Uses the tiny random-weight generator (labelled so).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import detectors  # noqa: F401  - the torchvision hook must precede diffusers
from generator.certs import create_dev_certs
from generator.video import build_tiny_random_t2v
from pipeline.generate import SigningFailed
from policies.loader import DEFAULT_DIR
from tests.conftest import LiveServer, start_live_server

REVIEW_OUTPUTS = """
  - id: review_test_outputs_reviewed
    description: Every generated output goes to a human (review test policy).
    condition: context.stage == "output"
    outcome: review
    severity: low
    reason: output_review
    queue: generated_review
    priority: 30
"""


@pytest.fixture(scope="module")
def signing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    root = tmp_path_factory.mktemp("review-sign")
    certs = create_dev_certs(root / "certs", org="Review Test")
    key = certs.signer_key
    from greenroom.settings import Settings
    from tests.conftest import FIXTURES, TEST_MODELS

    settings = Settings(
        data_dir=root / "data",
        models_dir=TEST_MODELS,
        fixtures_dir=FIXTURES,
        signing_cert=certs.signer_cert,
        signing_key=key,
    )
    for live in start_live_server(root / "data", settings):
        generation = live.services.pipeline.generation
        generation._generator = build_tiny_random_t2v(seed=0, threads=1)
        generation.width = generation.height = 64
        texts = {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}
        texts["content.yaml"] = texts["content.yaml"].rstrip("\n") + "\n" + REVIEW_OUTPUTS
        live.services.pipeline.policies.save(texts, None, "review every output", activate=True)
        yield live, key


def test_publish_of_an_unsigned_generated_clip_signs_it_or_is_refused(
    signing_server: tuple[LiveServer, Path],
) -> None:
    live, key = signing_server
    ctx = live.services.pipeline
    store = live.services.store
    good_key = key.read_bytes()
    key.write_bytes(b"not a key")
    with pytest.raises(SigningFailed):
        ctx.generation.generate(live.users["adult"], "a lighthouse at dusk", seconds=0.5, seed=1)
    clip_id, status, unsigned_sha = store.query(
        "SELECT id, status, media_sha256 FROM clips ORDER BY created_at DESC LIMIT 1"
    )[0]
    assert status == "queued" and ctx.generation.needs_signing(clip_id)
    item = store.query(
        "SELECT id FROM queue_items WHERE clip_id = ? AND status = 'open'", [clip_id]
    )[0][0]
    decisions_before = store.query("SELECT count(*) FROM decisions")[0][0]
    with live.client("moderator") as c:
        r = c.post(f"/queue-items/{item}/decide", json={"outcome": "publish", "reason": "fine"})
    assert r.status_code == 409, r.text
    assert "could not be signed" in r.json()["error"]
    # Nothing changed: clip, item, decisions.
    assert store.query("SELECT status, media_sha256 FROM clips WHERE id = ?", [clip_id]) == [
        ("queued", unsigned_sha)
    ]
    assert store.query("SELECT status FROM queue_items WHERE id = ?", [item]) == [("open",)]
    assert store.query("SELECT count(*) FROM decisions")[0][0] == decisions_before

    key.write_bytes(good_key)
    with live.client("moderator") as c:
        r = c.post(f"/queue-items/{item}/decide", json={"outcome": "publish", "reason": "fine"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["clip_status"] == "published" and doc["closed"]["signed"] is True
    status, signed_sha = store.query(
        "SELECT status, media_sha256 FROM clips WHERE id = ?", [clip_id]
    )[0]
    assert status == "published" and signed_sha != unsigned_sha
    assert not ctx.generation.needs_signing(clip_id)
    # The published media carries a valid C2PA manifest naming this clip.
    path, _, _ = ctx.generation.media(clip_id, live.users["moderator"])
    report = ctx.provenance.verify(path)
    assert report.integrity == "valid" and report.ai_generated is True, report
    assert (
        store.query("SELECT count(*) FROM clip_fingerprints WHERE clip_id = ?", [clip_id])[0][0] > 0
    )
    assert store.verify_audit().ok
