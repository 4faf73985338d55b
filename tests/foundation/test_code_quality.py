"""The code stays ruff-clean and typed, and packages import only along DESIGN.md's arrows."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGES = (
    "detectors",
    "policies",
    "generator",
    "store",
    "pipeline",
    "feed",
    "console",
    "greenroom",
)
# package -> the packages of ours it may import (DESIGN.md; greenroom.settings is the
# one settings object the server-side layers receive).
ALLOWED = {
    "detectors": set(),
    "policies": set(),
    "generator": set(),
    "store": set(),
    "pipeline": {"detectors", "policies", "generator", "store", "greenroom"},
    "feed": {"pipeline", "store", "greenroom"},
    "console": set(),
    "greenroom": set(PACKAGES),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_packages_import_along_the_arrows() -> None:
    wrong = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            ours = _imports(path) & set(PACKAGES) - {package}
            bad = ours - ALLOWED[package]
            if bad:
                wrong.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not wrong, "\n".join(wrong)


def test_ruff_clean() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout[-3000:]


def test_mypy_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", *PACKAGES],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:]
