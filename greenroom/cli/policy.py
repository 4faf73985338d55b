"""``greenroom policy``: validate, test, evaluate and backtest policy sets from files (no data directory).

``policy show`` / ``policy activate`` need the store and are added with it;
they call :class:`policies.engine.PolicySet` (``to_bundle`` / ``from_bundle``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import JSON_OPTION
from greenroom.cli.output import EXIT_BAD_INPUT, EXIT_FAILURE, BadInput, emit, run_command
from greenroom.settings import get_settings

app = typer.Typer(help="Policy sets: validate, test, evaluate, backtest.", no_args_is_help=True)

POLICY_OPTION = typer.Option(
    None, "--policy", help="policy directory (default: the shipped policies/default)"
)


def _max_policy_bytes() -> int:
    return get_settings().limits.max_policy_file_bytes


def _load_policy(path: Path | None) -> Any:
    from policies.engine import PolicySet

    if path is None:
        return PolicySet.default()
    return PolicySet.from_dir(path, max_file_bytes=_max_policy_bytes())


def _read_json(path: Path, what: str) -> Any:
    """A JSON file (or JSON lines) within the body-size limit, or a clear BadInput."""
    limit = get_settings().limits.max_json_body_bytes
    if not path.exists():
        raise BadInput(f"no such file: {path}")
    if path.is_dir():
        raise BadInput(f"{path} is a directory, not a {what} file")
    size = path.stat().st_size
    if size > limit:
        raise BadInput(f"{what} file {path.name} is {size} bytes; the limit is {limit}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            return [json.loads(line) for line in lines]
        except json.JSONDecodeError:
            raise BadInput(
                f"{what} file {path.name} is not JSON: line {first.lineno} column {first.colno}: {first.msg}"
            ) from None


def _object(path: Path, what: str) -> dict[str, Any]:
    value = _read_json(path, what)
    if not isinstance(value, dict):
        raise BadInput(f"{what} file {path.name} must hold one JSON object")
    return value


@app.command("validate")
def validate_cmd(
    path: Path = typer.Argument(..., help="a policy directory or one policy YAML file"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a policy set: schema, CEL syntax, unknown fields, types, duplicates, overrides."""
    from policies.engine import PolicySet
    from policies.errors import PolicyError

    def body() -> None:
        try:
            policy = PolicySet.from_dir(path, max_file_bytes=_max_policy_bytes())
        except PolicyError as exc:
            issues = exc.issues
            doc = {"ok": False, "errors": [i.to_dict() for i in issues]}
            emit(doc, as_json, lambda d: "\n".join(f"error: {i}" for i in issues))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        doc = {
            "ok": True,
            "errors": [],
            "version": policy.version,
            "rules": len(policy.rules),
            "thresholds": len(policy.thresholds),
        }
        emit(doc, as_json, lambda d: f"ok: {d['rules']} rules, version {d['version']}")

    run_command(as_json, body)


@app.command("test")
def test_cmd(
    directory: Path | None = typer.Argument(
        None, help="policy test files (default: the shipped policies/tests)"
    ),
    policy: Path | None = typer.Option(
        None, "--policy", help="run every file against this policy directory instead of its own"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run policy tests as data; exit 1 when any case fails."""
    from policies.loader import DEFAULT_TESTS_DIR
    from policies.testing import run_tests

    def body() -> None:
        target = _load_policy(policy) if policy is not None else None
        report = run_tests(directory or DEFAULT_TESTS_DIR, target)

        def human(doc: dict[str, Any]) -> str:
            lines = [
                f"{f['file']}: {f['case']}: {'; '.join(f['problems'])}" for f in doc["failures"]
            ]
            return "\n".join([*lines, f"{doc['passed']} passed, {doc['failed']} failed"])

        emit(report.to_dict(), as_json, human)
        if report.failed:
            raise typer.Exit(EXIT_FAILURE)

    run_command(as_json, body)


@app.command("eval")
def eval_cmd(
    signals: Path = typer.Option(..., "--signals", help="JSON file: the signal view"),
    context: Path = typer.Option(..., "--context", help="JSON file: the decision context"),
    policy: Path | None = POLICY_OPTION,
    shadow: list[Path] = typer.Option(
        [], "--shadow", help="a shadow policy directory to compare with (repeatable)"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Decide one input; prints the outcome, the rules that fired with their values, and the version."""
    from policies.engine import PolicySet
    from policies.shadow import evaluate_with_shadow

    def body() -> None:
        active = _load_policy(policy)
        shadows = [PolicySet.from_dir(p, max_file_bytes=_max_policy_bytes()) for p in shadow]
        sig, ctx = _object(signals, "signals"), _object(context, "context")
        active.evaluate(sig, ctx, strict=True)  # malformed input is exit 2, not a fallback
        decision, comparisons = evaluate_with_shadow(active, shadows, sig, ctx)
        doc = decision.to_dict()
        doc["comparisons"] = [c.to_dict() for c in comparisons]

        def human(d: dict[str, Any]) -> str:
            rules = ", ".join(r["id"] for r in d["rules"]) or "no rules"
            queue = f" -> queue {d['queue']} (priority {d['priority']})" if d["queue"] else ""
            return f"{d['outcome']} ({rules}){queue}; version {d['version']}"

        emit(doc, as_json, human)

    run_command(as_json, body)


@app.command("backtest")
def backtest_cmd(
    candidate: Path = typer.Option(..., "--candidate", help="candidate policy directory"),
    records: Path = typer.Option(
        ...,
        "--records",
        help="JSON list or JSON lines of {clip_id, signals, context, decision?} records",
    ),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        help="policy directory to compare with (default: each record's stored decision, "
        "else the shipped default)",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """What would change if the candidate were active: counts per outcome and rule, example clips."""
    from policies.engine import PolicySet
    from policies.shadow import Record, backtest

    def body() -> None:
        raw = _read_json(records, "records")
        if isinstance(raw, dict):
            raw = raw.get("records", [raw])
        if not isinstance(raw, list):
            raise BadInput("records file must hold a list of records")
        parsed = [Record.from_dict(r, i) for i, r in enumerate(raw)]
        cand = PolicySet.from_dir(candidate, max_file_bytes=_max_policy_bytes())
        if baseline is not None:
            base = PolicySet.from_dir(baseline, max_file_bytes=_max_policy_bytes())
        elif parsed and all(r.decision is not None for r in parsed):
            base = None
        else:
            base = PolicySet.default()
        tally = backtest(cand, parsed, base)

        def human(d: dict[str, Any]) -> str:
            lines = [
                f"{d['records']} records, {d['outcome_changed']} outcome changes "
                f"({d['baseline_version']} -> {d['candidate_version']})"
            ]
            lines += [
                f"  {k}: {v}  e.g. {d['examples'].get(k, [])}" for k, v in d["transitions"].items()
            ]
            return "\n".join(lines)

        emit(tally.to_dict(), as_json, human)

    run_command(as_json, body)
