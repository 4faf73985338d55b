"""``greenroom generate`` and ``provenance verify --data-dir`` as scripts call them (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detectors.provenance import verify
from tests.provenance.conftest import remux


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greenroom", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "GREENROOM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli") / "data"
    assert cli("init", "--data-dir", str(d)).returncode == 0
    r = cli("user", "add", "maker", "--role", "user", "--birth-year", "1991",
            "--data-dir", str(d), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    return d


def test_generate_json_contract_and_verify_own_output(data_dir: Path, tmp_path: Path) -> None:
    r = cli("generate", "--prompt", "paper boats on a pond", "--creator", "maker",
            "--seconds", "0.5", "--data-dir", str(data_dir), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # exactly one JSON document on stdout
    assert {"clip_id", "decision", "model", "random_weights", "manifest_id"} <= doc.keys()
    assert doc["clip_id"] and doc["status"] == "published"
    assert doc["random_weights"] is True and "RANDOM" in r.stderr
    assert "DEVELOPMENT certificate" in r.stderr
    blob = data_dir / "blobs" / doc["sha256"][:2] / doc["sha256"][2:4] / doc["sha256"]
    anchors = (data_dir / "certs" / "dev" / "trust-anchors.pem").read_text()
    assert verify(blob, anchors).state == "trusted"

    stripped = remux(blob, tmp_path / "stripped.mp4")
    r = cli("provenance", "verify", str(stripped), "--data-dir", str(data_dir), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["state"] == "absent" and report["own_output"] == doc["clip_id"]
    r = cli("provenance", "verify", str(stripped), "--json")  # no data dir: no lookup
    assert json.loads(r.stdout)["own_output"] is None


def test_generate_bad_input_exits_2(data_dir: Path) -> None:
    r = cli("generate", "--prompt", "x", "--creator", "nobody", "--data-dir", str(data_dir),
            "--json")  # fmt: skip
    assert r.returncode == 2 and "error" in json.loads(r.stdout)
    r = cli("generate", "--prompt", "x", "--creator", "maker", "--seconds", "99",
            "--data-dir", str(data_dir), "--json")  # fmt: skip
    assert r.returncode == 2 and "seconds" in json.loads(r.stdout)["error"]
    r = cli("generate", "--prompt", "x", "--creator", "maker", "--data-dir",
            str(data_dir.parent / "missing"), "--json")  # fmt: skip
    assert r.returncode == 2
