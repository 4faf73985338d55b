"""``greenroom generate``: the whole generate flow against a data directory (no server needed).

Direct mode, like ``greenroom scan``: prompt gate, generator, watermark,
output scan, C2PA signing (the configured identity, else the data directory's
development certificate), fingerprinting and publishing, recorded as the
server would. Prints ``{"clip_id" or null, "decision", "model",
"random_weights", "manifest_id", ...}``. With no real diffusers pipeline in
``<models_dir>/diffusers/`` the model is the RANDOM-WEIGHT tiny one and the
output says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_store, settings_for
from greenroom.cli.output import BadInput, emit, log, run_command


def generate(
    prompt: str = typer.Option(..., "--prompt", help="what to generate"),
    cameo: list[str] = typer.Option(
        [], "--cameo", help="handle of a cameo owner to appear (repeatable)"
    ),
    creator: str = typer.Option(..., "--creator", help="handle of the requesting account"),
    parent: str | None = typer.Option(None, "--parent", help="parent clip id (a remix)"),
    seconds: float = typer.Option(2.0, "--seconds", help="clip length (0-10 s)"),
    seed: int | None = typer.Option(None, "--seed", help="generator seed (default: random)"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate a clip: prompt gate -> generator -> watermark -> output scan -> sign -> publish."""
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.wiring import build_services
    from store.db import NotFound

    def body() -> None:
        settings = settings_for(data_dir)
        with open_store(data_dir) as store:
            svc = build_services(store, settings)
            try:
                user = svc.users.by_handle(creator)
            except NotFound as exc:
                raise BadInput(str(exc)) from None
            try:
                result = svc.pipeline.generation.generate(
                    user, prompt, list(cameo), parent_clip_id=parent, seconds=seconds, seed=seed
                )
            except NotFound as exc:
                raise BadInput(str(exc)) from None
            doc = result.to_dict()
        if doc["random_weights"]:
            log(f"model {doc['model']} has RANDOM weights: its frames are noise, for testing")
        if (doc.get("signing") or {}).get("development_certificate"):
            log(doc["signing"]["note"])
        emit(doc, as_json, _human)

    run_command(as_json, body)


def _human(d: dict[str, Any]) -> str:
    dec = d["decision"]
    rules = ", ".join(r["id"] for r in dec.get("rules") or []) or "no rules"
    if d["clip_id"] is None:
        return f"prompt {dec['outcome']} ({rules}); no clip was made"
    model = d["model"] + (" (RANDOM WEIGHTS)" if d["random_weights"] else "")
    signed = f"signed {d['manifest_id']}" if d["manifest_id"] else "not signed"
    return (
        f"clip {d['clip_id']}: {dec['outcome']} ({rules}); status {d['status']}; {signed}; "
        f"model {model}"
    )


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
