"""``greenroom scan`` and ``greenroom policy show|activate|backtest`` as a user runs them: real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.gate.conftest import REVIEW_UPLOADS_RULE, with_rule

GREENROOM = [sys.executable, "-m", "greenroom"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GREENROOM, *args], capture_output=True, text=True, timeout=300)


def test_scan_and_policy_commands(tmp_path: Path, face_image: Path) -> None:
    data = str(tmp_path / "d")
    assert run("init", "--data-dir", data, "--json").returncode == 0
    added = run(
        "user",
        "add",
        "carol",
        "--role",
        "user",
        "--birth-year",
        "1990",
        "--data-dir",
        data,
        "--json",
    )
    assert added.returncode == 0, added.stderr

    scanned = run(
        "scan",
        str(face_image),
        "--creator",
        "carol",
        "--prompt",
        "a portrait",
        "--data-dir",
        data,
        "--json",
    )
    assert scanned.returncode == 0, scanned.stderr
    doc = json.loads(scanned.stdout)  # exactly one JSON document on stdout
    assert doc["clip_id"].startswith("clip_")
    assert isinstance(doc["signals"], list) and all("kind" in s for s in doc["signals"])
    assert {"outcome", "rules", "version", "queue"} <= set(doc["decision"])
    v1 = doc["decision"]["version"]

    shown = run("policy", "show", "--data-dir", data, "--json")
    assert shown.returncode == 0, shown.stderr
    versions = json.loads(shown.stdout)
    assert versions["active"] == v1 and versions["versions"][0]["seq"] == 1
    one = json.loads(run("policy", "show", "1", "--data-dir", data, "--json").stdout)
    assert one["id"] == v1 and one["rules"]

    candidate = tmp_path / "candidate"
    candidate.mkdir()
    for name, text in with_rule(REVIEW_UPLOADS_RULE).items():
        (candidate / name).write_text(text)
    backtest = run(
        "policy",
        "backtest",
        "--candidate",
        str(candidate),
        "--last",
        "10",
        "--data-dir",
        data,
        "--json",
    )
    assert backtest.returncode == 0, backtest.stderr
    report = json.loads(backtest.stdout)
    assert report["records"] == 1
    assert report["rules"]["uploads_reviewed"]["added"] == 1
    changed = {c for ids in report["examples"].values() for c in ids}
    assert changed in (set(), {doc["clip_id"]})

    saved = run(
        "policy", "save", str(candidate), "-m", "review uploads", "--data-dir", data, "--json"
    )
    assert saved.returncode == 0, saved.stderr
    v2 = json.loads(saved.stdout)["id"]
    activated = run("policy", "activate", v2, "--data-dir", data, "--json")
    assert json.loads(activated.stdout) == {"active": v2, "previous": v1}
    second = json.loads(
        run("scan", str(face_image), "--creator", "carol", "--data-dir", data, "--json").stdout
    )
    assert second["decision"]["outcome"] == "review" and second["decision"]["queue"] == "uploads"
    rollback = run("policy", "activate", "1", "--data-dir", data, "--json")
    assert json.loads(rollback.stdout)["active"] == v1

    # Bad input: exit 2 with one JSON error document.
    for args in (
        ("policy", "activate", "nope", "--data-dir", data, "--json"),
        ("scan", str(tmp_path / "missing.mp4"), "--data-dir", data, "--json"),
        ("scan", str(face_image), "--creator", "nobody", "--data-dir", data, "--json"),
    ):
        bad = run(*args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert "error" in json.loads(bad.stdout)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    refused = run("scan", str(garbage), "--data-dir", data, "--json")
    assert refused.returncode == 2 and "error" in json.loads(refused.stdout)
