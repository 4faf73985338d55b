"""``greenroom policy show|activate|backtest`` against a data directory's stored policy versions.

These commands join the ``policy`` sub-app of ``greenroom/cli/policy.py``
(file-only commands live there). ``backtest`` here replaces that module's
command with one that keeps its ``--records`` mode (delegated unchanged) and
adds the store mode of CLI.md: ``--candidate DIR [--last N] --data-dir D``
re-decides the last N stored scans and writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli import policy as policy_cli
from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_store, settings_for
from greenroom.cli.output import BadInput, emit, run_command

app = policy_cli.app


def _pipeline(store: Any, data_dir: Path | None) -> Any:
    from greenroom.wiring import build_pipeline

    return build_pipeline(store, settings_for(data_dir))


@app.command("show")
def show_cmd(
    version: str | None = typer.Argument(
        None, help="version id, id prefix or sequence number (default: list every version)"
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List stored policy versions (active and shadow marked), or show one with its rules."""
    from store.db import NotFound

    def body() -> None:
        with open_store(data_dir) as store:
            policies = _pipeline(store, data_dir).policies
            if version is None:
                doc: dict[str, Any] = {"versions": policies.versions(), **policies.state()}
            else:
                try:
                    doc = policies.get(version)
                except NotFound as exc:
                    raise BadInput(str(exc)) from None

        def human(d: dict[str, Any]) -> str:
            if "versions" in d:
                return "\n".join(
                    f"{v['seq']:>3} {v['id']} {'ACTIVE ' if v['active'] else ''}"
                    f"{'SHADOW ' if v['shadow'] else ''}{v['message']}"
                    for v in d["versions"]
                )
            rules = "\n".join(f"  {r['id']}: {r['outcome']} ({r['status']})" for r in d["rules"])
            return f"version {d['seq']} {d['id']}: {d['message']}\n{rules}"

        emit(doc, as_json, human)

    run_command(as_json, body)


@app.command("activate")
def activate_cmd(
    version: str = typer.Argument(..., help="version id, id prefix or sequence number"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a stored version active (rollback: activate an older one)."""
    from store.db import NotFound

    def body() -> None:
        with open_store(data_dir) as store:
            try:
                doc = _pipeline(store, data_dir).policies.activate(version, None)
            except NotFound as exc:
                raise BadInput(str(exc)) from None
        emit(doc, as_json, lambda d: f"active: {d['active']} (was {d['previous']})")

    run_command(as_json, body)


@app.command("save")
def save_cmd(
    directory: Path = typer.Argument(..., help="policy directory (*.yaml)"),
    message: str = typer.Option(..., "--message", "-m", help="what changed"),
    activate: bool = typer.Option(False, "--activate", help="activate it at once"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Save a policy directory as a new stored version."""
    from policies.loader import read_policy_texts

    def body() -> None:
        texts, issues = read_policy_texts(
            directory, max_file_bytes=settings_for(data_dir).limits.max_policy_file_bytes
        )
        if issues:
            raise BadInput("; ".join(str(i) for i in issues))
        with open_store(data_dir) as store:
            doc = _pipeline(store, data_dir).policies.save(texts, None, message, activate=activate)
        emit(doc, as_json, lambda d: f"version {d['seq']} {d['id']} (active: {d['active']})")

    run_command(as_json, body)


@app.command("backtest")
def backtest_cmd(
    candidate: Path = typer.Option(..., "--candidate", help="candidate policy directory"),
    last: int = typer.Option(500, "--last", help="how many of the latest stored scans"),
    baseline_version: str | None = typer.Option(
        None,
        "--baseline-version",
        help="store mode: compare with this stored version (default: the recorded decisions)",
    ),
    records: Path | None = typer.Option(
        None, "--records", help="file mode: JSON records instead of the data directory"
    ),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="file mode: baseline policy directory"
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """What would change if the candidate were active: counts per outcome and rule, example clips."""
    if records is not None:
        policy_cli.backtest_cmd(
            candidate=candidate, records=records, baseline=baseline, as_json=as_json
        )
        return
    from policies.loader import read_policy_texts

    def body() -> None:
        texts, issues = read_policy_texts(
            candidate, max_file_bytes=settings_for(data_dir).limits.max_policy_file_bytes
        )
        if issues:
            raise BadInput("; ".join(str(i) for i in issues))
        with open_store(data_dir) as store:
            doc = _pipeline(store, data_dir).policies.backtest(
                texts, last, baseline=baseline_version
            )

        def human(d: dict[str, Any]) -> str:
            lines = [
                f"{d['records']} scans, {d['outcome_changed']} outcome changes "
                f"({d['baseline_version']} -> {d['candidate_version']})"
            ]
            lines += [
                f"  {k}: {v}  e.g. {d['examples'].get(k, [])}" for k, v in d["transitions"].items()
            ]
            return "\n".join(lines)

        emit(doc, as_json, human)

    run_command(as_json, body)


def register(root: typer.Typer) -> None:
    """Nothing to add at the top level: the commands above joined ``greenroom policy``."""
