"""``greenroom safety check-prompt|scan|hash|bank-add|bank-check``: CLI.md keys and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from greenroom.cli.main import app
from greenroom.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def models_from_test_dir(test_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GREENROOM_MODELS_DIR", str(test_models_dir))
    monkeypatch.setenv("GREENROOM_THREADS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["safety", *args])
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0])


def test_check_prompt_keys() -> None:
    code, doc = _run("check-prompt", "a 13 year old girl in lingerie", "--json")
    assert code == 0, doc
    assert doc["categories"][0]["name"] == "sexual_minors"
    for c in doc["categories"]:
        assert {"name", "score", "evidence"} <= set(c)
        assert isinstance(c["score"], float)
    code, doc = _run("check-prompt", "a killer workout", "--json", "--lexicon-only")
    assert code == 0 and doc["categories"] == []


@pytest.mark.parametrize("text", ["", "   ", "x" * 5000])
def test_check_prompt_bad_input(text: str) -> None:
    code, doc = _run("check-prompt", text, "--json", "--lexicon-only")
    assert code == 2 and "error" in doc


def test_scan_image_keys(fixtures_dir: Path) -> None:
    code, doc = _run("scan", str(fixtures_dir / "faces" / "deepface" / "couple.jpg"), "--json")
    assert code == 0, doc
    assert {"faces", "nudity", "hash_matches", "banks_checked"} <= set(doc)
    assert len(doc["faces"]) >= 2
    for f in doc["faces"]:
        assert isinstance(f["age"], float)
        assert f["band"] in ("likely_minor", "possible_minor", "adult")
    assert (
        doc["nudity"][0]["score"] == 0.0 and doc["hash_matches"] == [] and doc["banks_checked"] == 0
    )


def test_bank_add_then_scan_matches_and_check(fixtures_dir: Path, tmp_path: Path) -> None:
    video = fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"
    bank = tmp_path / "severe.jsonl"
    code, doc = _run(
        "bank-add",
        str(video),
        "--bank-file",
        str(bank),
        "--label",
        "test",
        "--severity",
        "critical",
        "--json",
    )
    assert code == 0, doc
    assert doc["added"] >= 2 and doc["bank"] == "severe"
    code, doc = _run("bank-check", str(bank), "--json")
    assert code == 0 and doc["ok"] and doc["kinds"]["sha256"] == 1
    code, doc = _run("scan", str(video), "--bank", str(bank), "--json", "--every", "2")
    assert code == 0, doc
    assert doc["banks_checked"] == 1 and doc["kind"] == "video"
    kinds = {m["kind"] for m in doc["hash_matches"]}
    assert kinds == {"sha256", "pdq"}
    other = fixtures_dir / "videos" / "sintel_trailer_clip_720p.mp4"
    code, doc = _run("hash", str(other), "--json", "--every", "4")
    assert code == 0 and len(doc["sha256"]) == 64 and doc["pdq"]


def test_scan_bad_inputs(fixtures_dir: Path, tmp_path: Path) -> None:
    code, doc = _run("scan", str(tmp_path / "missing.jpg"), "--json")
    assert code == 2 and "error" in doc
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    code, doc = _run("scan", str(junk), "--json")
    assert code == 2 and "error" in doc
    bad_bank = tmp_path / "bad.jsonl"
    bad_bank.write_text("{}\n")
    code, doc = _run(
        "scan",
        str(fixtures_dir / "faces" / "deepface" / "couple.jpg"),
        "--bank",
        str(bad_bank),
        "--json",
    )
    assert code == 2 and "greenroom-hashbank" in doc["error"]
    code, doc = _run("bank-check", str(bad_bank), "--json")
    assert code == 2
