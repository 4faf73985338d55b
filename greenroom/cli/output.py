"""How every command reports: one JSON document on stdout with ``--json``, exit codes per CLI.md.

Exit codes: 0 success, 2 bad input, 3 data directory held by a server, 1 anything
else. Commands raise :class:`CliError` subclasses (or let the known input-error
types escape) and :func:`run_command` turns them into the right exit code and
``{"error": ...}`` document. Logs and progress go to stderr, never stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_HELD = 3


class CliError(Exception):
    """A failure with a message safe to print and an exit code."""

    exit_code = EXIT_FAILURE


class BadInput(CliError):
    exit_code = EXIT_BAD_INPUT


class DataDirHeld(CliError):
    exit_code = EXIT_HELD


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def emit(document: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    """Print a result: exactly one JSON document with ``--json``, else a human rendering."""
    if as_json:
        sys.stdout.write(json.dumps(document, default=_json_default, ensure_ascii=False) + "\n")
    elif human is not None:
        typer.echo(human(document))
    else:
        typer.echo(json.dumps(document, default=_json_default, ensure_ascii=False, indent=2))


def log(message: str) -> None:
    """Progress for people; stderr so ``--json`` output stays one document."""
    typer.echo(message, err=True)


def fail(error: CliError, as_json: bool) -> NoReturn:
    if as_json:
        sys.stdout.write(json.dumps({"error": str(error)}) + "\n")
    else:
        typer.echo(f"error: {error}", err=True)
    raise typer.Exit(error.exit_code)


T = TypeVar("T")


def run_command(as_json: bool, body: Callable[[], T]) -> T:
    """Run a command body, mapping known errors to exit codes and JSON errors.

    Input errors from the lower packages (media, policy files, validation) are
    recognised by their types so each command need not repeat the mapping.
    """
    from pydantic import ValidationError

    from detectors.base import DetectorError

    try:
        return body()
    except typer.Exit:
        raise
    except CliError as exc:
        fail(exc, as_json)
    except (DetectorError, ValidationError, FileNotFoundError, IsADirectoryError) as exc:
        message = str(exc) if not isinstance(exc, OSError) else f"no such file: {exc.filename}"
        fail(BadInput(message), as_json)
    except ValueError as exc:
        fail(BadInput(str(exc)), as_json)
    except Exception as exc:  # the last line of defence: no traceback on stdout
        fail(CliError(f"unexpected failure ({type(exc).__name__}): {exc}"), as_json)
