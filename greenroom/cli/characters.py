"""``greenroom characters``: register, list, remove and check characters against a data directory (no server).

Direct mode: each command opens the data directory itself (exit 3 when a
server holds it). ``add`` and ``check`` print the CLI.md shapes
(``{"id", "name", "policy"}``; ``{"matches": [{"character_id", "name",
"score", "threshold", "backend", "evidence"}]}``) with more keys beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_services
from greenroom.cli.output import BadInput, emit, run_command

app = typer.Typer(help="Rights holders' characters: register, list, check.", no_args_is_help=True)


def _run(as_json: bool, body: Callable[[], None]) -> None:
    run_command(as_json, body)


@app.command("add")
def add(
    owner: str = typer.Option(..., "--owner", help="the rights holder's handle"),
    name: str = typer.Option(..., "--name", help="canonical name"),
    alias: list[str] = typer.Option([], "--alias", help="another name (repeatable)"),
    description: str | None = typer.Option(None, "--description", help="what it looks like"),
    policy: str | None = typer.Option(
        None, "--policy", help="block (default) | allow | allow_with_attribution | review"
    ),
    ref: list[Path] = typer.Option([], "--ref", help="a reference image (repeatable)"),
    attribution: str | None = typer.Option(
        None,
        "--attribution",
        help="text shown on clips when allowed with attribution (default: name © holder)",
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Register a character for a rights holder; every reference image is checked before anything is written."""

    def body() -> None:
        from pipeline.characters import RefUpload

        refs = []
        for path in ref:
            if not path.is_file():
                raise BadInput(f"no such file: {path}")
            refs.append(RefUpload(path.read_bytes(), path.name))
        with open_services(data_dir) as svc:
            user = svc.users.by_handle(owner)
            rec = svc.pipeline.characters.register(
                None,
                user,
                name=name,
                aliases=alias,
                description=description,
                policy=policy,
                refs=refs,
                attribution=attribution,
            )
            doc = {**rec.to_dict(), "owner": user.handle}
        emit(
            doc,
            as_json,
            lambda d: f"{d['id']}: {d['name']} ({d['policy']}), {len(d['refs'])} reference images",
        )

    _run(as_json, body)


@app.command("list")
def list_(
    owner: str | None = typer.Option(None, "--owner", help="only this rights holder's"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Registered characters (live ones), oldest first."""

    def body() -> None:
        with open_services(data_dir) as svc:
            owner_id = svc.users.by_handle(owner).id if owner else None
            doc = {
                "characters": [c.to_dict() for c in svc.pipeline.characters.listing(None, owner_id)]
            }

        def human(d: dict[str, Any]) -> str:
            lines = [
                f"{c['id']}  {c['name']}  [{c['policy']}]  aliases: {', '.join(c['aliases']) or '-'}"
                f"  refs: {len(c['refs'])}"
                for c in d["characters"]
            ]
            return "\n".join(lines) or "no characters"

        emit(doc, as_json, human)

    _run(as_json, body)


@app.command("remove")
def remove(
    character_id: str = typer.Argument(..., help="character id"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove (soft-delete) a character: it no longer matches; past evidence stays."""

    def body() -> None:
        with open_services(data_dir) as svc:
            rec = svc.pipeline.characters.remove(None, character_id)
        emit({"id": rec.id, "deleted": True}, as_json, lambda d: f"removed {d['id']}")

    _run(as_json, body)


@app.command("check")
def check(
    media: Path | None = typer.Argument(None, help="an image or video file"),
    prompt: str | None = typer.Option(None, "--prompt", help="a generation prompt"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Which registered characters a prompt and/or a media file match, with the evidence."""

    def body() -> None:
        if media is None and prompt is None:
            raise BadInput("give --prompt TEXT, a media file, or both")
        if media is not None and not media.is_file():
            raise BadInput(f"no such file: {media}")
        with open_services(data_dir) as svc:
            chars = svc.pipeline.characters
            frames = chars.check_media(media) if media is not None else []
            doc = {"matches": [chars.match_dict(m) for m in chars.check(prompt, frames)]}

        def human(d: dict[str, Any]) -> str:
            lines = [
                f"{m['name']} ({m['character_id']}): {m['backend']} score {m['score']:.3f} "
                f"(threshold {m['threshold']}) policy {m['policy']}"
                for m in d["matches"]
            ]
            return "\n".join(lines) or "no registered character matched"

        emit(doc, as_json, human)

    _run(as_json, body)
