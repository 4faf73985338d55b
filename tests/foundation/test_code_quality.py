"""The code stays ruff-clean and typed, and packages import only along DESIGN.md's arrows."""

from __future__ import annotations

import ast
import re
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
_ROW = re.compile(r"^\|\s*`(?P<package>[a-z_]+)/`\s*\|[^|]*\|\s*(?P<imports>[^|]+?)\s*\|\s*$")


def readme_arrows() -> dict[str, set[str]]:
    """package -> the packages of ours it may import, read from the README's package table."""
    arrows: dict[str, set[str]] = {}
    for line in (REPO / "README.md").read_text("utf-8").splitlines():
        match = _ROW.match(line)
        if not match or match["package"] not in PACKAGES:
            continue
        text = match["imports"].lower()
        if "everything" in text:
            allowed = set(PACKAGES)
        else:
            allowed = {p for p in PACKAGES if re.search(rf"\b{p}\b", text)}
        arrows[match["package"]] = allowed - {match["package"]}
    return arrows


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """Every module of ours ``path`` imports anywhere: top level, in functions, under TYPE_CHECKING."""
    tree = ast.parse(path.read_text("utf-8"))
    package = (
        _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            # The longest known module the name starts with (``a.b.c`` may be a class in ``a.b``).
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                candidate = ".".join(parts[:end])
                if candidate in known:
                    found.add(candidate)
                    break
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    known = set(files)
    return {
        name: _imported_modules(path, known) - {name} - _parents(name)
        for name, path in files.items()
    }


def _parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_readme_table_names_every_package() -> None:
    assert set(readme_arrows()) == set(PACKAGES), "README's package table must list every package"


def test_packages_import_along_the_readme_arrows() -> None:
    allowed = readme_arrows()
    wrong = []
    for module, imports in import_graph().items():
        package = module.split(".")[0]
        bad = {m.split(".")[0] for m in imports} - {package} - allowed[package]
        if bad:
            wrong.append(f"{module} imports {sorted(bad)}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_circles() -> None:
    cycles = import_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_circle() -> None:
    # The checker itself must be able to fail.
    assert import_cycles({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": set()}) == [
        ["a.x", "a.y", "a.z"]
    ]


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
