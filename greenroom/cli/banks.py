"""``greenroom banks``: known-bad hash banks in a data directory (direct mode, no server).

Commands: ``add NAME`` (create a bank), ``list``, ``add-entry NAME --hash H
--kind pdq|sha256 --label L`` (one hash), ``add-file NAME MEDIA --label L``
(a file's sha256 and its keyframes' PDQ hashes), ``export NAME [--out FILE]``
and ``import FILE [--name NAME]`` in the ``greenroom-hashbank`` v1 format
(``detectors/hashing.py``). An invalid bank file is refused whole (exit 2),
nothing half-imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_store, settings_for
from greenroom.cli.output import BadInput, emit, run_command

app = typer.Typer(help="Known-bad hash banks (PDQ and sha256).", no_args_is_help=True)

T = TypeVar("T")
SEVERITY_OPTION = typer.Option("high", "--severity", help="low | medium | high | critical")
ACTOR_OPTION = typer.Option(None, "--by", help="handle of the staff member adding (audited)")


@contextmanager
def _banks(data_dir: Path | None, actor_handle: str | None = None) -> Iterator[tuple[Any, Any]]:
    """(BankService, acting user or None) over the data directory."""
    import detectors  # noqa: F401  (torch import hook first)
    from greenroom.wiring import build_services
    from store.db import NotFound

    with open_store(data_dir) as store:
        svc = build_services(store, settings_for(data_dir))
        actor = None
        if actor_handle:
            try:
                actor = svc.users.by_handle(actor_handle)
            except NotFound as exc:
                raise BadInput(str(exc)) from None
        yield svc.pipeline.banks, actor


def _run(as_json: bool, body: Callable[[], T]) -> T:
    """run_command, with the store's NotFound/Conflict as bad input (exit 2)."""
    from store.db import Conflict, NotFound

    def wrapped() -> T:
        try:
            return body()
        except (NotFound, Conflict) as exc:
            raise BadInput(str(exc)) from None

    return run_command(as_json, wrapped)


@app.command("add")
def add_cmd(
    name: str = typer.Argument(..., help="bank name (letters, digits, _ . -)"),
    description: str = typer.Option("", "--description"),
    category: str = typer.Option(
        "", "--category", help="harm category the policies read, e.g. sexual, violence"
    ),
    by: str | None = ACTOR_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a bank."""

    def body() -> dict[str, Any]:
        with _banks(data_dir, by) as (banks, actor):
            return banks.create_bank(name, description, category, actor)  # type: ignore[no-any-return]

    emit(_run(as_json, body), as_json, lambda d: f"bank {d['name']} created ({d['id']})")


@app.command("list")
def list_cmd(data_dir: Path | None = DATA_DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every bank with its entry counts."""

    def body() -> dict[str, Any]:
        with _banks(data_dir) as (banks, _):
            return {"banks": banks.list_banks()}

    emit(
        _run(as_json, body),
        as_json,
        lambda d: (
            "\n".join(
                f"{b['name']}: {b['entries']} entries ({b['pdq']} pdq, {b['sha256']} sha256)"
                f"{' [' + b['category'] + ']' if b['category'] else ''}"
                for b in d["banks"]
            )
            or "no banks"
        ),
    )


@app.command("add-entry")
def add_entry_cmd(
    name: str = typer.Argument(..., help="bank name"),
    hash_: str = typer.Option(..., "--hash", help="64 lowercase hex characters"),
    kind: str = typer.Option(..., "--kind", help="pdq | sha256"),
    label: str = typer.Option(..., "--label", help="why it is banked"),
    severity: str = SEVERITY_OPTION,
    by: str | None = ACTOR_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add one hash to a bank."""

    def body() -> dict[str, Any]:
        with _banks(data_dir, by) as (banks, actor):
            entry = {"hash": hash_, "kind": kind, "label": label, "severity": severity}
            result: dict[str, Any] = banks.add_entries(name, [entry], actor)
        result.pop("ids", None)
        return result

    emit(_run(as_json, body), as_json, lambda d: f"{d['added']} added, {d['skipped']} skipped")


@app.command("add-file")
def add_file_cmd(
    name: str = typer.Argument(..., help="bank name"),
    media: Path = typer.Argument(..., help="image or video"),
    label: str = typer.Option(..., "--label", help="why it is banked"),
    severity: str = SEVERITY_OPTION,
    clip_id: str | None = typer.Option(None, "--clip-id", help="the clip it came from"),
    by: str | None = ACTOR_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a file's sha256 and its keyframes' PDQ hashes (with centre crops) to a bank."""

    def body() -> dict[str, Any]:
        if not media.is_file():
            raise BadInput(f"no such file: {media}")
        with _banks(data_dir, by) as (banks, actor):
            result: dict[str, Any] = banks.add_media(name, media, label, severity, actor, clip_id)
        result.pop("ids", None)
        return result

    emit(
        _run(as_json, body),
        as_json,
        lambda d: f"{d['added']} hash(es) added to {d['bank']}, {d['skipped']} already there",
    )


@app.command("export")
def export_cmd(
    name: str = typer.Argument(..., help="bank name"),
    out: Path | None = typer.Option(None, "--out", help="write the file here"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export a bank file; without --out the file itself goes to stdout (or inside the JSON)."""

    def body() -> dict[str, Any]:
        with _banks(data_dir) as (banks, _):
            text: str = banks.export(name)
        if out is not None:
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out)  # never a half-written bank file
        entries = max(0, len(text.splitlines()) - 1)
        return {"bank": name, "entries": entries, "out": str(out) if out else None, "text": text}

    doc = _run(as_json, body)
    if as_json:
        if doc["out"] is not None:
            doc.pop("text")
        emit(doc, True)
    elif out is None:
        typer.echo(doc["text"], nl=False)
    else:
        typer.echo(f"{doc['entries']} entries written to {doc['out']}")


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="a greenroom-hashbank v1 file"),
    name: str | None = typer.Option(
        None, "--name", help="bank to import into (default: the file's)"
    ),
    by: str | None = ACTOR_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import a bank file: validated whole, then added in one transaction (duplicates skipped)."""
    from detectors.hashing import MAX_BANK_FILE_BYTES

    def body() -> dict[str, Any]:
        if not file.is_file():
            raise BadInput(f"no such file: {file}")
        if file.stat().st_size > MAX_BANK_FILE_BYTES:
            raise BadInput(f"bank file is over the {MAX_BANK_FILE_BYTES}-byte limit")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BadInput("invalid bank file: not UTF-8 text") from None
        with _banks(data_dir, by) as (banks, actor):
            return banks.import_text(text, bank=name, actor=actor)  # type: ignore[no-any-return]

    emit(
        _run(as_json, body),
        as_json,
        lambda d: f"{d['added']} entries imported into {d['bank']} ({d['skipped']} already there)",
    )
