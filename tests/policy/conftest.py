"""Helpers for the policy engine tests: the shipped set, loaded once, and small inline sets."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from policies.engine import PolicySet


@pytest.fixture(scope="session")
def default_policy() -> PolicySet:
    return PolicySet.default()


@pytest.fixture()
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML files (name -> text, dedented) into a fresh directory and return it."""
    counter = iter(range(1000))

    def write(**files: str) -> Path:
        folder = tmp_path / f"policy{next(counter)}"
        folder.mkdir()
        for name, text in files.items():
            (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    return write
