"""The data directory's one DuckDB database: opening, ownership, migrations, transactions.

Only one process may hold a data directory read-write (DuckDB's own file lock
enforces it). :class:`Store` opens it, applies pending migrations in order,
and hands out transactions. Writes are serialised inside the process: the
audit chain needs a single order, and DuckDB would otherwise let two appends
read the same previous hash. Every write transaction takes typed audit events
and commits them with the change, or neither.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from store import audit
from store.events import AuditEvent, SchemaMigrated

DB_FILE = "greenroom.duckdb"
OWNER_FILE = "owner.json"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class StoreError(Exception):
    """The store cannot do what was asked; the message is safe to show."""


class DataDirHeldError(StoreError):
    """Another process (normally the server) holds the data directory."""


class NotFound(StoreError):
    """An id that does not exist (or that the caller may not see)."""


class Conflict(StoreError):
    """The change conflicts with existing data (duplicate, wrong state)."""


def new_id(prefix: str) -> str:
    """A short random id with a readable type prefix, e.g. ``usr_3f9a0c1d2b4e``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def now() -> datetime:
    return datetime.now(UTC)


def as_aware(value: Any, reference: datetime) -> datetime:
    """DuckDB may hand back naive timestamps; read them in the reference's zone."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=reference.tzinfo)
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The shipped migrations, in version order."""
    found = []
    for entry in resources.files("store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError("two migrations share a version number")
    return found


class Tx:
    """One write transaction: run SQL and record audit events with it."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.events = 0

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        return self.conn.execute(sql, params or [])

    def audit(self, event: AuditEvent) -> int:
        self.events += 1
        return audit.append(self.conn, event)


class Store:
    """A data directory opened read-write by this process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        owner: str = "cli",
        address: str | None = None,
        migrations: list[Migration] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db_path = self.data_dir / DB_FILE
        try:
            self._conn = duckdb.connect(str(db_path))
        except duckdb.IOException as exc:
            raise DataDirHeldError(self._held_message(exc)) from None
        self._owner_written = False
        if owner == "server":
            (self.data_dir / OWNER_FILE).write_text(
                json.dumps({"pid": os.getpid(), "owner": owner, "address": address})
            )
            self._owner_written = True
        try:
            self.migrate(migrations if migrations is not None else load_migrations())
        except BaseException:
            # A failed migration must not leave the file locked by this process.
            self.close()
            raise

    def _held_message(self, exc: Exception) -> str:
        owner_path = self.data_dir / OWNER_FILE
        where = ""
        try:
            info = json.loads(owner_path.read_text())
            if info.get("address"):
                where = f" (the server at {info['address']}, pid {info.get('pid')})"
        except (OSError, ValueError):
            pass
        return (
            f"data directory {self.data_dir} is held by another process{where}; "
            "use the server's API or stop the server first"
        )

    # -- connections -------------------------------------------------------

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """A cursor for this thread (DuckDB cursors are per-thread connections)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._conn.cursor()
            self._local.cursor = cursor
        return cursor

    def close(self) -> None:
        with self._write_lock:
            self._conn.close()
            if self._owner_written:
                (self.data_dir / OWNER_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A serialised write transaction; audit events commit with the change or not at all."""
        with self._write_lock:
            conn = self.conn
            conn.execute("BEGIN TRANSACTION")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def query(
        self, sql: str, params: list[Any] | tuple[Any, ...] | None = None
    ) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params or []).fetchall()

    def query_dicts(
        self, sql: str, params: list[Any] | tuple[Any, ...] | None = None
    ) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params or [])
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # -- schema --------------------------------------------------------------

    def schema_version(self) -> int:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        row = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def migrate(self, migrations: list[Migration]) -> list[int]:
        """Apply every migration newer than the directory's schema, each atomically."""
        applied = []
        current = self.schema_version()
        for migration in migrations:
            if migration.version <= current:
                continue
            with self.transaction() as tx:
                tx.execute(migration.sql)
                tx.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.name, now()],
                )
                tx.audit(SchemaMigrated(None, version=migration.version, migration=migration.name))
            applied.append(migration.version)
        return applied

    def verify_audit(self) -> audit.ChainReport:
        return audit.verify_chain(self.conn)
