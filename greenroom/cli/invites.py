"""``greenroom invites``: an account's invite codes, its invite tree, stopping and resuming a branch.

Direct mode (no server), like ``greenroom user suspend``: the data directory
is opened by this process; when a server holds it the command fails with
exit 3. Stops and resumes are recorded with no acting account (the CLI is
the operator) and their reason, in the audit log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, account, open_store, settings_for
from greenroom.cli.output import BadInput, emit, run_command
from store.db import Conflict, NotFound, Store
from store.invites import Invites

app = typer.Typer(help="Invite codes and the invite tree.", no_args_is_help=True)


def _invites(store: Store, data_dir: Path | None) -> Invites:
    return Invites(store, per_user=settings_for(data_dir).invites_per_user)


@app.command("list")
def list_invites(
    handle: str,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """An account's invite codes with their state (unused / used by whom, when / void)."""

    def body() -> dict[str, Any]:
        with open_store(data_dir) as store:
            user = account(store, handle)
            invites = _invites(store, data_dir)
            return {
                "handle": user.handle,
                **invites.summary(user.id),
                "stop": invites.stop_over(user.id),
            }

    emit(run_command(as_json, body), as_json, _render_list)


def _render_list(d: dict[str, Any]) -> str:
    head = (
        f"@{d['handle']}: {d['counted']} of {d['per_user']} invites made, {d['remaining']} left"
        + (f"; invited by @{d['invited_by']}" if d.get("invited_by") else "")
    )
    if d.get("stop"):
        head += f"\ninvites stopped at @{d['stop']['at']}: {d['stop']['reason']}"
    lines = [head]
    for code in d["invites"]:
        line = f"  {code['id']}  {code['hint']:<8} {code['state']}"
        if code["state"] == "used":
            line += f" by @{code['used_by']} at {code['used_at']}"
        elif code["state"] == "void":
            line += f" ({code['void_cause']}, {code['voided_at']})"
        lines.append(line)
    return "\n".join(lines)


@app.command("tree")
def tree(
    handle: str,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Who invited this account (up to the root) and everyone it invited, recursively."""

    def body() -> dict[str, Any]:
        with open_store(data_dir) as store:
            user = account(store, handle)
            return {"handle": user.handle, **_invites(store, data_dir).tree(user.id)}

    emit(run_command(as_json, body), as_json, _render_tree)


def _render_tree(d: dict[str, Any]) -> str:
    lines = []
    if d.get("ancestors"):
        lines.append("invited by: " + " <- ".join(f"@{h}" for h in d["ancestors"]))
    if d.get("stopped_above"):
        lines.append(f"invites stopped above, at @{d['stopped_above']['at']}")

    def walk(node: dict[str, Any], depth: int) -> None:
        codes = node["codes"]
        mark = ""
        if node["stop"]:
            mark = f"  [STOPPED: {node['stop']['reason']}]"
        elif node["invites_stopped"]:
            mark = "  [stopped]"
        lines.append(
            f"{'  ' * depth}@{node['handle']} ({codes['used']} used, {codes['unused']} unused, "
            f"{codes['void']} void){mark}"
        )
        for child in node["children"]:
            walk(child, depth + 1)

    walk(d["tree"], 0)
    if d.get("truncated"):
        lines.append(f"… only the first {d['members']} accounts are shown")
    return "\n".join(lines)


def _stop_or_resume(handle: str, reason: str, data_dir: Path | None, stop: bool) -> dict[str, Any]:
    with open_store(data_dir) as store:
        user = account(store, handle)
        invites = _invites(store, data_dir)
        try:
            with store.transaction() as tx:
                if stop:
                    done = invites.stop(tx, user.id, reason, actor_id=None)
                else:
                    done = invites.resume(tx, user.id, reason, actor_id=None)
        except (Conflict, NotFound) as exc:
            raise BadInput(str(exc)) from None
    return {"handle": user.handle, "stopped": stop, **done}


@app.command("stop")
def stop(
    handle: str,
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Stop invites for HANDLE's branch: unused codes below are void, nobody in it can invite."""
    emit(
        run_command(as_json, lambda: _stop_or_resume(handle, reason, data_dir, True)),
        as_json,
        lambda d: (
            f"stopped invites for @{d['handle']}'s branch ({d['members']} accounts, "
            f"{d['codes_voided']} codes voided): {d['reason']}"
        ),
    )


@app.command("resume")
def resume(
    handle: str,
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reinstate invites for a branch stopped at HANDLE (voided codes stay void)."""
    emit(
        run_command(as_json, lambda: _stop_or_resume(handle, reason, data_dir, False)),
        as_json,
        lambda d: f"resumed invites for @{d['handle']}'s branch: {d['reason']}",
    )
