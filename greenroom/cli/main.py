"""The ``greenroom`` command: one typer app with a sub-app per area.

Each area's commands live in their own module (``greenroom/cli/<area>.py``)
and are registered here; this file only assembles them.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="greenroom",
    help="Greenroom: trust and safety for an AI-video social app.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, sub-command name or None for top-level commands). A module exposes
# either ``app`` (a typer.Typer, mounted under the name) or ``register(app)``.
_AREAS: list[tuple[str, str | None]] = [
    ("greenroom.cli.policy", "policy"),
    ("greenroom.cli.system", None),
    ("greenroom.cli.provenance", "provenance"),
    ("greenroom.cli.certs", "certs"),
    ("greenroom.cli.faces", "faces"),
    ("greenroom.cli.safety", "safety"),
    ("greenroom.cli.banks", "banks"),
    ("greenroom.cli.scan", None),
    ("greenroom.cli.policy_store", None),
    ("greenroom.cli.generate", None),
    ("greenroom.cli.characters", "characters"),
    ("greenroom.cli.feed", None),
    ("greenroom.cli.likeness", "likeness"),
    ("greenroom.cli.cameo", "cameo"),
    ("greenroom.cli.invites", "invites"),
]


def _assemble() -> None:
    for module_name, name in _AREAS:
        module = importlib.import_module(module_name)
        if name is None:
            module.register(app)
        else:
            app.add_typer(module.app, name=name)


_assemble()

if __name__ == "__main__":
    app()
