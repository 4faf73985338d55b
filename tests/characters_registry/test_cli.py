"""``greenroom characters`` in real processes against a real data directory (CLI.md keys and exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

GREENROOM = [sys.executable, "-m", "greenroom"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GREENROOM, *args], capture_output=True, text=True, timeout=600)


def doc(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)  # exactly one JSON document on stdout


def test_add_list_check_and_refusals(tmp_path: Path, fixtures_dir: Path) -> None:
    data = str(tmp_path / "data")
    gopher = fixtures_dir / "characters" / "go_gopher" / "gophercolor.png"
    assert run("init", "--data-dir", data).returncode == 0
    added = run("user", "add", "studio", "--role", "rights_holder", "--data-dir", data, "--json")
    assert added.returncode == 0, added.stderr

    p = run(
        "characters", "add", "--owner", "studio", "--name", "Go Gopher",
        "--alias", "Golang Gopher", "--alias", "Gordon the Gopher",
        "--description", "a light blue cartoon gopher with buck teeth",
        "--ref", str(gopher), "--data-dir", data, "--json",
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    created = doc(p)
    assert {"id", "name", "policy"} <= set(created)
    assert created["policy"] == "block" and created["name"] == "Go Gopher"

    # Duplicate, a non-image ref, a user who is not a rights holder: exit 2 with {"error"}.
    dup = run(
        "characters",
        "add",
        "--owner",
        "studio",
        "--name",
        "GO-GOPHER",
        "--data-dir",
        data,
        "--json",
    )
    assert dup.returncode == 2 and "already registered" in doc(dup)["error"]
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    bad = run(
        "characters", "add", "--owner", "studio", "--name", "Other", "--ref", str(notes),
        "--data-dir", data, "--json",
    )  # fmt: skip
    assert bad.returncode == 2 and "not an image" in doc(bad)["error"]
    nobody = run(
        "characters", "add", "--owner", "ghost", "--name", "X", "--data-dir", data, "--json"
    )
    assert nobody.returncode == 2 and "error" in doc(nobody)

    listed = doc(run("characters", "list", "--data-dir", data, "--json"))["characters"]
    assert [c["name"] for c in listed] == ["Go Gopher"]  # the refused ones left nothing behind

    p = run(
        "characters", "check", "--prompt", "Golang Gophr riding a skateboard", str(gopher),
        "--data-dir", data, "--json",
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    matches = doc(p)["matches"]
    backends = {m["backend"] for m in matches if m["character_id"] == created["id"]}
    assert "prompt.name" in backends and any(b.startswith("image.copy") for b in backends)
    for m in matches:
        assert {"character_id", "name", "score", "threshold", "backend", "evidence"} <= set(m)

    empty = run("characters", "check", "--data-dir", data, "--json")
    assert empty.returncode == 2 and "error" in doc(empty)
