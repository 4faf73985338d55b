"""``greenroom certs``: development signing certificates for C2PA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import JSON_OPTION
from greenroom.cli.output import emit, run_command

app = typer.Typer(help="Signing certificates.", no_args_is_help=True)


@app.command("dev")
def dev(
    out: Path = typer.Option(
        ..., "--out", help="directory to write the CA, signer and trust anchors"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite existing files"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a development CA and a CA-signed C2PA signing certificate (not for production)."""

    def body() -> dict[str, Any]:
        from generator.certs import create_dev_certs

        paths = create_dev_certs(out, overwrite=force)
        return paths.to_dict() | {
            "note": "development only: configure trust_anchors on verifiers to trust this CA",
            "settings": {
                "GREENROOM_SIGNING_CERT": str(paths.signer_cert),
                "GREENROOM_SIGNING_KEY": str(paths.signer_key),
                "GREENROOM_TRUST_ANCHORS": str(paths.trust_anchors),
            },
        }

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: "\n".join(f"export {k}={v}" for k, v in d["settings"].items()),
    )
