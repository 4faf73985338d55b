"""``greenroom feed``: a user's ranked feed from a data directory (no server needed).

Direct mode, like ``greenroom scan``: opens the data directory (exit 3 when a
server holds it) and prints ``{"items": [{"clip_id", "creator", "reason"}],
...}``. Serving a teen the feed counts against their daily limit, as the
server does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_store, settings_for
from greenroom.cli.output import BadInput, emit, run_command


def feed(
    user: str = typer.Option(..., "--user", help="handle of the reader"),
    instruction: str | None = typer.Option(
        None, "--instruction", help='re-rank by meaning, e.g. "more animals, no sports"'
    ),
    limit: int = typer.Option(20, "--limit", help="at most this many items (1-100)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Print USER's feed: published clips they may see, ranked, each with the reason it is there."""
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.wiring import build_services
    from store.db import NotFound

    def body() -> dict[str, Any]:
        settings = settings_for(data_dir)
        with open_store(data_dir) as store:
            svc = build_services(store, settings)
            try:
                reader = svc.users.by_handle(user)
            except NotFound as exc:
                raise BadInput(str(exc)) from None
            return svc.pipeline.feed.feed(reader, instruction, limit)

    def human(d: dict[str, Any]) -> str:
        lines = [f"{it['clip_id']}  @{it['creator']:<16} {it['reason']}" for it in d["items"]]
        if d.get("notice"):
            lines.append(d["notice"])
        return "\n".join(lines) or "the feed is empty"

    emit(run_command(as_json, body), as_json, human)


def register(app: typer.Typer) -> None:
    app.command("feed")(feed)
