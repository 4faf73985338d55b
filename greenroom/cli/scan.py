"""``greenroom scan``: run one file through the gate against a data directory (no server needed).

Direct mode: the command opens the data directory itself (exit 3 when a
server holds it), scans, records scan, signals and decision like the server
does, and prints ``{"clip_id", "signals", "decision": {"outcome", "rules",
"version", "queue", ...}}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_store, settings_for
from greenroom.cli.output import BadInput, emit, run_command


def scan(
    media: Path = typer.Argument(..., help="an image or video file"),
    prompt: str | None = typer.Option(None, "--prompt", help="the prompt the clip was made from"),
    creator: str | None = typer.Option(None, "--creator", help="handle of the uploader"),
    parent: str | None = typer.Option(None, "--parent", help="parent clip id (a remix)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Scan MEDIA: signals from every source, the active policy's decision, recorded and queued."""
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.wiring import build_services
    from store.db import NotFound

    def body() -> None:
        if not media.is_file():
            raise BadInput(f"no such file: {media}")
        settings = settings_for(data_dir)
        with open_store(data_dir) as store:
            svc = build_services(store, settings)
            user = None
            if creator is not None:
                try:
                    user = svc.users.by_handle(creator)
                except NotFound as exc:
                    raise BadInput(str(exc)) from None
            result = svc.pipeline.gate.scan(
                media,
                user,
                prompt=prompt,
                stage="remix" if parent else "upload",
                parent_clip_id=parent,
                origin="remix" if parent else "upload",
            )
            doc = result.to_dict()

        def human(d: dict[str, Any]) -> str:
            dec = d["decision"]
            rules = ", ".join(r["id"] for r in dec["rules"]) or "no rules"
            queue = f" -> queue {dec['queue']} (priority {dec['priority']})" if dec["queue"] else ""
            return (
                f"clip {d['clip_id']}: {dec['outcome']} ({rules}){queue}; status {d['status']}; "
                f"policy {dec['version']}; sources {', '.join(d['sources_run']) or 'none'}"
            )

        emit(doc, as_json, human)

    run_command(as_json, body)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
