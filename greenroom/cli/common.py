"""Helpers the command modules share: opening the data directory, resolving settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from greenroom.cli.output import BadInput, DataDirHeld

if TYPE_CHECKING:
    from feed.services import Services
    from store.users import User
from greenroom.settings import Settings, get_settings
from store.db import DB_FILE, DataDirHeldError, Store

DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="data directory (default from settings)")
JSON_OPTION = typer.Option(False, "--json", help="print one JSON document on stdout")


def settings_for(data_dir: Path | None = None) -> Settings:
    base = get_settings()
    return base.model_copy(update={"data_dir": data_dir}) if data_dir is not None else base


@contextmanager
def open_store(data_dir: Path | None, *, create: bool = False) -> Iterator[Store]:
    """Open the data directory for a command that runs without the server.

    Fails with exit 3 (not a lock traceback) when a server holds it, and with
    exit 2 when it does not exist (unless ``create``).
    """
    settings = settings_for(data_dir)
    path = settings.data_dir
    if not create and not (path / DB_FILE).exists():
        raise BadInput(f"no Greenroom data directory at {path} (create one with 'greenroom init')")
    try:
        store = Store(path, owner="cli")
    except DataDirHeldError as exc:
        raise DataDirHeld(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


@contextmanager
def open_services(data_dir: Path | None) -> Iterator[Services]:
    """The data directory's services in direct mode (no server); a missing id or a
    conflicting change becomes a bad-input error (exit 2)."""
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.wiring import build_services
    from store.db import Conflict, NotFound

    with open_store(data_dir) as store:
        try:
            yield build_services(store, settings_for(data_dir))
        except (Conflict, NotFound) as exc:
            raise BadInput(str(exc)) from None


def account(store: Store, handle: str) -> User:
    """The account with this handle (``@`` and case ignored), or bad input (exit 2) saying so."""
    from store.db import NotFound
    from store.users import Users

    try:
        # Looking an account up reads no secret: the pepper only hashes tokens and passwords.
        return Users(store, pepper="").by_handle(handle.strip().lstrip("@").lower())
    except NotFound as exc:
        raise BadInput(str(exc)) from None
