"""``greenroom likeness``: register protected likenesses and match media against every likeness (direct mode)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_services
from greenroom.cli.output import BadInput, emit, run_command

app = typer.Typer(help="Protected likenesses and likeness matching.", no_args_is_help=True)


def need_files(paths: list[Path]) -> None:
    for path in paths:
        if not path.is_file():
            raise BadInput(f"no such file: {path}")


def run(as_json: bool, body: Callable[[], Any], human: Callable[[Any], str] | None = None) -> None:
    def wrapped() -> None:
        emit(body(), as_json, human)

    run_command(as_json, wrapped)


@app.command("protect")
def protect(
    images: list[Path] = typer.Argument(..., help="photos of the person (each needs a face)"),
    name: str = typer.Option(..., "--name", help="who this is, e.g. a public figure's name"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """(admin) Register a protected likeness from photos: never usable in a clip."""

    def body() -> dict[str, Any]:
        need_files(images)
        with open_services(data_dir) as svc:
            likeness = svc.pipeline.likeness.protect(None, name, list(images))
        return likeness.to_dict()

    run(
        as_json,
        body,
        lambda d: f"protected likeness {d['id']} ({d['name']}): {d['embeddings']} embeddings",
    )


@app.command("match")
def match(
    media: Path = typer.Argument(..., help="an image or video"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Which cameos and protected likenesses appear in MEDIA, and from when to when."""

    def body() -> dict[str, Any]:
        need_files([media])
        with open_services(data_dir) as svc:
            found = svc.pipeline.likeness.match_file(media)
        return {"matches": [m.to_dict() for m in found]}

    def human(d: dict[str, Any]) -> str:
        lines = [
            f"{m['kind']} {m['name']} ({m['id']}): similarity {m['similarity']:.3f} >= "
            f"{m['threshold']}, {m['start_s']:.1f}-{m['end_s']:.1f} s"
            for m in d["matches"]
        ]
        return "\n".join(lines) or "no likeness found"

    run(as_json, body, human)


@app.command("reembed")
def reembed(
    embedder: str | None = typer.Option(None, "--embedder", help="dlib-resnet | arcface"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-embed stored enrolment frames and photos with another embedder (after a model change)."""

    def body() -> dict[str, Any]:
        with open_services(data_dir) as svc:
            return dict(svc.pipeline.likeness.reembed(embedder))

    run(as_json, body)
