"""Top-level commands: init, serve, console, up, user, audit, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, account, open_store, settings_for
from greenroom.cli.output import BadInput, emit, fail, log, run_command
from store.db import Store
from store.users import ROLES, Users

user_app = typer.Typer(help="Accounts and tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)


def _users(store: Store, data_dir: Path | None) -> Users:
    settings = settings_for(data_dir)
    return Users(
        store,
        pepper=settings.token_pepper.get_secret_value(),
        token_ttl_hours=settings.token_ttl_hours,
        session_ttl_hours=settings.session_ttl_hours,
    )


def _birth_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"--birth-date must be YYYY-MM-DD, not {text!r}") from None


def init(data_dir: Path | None = DATA_DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Create an empty data directory (or migrate an existing one forward)."""

    def body() -> dict[str, Any]:
        with open_store(data_dir, create=True) as store:
            return {"data_dir": str(store.data_dir), "schema_version": store.schema_version()}

    emit(run_command(as_json, body), as_json, lambda d: f"data directory ready: {d['data_dir']}")


@user_app.command("add")
def user_add(
    handle: str,
    role: str = typer.Option(..., "--role", help=f"one of: {', '.join(ROLES)}"),
    birth_year: int | None = typer.Option(
        None,
        "--birth-year",
        help="approximate age: the youngest it allows counts (birthday on 31 December)",
    ),
    birth_date: str | None = typer.Option(None, "--birth-date", help="YYYY-MM-DD"),
    display_name: str | None = typer.Option(None, "--display-name"),
    password: str | None = typer.Option(None, "--password", help="for console sign-in"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an account and print its first API token (shown once; it expires)."""

    def body() -> dict[str, Any]:
        if role not in ROLES:
            raise BadInput(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
        born = _birth_date(birth_date)
        with open_store(data_dir) as store:
            users = _users(store, data_dir)
            with store.transaction() as tx:
                user = users.create(
                    tx,
                    handle,
                    role,
                    birth_year=birth_year,
                    birth_date=born,
                    display_name=display_name,
                    password=password,
                )
                issued = users.issue(tx, user.id, label="cli")
            return {
                "id": user.id,
                "handle": user.handle,
                "role": user.role,
                "is_teen": user.is_teen,
                "token": issued.token,
                "token_expires_at": issued.expires_at.isoformat(),
            }

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: f"created @{d['handle']} ({d['role']}); token: {d['token']}",
    )


@user_app.command("list")
def user_list(
    role: str | None = typer.Option(None, "--role"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List accounts."""

    def body() -> dict[str, Any]:
        with open_store(data_dir) as store:
            return {"users": [u.to_self() for u in _users(store, data_dir).all(role=role)]}

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: "\n".join(
            f"@{u['handle']:<20} {u['role']:<14} {u['id']}"
            + (" (suspended)" if u.get("suspended") else "")
            for u in d["users"]
        ),
    )


def _suspension(handle: str, reason: str, data_dir: Path | None, suspend: bool) -> dict[str, Any]:
    from store.db import Conflict, NotFound

    with open_store(data_dir) as store:
        users = _users(store, data_dir)
        try:
            target = users.by_handle(handle)
            with store.transaction() as tx:
                if suspend:
                    user = users.suspend(tx, target.id, reason, actor_id=None)
                else:
                    user = users.reinstate(tx, target.id, reason, actor_id=None)
        except (NotFound, Conflict) as exc:
            raise BadInput(str(exc)) from None
    return {
        "id": user.id,
        "handle": user.handle,
        "role": user.role,
        "suspended": user.disabled,
        "reason": reason.strip(),
    }


@user_app.command("suspend")
def user_suspend(
    handle: str,
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Suspend an account: its tokens and password stop working at once (audited)."""
    emit(
        run_command(as_json, lambda: _suspension(handle, reason, data_dir, True)),
        as_json,
        lambda d: f"suspended @{d['handle']}: {d['reason']}",
    )


@user_app.command("unsuspend")
def user_unsuspend(
    handle: str,
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reinstate a suspended account (audited)."""
    emit(
        run_command(as_json, lambda: _suspension(handle, reason, data_dir, False)),
        as_json,
        lambda d: f"reinstated @{d['handle']}: {d['reason']}",
    )


@user_app.command("standing")
def user_standing(
    handle: str,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """An account's upheld strikes and account actions (suspensions, bans), in force and past."""
    from store import accounts

    def body() -> dict[str, Any]:
        with open_store(data_dir) as store:
            target = account(store, handle)
            return {
                "handle": target.handle,
                **accounts.strike_summary(store, target.id),
                "actions": accounts.actions_of(store, target.id),
            }

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: "\n".join(
            [f"@{d['handle']}: {d['strikes']} upheld strike(s), {d['strikes_90d']} in 90 days"]
            + [
                f"  {a['id']} {a['kind']:<18} {'IN FORCE' if a['active'] else 'ended':<8} "
                f"{a['sentence']}"
                for a in d["actions"]
            ]
        ),
    )


@user_app.command("lift-action")
def user_lift_action(
    action_id: str,
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """End an account action (a suspension or a ban) now, with a reason (audited)."""
    from store import accounts
    from store.db import Conflict, NotFound

    def body() -> dict[str, Any]:
        with open_store(data_dir) as store:
            try:
                with store.transaction() as tx:
                    return accounts.lift(tx, action_id, None, reason)
            except (NotFound, Conflict) as exc:
                raise BadInput(str(exc)) from None

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: f"lifted {d['id']} ({d['kind']}): {d['lift_reason']}",
    )


@audit_app.command("export")
def audit_export(
    out: Path | None = typer.Option(None, "--out", help="write here (default: standard output)"),
    fmt: str = typer.Option("csv", "--format", help="csv or jsonl"),
    event: str | None = typer.Option(None, "--event", help='an event, or a family: "account."'),
    actor: str | None = typer.Option(None, "--actor", help="the actor's handle"),
    subject: str | None = typer.Option(None, "--subject", help="a subject id"),
    since: datetime | None = typer.Option(None, "--since", help="from this time (inclusive)"),
    until: datetime | None = typer.Option(None, "--until", help="up to this time (exclusive)"),
    text: str | None = typer.Option(None, "--q", help="words in the payload"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export audit rows, oldest first, as CSV or JSON lines; with --out and --json, a summary."""
    from store import audit

    if fmt not in ("csv", "jsonl"):
        fail(BadInput("--format must be csv or jsonl"), as_json)
    if out is None and as_json:
        fail(BadInput("--json needs --out (without it the export itself is the output)"), as_json)

    def body() -> dict[str, Any]:
        with open_store(data_dir) as store:
            actor_id = account(store, actor).id if actor is not None else None
            where = audit.AuditFilter(
                actor_id=actor_id, subject_id=subject, event=event, since=_aware(since),
                until=_aware(until), text=text,
            )  # fmt: skip
            counted = _Counted(audit.export(lambda: store.conn, where))
            lines = audit.csv_lines(counted) if fmt == "csv" else audit.jsonl_lines(counted)
            if out is None:
                for line in lines:
                    sys.stdout.write(line)
                return {"rows": counted.n, "format": fmt, "path": None}
            tmp = out.with_name(out.name + ".partial")
            # Written aside and renamed: a failed export never leaves half a file under the name.
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                fh.writelines(lines)
            tmp.replace(out)
            return {"rows": counted.n, "format": fmt, "path": str(out)}

    result = run_command(as_json, body)
    if out is not None:
        emit(result, as_json, lambda d: f"exported {d['rows']} audit rows to {d['path']}")


class _Counted:
    """Counts the rows an iterator hands out (the export's summary)."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows
        self.n = 0

    def __iter__(self) -> Any:
        for row in self.rows:
            self.n += 1
            yield row


def _aware(value: datetime | None) -> datetime | None:
    # A time typed without a zone is read as UTC (the log's own zone).
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@audit_app.command("verify")
def audit_verify(data_dir: Path | None = DATA_DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Check the audit log's hash chain; exit 1 when it is broken."""

    def body() -> dict[str, Any]:
        with open_store(data_dir) as store:
            report = store.verify_audit()
        return report.to_dict()

    result = run_command(as_json, body)
    emit(
        result,
        as_json,
        lambda d: (
            f"audit log {'intact' if d['ok'] else 'BROKEN'}: "
            f"{d['rows']} rows"
            + (f", first bad row {d['first_bad']} ({d['reason']})" if not d["ok"] else "")
        ),
    )
    if not result["ok"]:
        raise typer.Exit(1)


@demo_app.command("seed")
def demo_seed(data_dir: Path | None = DATA_DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Create a demo data directory: users of every role and demo content."""
    from greenroom.demo import seed

    def body() -> dict[str, Any]:
        with open_store(data_dir, create=True) as store:
            return seed(store, settings_for(data_dir))

    emit(run_command(as_json, body), as_json, _render_logins)


def _render_logins(d: dict[str, Any]) -> str:
    lines = [f"demo data in {d['data_dir']}", "logins (handle / password):"]
    lines += [f"  {u['handle']:<14} {u['password']:<20} {u['role']}" for u in d["logins"]]
    return "\n".join(lines)


def _run_as_package_main() -> None:
    """Become ``python -m greenroom`` when started through the ``greenroom`` script.

    The gate decodes video and checks C2PA in child processes (fork server,
    ``pipeline/media.py``), and multiprocessing re-runs the parent's main
    module in every child unless it is a package's ``__main__``. For the
    console script that re-run imports the whole command line, about 1 s of
    CPU in every child: more than decoding a short clip. ``greenroom up``
    already starts the server this way.
    """
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None) == "greenroom.__main__":
        return
    if Path(sys.argv[0]).name != "greenroom":  # not the console script (e.g. a test's runner)
        return
    os.execv(sys.executable, [sys.executable, "-m", "greenroom", *sys.argv[1:]])


def serve(
    data_dir: Path | None = DATA_DIR_OPTION,
    host: str | None = typer.Option(None, "--host"),
    port: int | None = typer.Option(None, "--port"),
) -> None:
    """Run the API server (it owns the data directory while it runs)."""
    _run_as_package_main()
    import uvicorn

    from greenroom.wiring import check_serving, make_app

    updates: dict[str, Any] = {}
    if host:
        updates["server_host"] = host
    if port:
        updates["server_port"] = port
    settings = settings_for(data_dir).model_copy(update=updates)
    try:
        check_serving(settings)
    except ValueError as exc:
        fail(BadInput(str(exc)), as_json=False)
    log(f"greenroom server on {settings.server_url} (data: {settings.data_dir})")
    uvicorn.run(
        make_app(settings),
        host=settings.server_host,
        port=settings.server_port,
        log_level=settings.log_level.lower(),
    )


def _console_command(server_url: str, port: int, host: str) -> list[str]:
    app_path = Path(__file__).resolve().parent.parent.parent / "console" / "app.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--",
        "--server-url",
        server_url,
    ]


def console(
    server_url: str | None = typer.Option(None, "--server-url"),
    port: int | None = typer.Option(None, "--port"),
) -> None:
    """Run the Streamlit console against a running server."""
    settings = settings_for(None)
    cmd = _console_command(
        server_url or settings.server_url, port or settings.console_port, settings.console_host
    )
    # Become Streamlit rather than wait on it: a SIGTERM from a service manager (or a test's
    # terminate()) then reaches the process that holds the port, instead of orphaning it.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BadInput(f"{url} exited with code {proc.returncode} during start-up")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise BadInput(f"{url} did not become healthy in {seconds:.0f} s")


def up(data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Run server and console together; prints the addresses and the demo logins."""
    settings = settings_for(data_dir)
    env = {**os.environ, "GREENROOM_DATA_DIR": str(settings.data_dir)}

    def stop(signum: int, frame: object) -> None:
        # A service manager (or `docker stop`) sends SIGTERM: stop both children like Ctrl-C.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    server = subprocess.Popen(
        [sys.executable, "-m", "greenroom", "serve", "--data-dir", str(settings.data_dir)], env=env
    )
    procs = [server]
    try:
        _wait_healthy(f"{settings.server_url}/healthz", server)
        ui = subprocess.Popen(
            _console_command(settings.server_url, settings.console_port, settings.console_host),
            env=env,
        )
        procs.append(ui)
        _wait_healthy(f"{settings.console_url}/_stcore/health", ui, 90.0)
        typer.echo(f"server:  {settings.server_url}  (API docs at {settings.server_url}/docs)")
        typer.echo(f"console: {settings.console_url}")
        logins = settings.data_dir / "demo-logins.json"
        if logins.exists():
            typer.echo(_render_logins(json.loads(logins.read_text())))
        typer.echo("Ctrl-C stops both.")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except BadInput as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping already; finish it
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
    app.command("console")(console)
    app.command("up")(up)
    app.add_typer(user_app, name="user")
    app.add_typer(audit_app, name="audit")
    app.add_typer(demo_app, name="demo")
