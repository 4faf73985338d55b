"""The CLI contract: provenance verify/sign and certs dev, keys exactly as CLI.md lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenroom.cli.main import app

CLI_KEYS = {
    "state", "integrity", "trust", "codes", "ai_generated", "claim_generator",
    "signer", "ingredients", "own_output",
}  # fmt: skip

runner = CliRunner()


def _run(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, list(args))
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0])


@pytest.fixture(scope="module")
def cli_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "certs"
    code, doc = _run("certs", "dev", "--out", str(out), "--json")
    assert code == 0 and Path(doc["trust_anchors"]).exists()
    return out


def test_certs_dev_twice_is_bad_input(cli_certs: Path) -> None:
    code, doc = _run("certs", "dev", "--out", str(cli_certs), "--json")
    assert code == 2 and "already exists" in doc["error"]


def test_sign_verify_own_output(cli_certs: Path, clip_mp4: Path, tmp_path: Path) -> None:
    out, fps = tmp_path / "signed.mp4", tmp_path / "fp.jsonl"
    code, doc = _run(
        "provenance", "sign", str(clip_mp4), str(out), "--cert", str(cli_certs / "signer.pem"),
        "--key", str(cli_certs / "signer.key"), "--clip-id", "clip-cli", "--decision-id", "d-1",
        "--watermark", "--fingerprints", str(fps), "--json",
    )  # fmt: skip
    assert code == 0, doc
    assert {"out", "manifest_id"} <= set(doc) and doc["manifest_id"].startswith("urn:c2pa:")
    assert doc["watermarked"] is True and doc["fingerprint"]["keyframes"] >= 3

    code, rep = _run(
        "provenance", "verify", str(out), "--trust-anchors", str(cli_certs / "trust-anchors.pem"),
        "--fingerprints", str(fps), "--json",
    )  # fmt: skip
    assert code == 0 and set(rep) >= CLI_KEYS
    assert rep["state"] == "trusted" and rep["ai_generated"] is True
    assert rep["own_output"] == "clip-cli" and rep["manifest_id"] == doc["manifest_id"]

    code, plain = _run("provenance", "verify", str(out), "--json")
    assert code == 0 and plain["state"] == "valid_untrusted" and plain["own_output"] is None


def test_sign_without_identity_suggests_certs_dev(clip_mp4: Path, tmp_path: Path) -> None:
    from greenroom.settings import get_settings

    if get_settings().signing_cert is not None:
        pytest.skip("a signing certificate is configured in this environment")
    code, doc = _run("provenance", "sign", str(clip_mp4), str(tmp_path / "o.mp4"), "--json")
    assert code == 2 and "greenroom certs dev" in doc["error"]


def test_verify_bad_inputs(tmp_path: Path) -> None:
    code, doc = _run("provenance", "verify", str(tmp_path / "missing.mp4"), "--json")
    assert code == 2 and "no such file" in doc["error"]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 10)
    code, doc = _run("provenance", "verify", str(junk), "--json")
    assert code == 0 and doc["state"] == "error" and set(doc) >= CLI_KEYS
    anchors = tmp_path / "anchors.pem"
    anchors.write_text("nope")
    code, doc = _run("provenance", "verify", str(junk), "--trust-anchors", str(anchors), "--json")
    assert code == 2 and "PEM" in doc["error"]
