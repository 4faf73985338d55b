"""``greenroom policy ...``: JSON keys and exit codes per CLI.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from greenroom.cli.main import app
from policies.loader import DEFAULT_DIR

runner = CliRunner()


def run(*args: str) -> tuple[int, Any]:
    result = runner.invoke(app, ["policy", *args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON document
    return result.exit_code, json.loads(lines[0])


def write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def test_validate_ok_and_errors(tmp_path: Path) -> None:
    code, doc = run("validate", str(DEFAULT_DIR))
    assert code == 0 and doc["ok"] is True and doc["errors"] == [] and doc["version"]
    (tmp_path / "p.yaml").write_text(
        "rules:\n  - id: r1\n    condition: nudity.nope > 1.0\n    outcome: block\n    reason: x\n"
    )
    code, doc = run("validate", str(tmp_path))
    assert code == 2 and doc["ok"] is False
    (error,) = doc["errors"]
    assert set(error) == {"file", "rule", "field", "message"}
    assert (error["file"], error["rule"], error["field"]) == ("p.yaml", "r1", "condition")


def test_validate_missing_path_is_bad_input(tmp_path: Path) -> None:
    code, doc = run("validate", str(tmp_path / "nope"))
    assert code == 2 and "error" in doc


def test_test_command(tmp_path: Path) -> None:
    code, doc = run("test")
    assert code == 0 and doc["failed"] == 0 and doc["passed"] >= 30 and doc["failures"] == []
    (tmp_path / "t.yaml").write_text(
        "cases:\n  - name: wrong\n    expect: {outcome: block}\n", encoding="utf-8"
    )
    code, doc = run("test", str(tmp_path))
    assert code == 1 and doc["failed"] == 1 and doc["failures"][0]["case"] == "wrong"


def test_eval_command(tmp_path: Path) -> None:
    signals = write(
        tmp_path / "s.json",
        {"likeness": [{"kind": "cameo", "consent": "denied", "similarity": 0.99}]},
    )
    context = write(tmp_path / "c.json", {"stage": "prompt"})
    code, doc = run("eval", "--signals", str(signals), "--context", str(context))
    assert code == 0
    assert {"outcome", "rules", "shadow", "version"} <= set(doc)
    assert doc["outcome"] == "block"
    assert {"id", "outcome", "values"} <= set(doc["rules"][0])
    assert doc["rules"][0]["values"]["context.stage"] == "prompt"


def test_eval_bad_input(tmp_path: Path) -> None:
    good = write(tmp_path / "c.json", {})
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    code, doc = run("eval", "--signals", str(bad_json), "--context", str(good))
    assert code == 2 and "not JSON" in doc["error"]
    wrong = write(tmp_path / "w.json", {"nudity": {"max_score": "high"}})
    code, doc = run("eval", "--signals", str(wrong), "--context", str(good))
    assert code == 2 and "nudity.max_score" in doc["error"]
    code, doc = run("eval", "--signals", str(tmp_path / "missing.json"), "--context", str(good))
    assert code == 2


def test_backtest_command(tmp_path: Path) -> None:
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    for file in DEFAULT_DIR.glob("*.yaml"):
        text = file.read_text(encoding="utf-8").replace("value: 0.85", "value: 0.7")
        (candidate / file.name).write_text(text, encoding="utf-8")
    records = tmp_path / "records.jsonl"
    records.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"clip_id": "a", "signals": {"nudity": {"max_score": 0.75}}, "context": {}},
                {"clip_id": "b", "signals": {}, "context": {}},
            ]
        ),
        encoding="utf-8",
    )
    code, doc = run("backtest", "--candidate", str(candidate), "--records", str(records))
    assert code == 0
    assert doc["records"] == 2 and doc["transitions"] == {"review->block": 1}
    assert doc["examples"]["review->block"] == ["a"]
    assert "nudity_explicit" in doc["rules"]
