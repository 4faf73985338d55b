"""Verify every C2PA fixture with and without the test trust bundle and compare with MANIFEST.tsv."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from detectors.provenance import STATES, verify

_C2PA_TO_STATE = {"Valid": "valid_untrusted", "Trusted": "trusted", "Invalid": "invalid"}
_MEASURED = re.compile(r"state=(\w+) \(no trust list\) / (\w+) \(")
_FAILURES = re.compile(r"failure codes=\[([^\]]*)\]")


def _expectations(c2pa_dir: Path) -> list[tuple[str, str, str, list[str], str]]:
    """(file, state without anchors, state with anchors, failure codes, ground truth) per media row."""
    rows = []
    with open(c2pa_dir / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            name = row["file"]
            if not name.startswith(("assets/", "generated/")):
                continue
            truth = row["ground_truth"]
            if truth.startswith("NO MANIFEST"):
                rows.append((name, "absent", "absent", [], truth))
                continue
            m = _MEASURED.search(truth)
            assert m, f"MANIFEST.tsv row {name} has no measured state: {truth}"
            codes_m = _FAILURES.search(truth)
            codes = re.findall(r"'([^']+)'", codes_m.group(1)) if codes_m else []
            rows.append(
                (name, _C2PA_TO_STATE[m.group(1)], _C2PA_TO_STATE[m.group(2)], codes, truth)
            )
    return rows


@pytest.fixture(scope="module")
def c2pa_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "c2pa"


@pytest.fixture(scope="module")
def test_bundle(c2pa_dir: Path) -> str:
    return (c2pa_dir / "certs" / "c2pa-rs" / "trust" / "test_cert_root_bundle.pem").read_text()


def test_manifest_covers_every_asset(c2pa_dir: Path) -> None:
    listed = {r[0] for r in _expectations(c2pa_dir)}
    on_disk = {
        f"{d}/{p.name}"
        for d in ("assets", "generated")
        for p in (c2pa_dir / d).iterdir()
        if p.is_file()
    }
    assert on_disk == listed
    assert len(listed) == 17


def test_every_fixture_matches_manifest(c2pa_dir: Path, test_bundle: str) -> None:
    mismatches = []
    for name, without, with_anchors, codes, _truth in _expectations(c2pa_dir):
        path = c2pa_dir / name
        plain = verify(path)
        anchored = verify(path, trust_anchors_pem=test_bundle)
        for report, expected, label in (
            (plain, without, "no anchors"),
            (anchored, with_anchors, "anchors"),
        ):
            assert report.state in STATES
            if report.state != expected:
                mismatches.append(
                    f"{name} ({label}): {report.state} != {expected} ({report.reason})"
                )
            missing = [c for c in codes if c not in report.codes]
            if missing:
                mismatches.append(f"{name} ({label}): codes {report.codes} lack {missing}")
        # Integrity and trust are separate facts: an untrusted signer never
        # makes intact content look tampered, and anchors never fix tampering.
        if without == "valid_untrusted":
            assert plain.integrity == "valid" and plain.trust == "untrusted"
            assert "signingCredential.untrusted" in plain.codes
        if with_anchors == "invalid":
            assert anchored.integrity == "invalid"
        if without == "absent":
            assert plain.integrity is None and plain.trust is None and plain.codes == []
    assert not mismatches, "\n".join(mismatches)


def test_ai_generated_claims(c2pa_dir: Path) -> None:
    # Locally generated fixtures declare trainedAlgorithmicMedia; c2pa-rs's C.jpg
    # declares algorithmicMedia (a formula, not a trained model); video1.mp4
    # declares only c2pa.opened, so AI generation is unknown, not "no".
    assert verify(c2pa_dir / "generated" / "signed_ai_video1.mp4").ai_generated is True
    assert verify(c2pa_dir / "generated" / "signed_ai_libpng-test.png").ai_generated is True
    c = verify(c2pa_dir / "assets" / "C.jpg")
    assert c.ai_generated is False and c.digital_source_type.endswith("/algorithmicMedia")
    assert verify(c2pa_dir / "assets" / "video1.mp4").ai_generated is None
    assert verify(c2pa_dir / "assets" / "no_manifest.jpg").ai_generated is None


def test_claim_generator_signer_and_ingredients(c2pa_dir: Path) -> None:
    ca = verify(c2pa_dir / "assets" / "CA.jpg")
    assert ca.claim_generator == "make_test_images/0.33.1 c2pa-rs/0.33.1"
    assert ca.signer == "C2PA Test Signing Cert"
    assert len(ca.ingredients) == 1 and ca.ingredients[0]["title"]
    video = verify(c2pa_dir / "assets" / "video1.mp4")
    # video1.mp4 has two manifests: the active one and its parent's.
    assert video.claim_generator == "TestApp c2patool/0.6.2 c2pa-rs/0.28.2"
    (parent,) = video.ingredients
    assert parent["relationship"] == "parentOf"
    assert (
        parent["manifest_id"]
        and parent["claim_generator"] == "TestApp c2patool/0.3.0 c2pa-rs/0.12.0"
    )


def test_test_roots_never_loaded_by_default(c2pa_dir: Path) -> None:
    # The C2PA test roots sign C.jpg; without configured anchors nothing is trusted.
    report = verify(c2pa_dir / "assets" / "C.jpg")
    assert report.state == "valid_untrusted" and report.trust_anchors_configured is False


def test_signal_carries_explanation(c2pa_dir: Path, test_bundle: str) -> None:
    signal = verify(c2pa_dir / "assets" / "XCA.jpg", test_bundle).to_signal()
    doc = signal.to_dict()
    assert doc["kind"] == "provenance.state" and doc["state"] == "invalid"
    assert doc["codes"] == ["assertion.dataHash.mismatch"]
    assert doc["explanation"]["model_id"] == "c2pa-python"
    assert "dataHash" in doc["explanation"]["details"]["reason"]
