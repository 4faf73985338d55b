"""The data directory's one DuckDB database: opening, ownership, migrations, transactions.

Only one process may hold a data directory read-write (DuckDB's own file lock
enforces it). :class:`Store` opens it, applies pending migrations in order,
and hands out transactions. Writes are serialised inside the process: the
audit chain needs a single order, and DuckDB would otherwise let two appends
read the same previous hash. Every write transaction takes typed audit events
and commits them with the change, or neither.

All writes go through one writer (``store/writer.py``): :meth:`Store.write`
group-commits many callers' short writes in shared transactions (each
caller still gets its own atomic, durable write before it returns), and
:meth:`Store.transaction` holds the writer for a caller-driven block.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from store import audit
from store.events import AuditEvent, SchemaMigrated
from store.read_cache import CACHED_TABLES, ReadCache, tables_written_by
from store.writer import Combined, DeferredWriteError, GroupWriter

DB_FILE = "greenroom.duckdb"
OWNER_FILE = "owner.json"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")


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


_VALUES_ROWS = 8  # up to this many rows: one INSERT ... VALUES; more: columns unnested


class SchemaInfo:
    """What deferred inserts need to know of the schema, read from DuckDB's catalog once.

    For a table: the words whose mention in a statement means its deferred rows
    must be written first (itself, tables it references or that reference it,
    every view), its depth in the foreign-key graph (referenced tables are
    written first) and its column types (for the unnested multi-row insert).
    """

    def __init__(self) -> None:
        self._refs: dict[str, set[str]] | None = None  # table -> tables it references
        self._views: frozenset[str] = frozenset()
        self._watch: dict[frozenset[str], re.Pattern[str]] = {}
        self._types: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._depth: dict[str, int] = {}

    def _load(self, conn: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
        if self._refs is None:
            refs: dict[str, set[str]] = {}
            for table, referenced in conn.execute(
                "SELECT table_name, referenced_table FROM duckdb_constraints() "
                "WHERE constraint_type = 'FOREIGN KEY'"
            ).fetchall():
                refs.setdefault(str(table).lower(), set()).add(str(referenced).lower())
            self._views = frozenset(
                str(v).lower()
                for (v,) in conn.execute(
                    "SELECT view_name FROM duckdb_views() WHERE NOT internal"
                ).fetchall()
            )
            self._refs = refs
        return self._refs

    def watch(self, conn: duckdb.DuckDBPyConnection, tables: frozenset[str]) -> re.Pattern[str]:
        pattern = self._watch.get(tables)
        if pattern is None:
            refs = self._load(conn)
            words = set(tables) | set(self._views)
            for table in tables:
                words |= refs.get(table, set())
                words |= {t for t, targets in refs.items() if table in targets}
            alternatives = "|".join(re.escape(w) for w in sorted(words))
            pattern = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)
            self._watch[tables] = pattern
        return pattern

    def depth(self, conn: duckdb.DuckDBPyConnection, table: str) -> int:
        """0 for a table that references none; else one more than its deepest parent."""
        found = self._depth.get(table)
        if found is None:
            refs = self._load(conn)

            def walk(name: str, seen: frozenset[str]) -> int:
                parents = refs.get(name, set()) - seen - {name}
                return 1 + max((walk(p, seen | {name}) for p in parents), default=-1)

            found = self._depth[table] = walk(table, frozenset())
        return found

    def types(
        self, conn: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]
    ) -> list[str]:
        key = (table, columns)
        found = self._types.get(key)
        if found is None:
            rows = dict(
                conn.execute(
                    "SELECT lower(column_name), data_type FROM duckdb_columns() "
                    "WHERE lower(table_name) = ?",
                    [table],
                ).fetchall()
            )
            found = [str(rows[c.lower()]) for c in columns]
            self._types[key] = found
        return found

    def forget(self) -> None:
        """After a migration: the schema may have changed."""
        self._refs = None
        self._views = frozenset()
        self._watch.clear()
        self._types.clear()
        self._depth.clear()


class _Unknown:
    """The audit head has not been read (from the database, or a commit this process made)."""


UNKNOWN_HEAD = _Unknown()


@dataclass
class _FileState:
    """What every :class:`Store` on one database file in this process shares.

    DuckDB lets one process open a file more than once (two ``Store`` objects
    on one data directory, e.g. a test beside its server): their commits must
    bump one read cache and hand on one audit head. ``lock`` makes a COMMIT and
    the head it pinned one step, and a BEGIN and the head it starts from
    another, so no transaction starts from a head older than its snapshot.
    """

    reads: ReadCache = field(default_factory=ReadCache)
    lock: threading.Lock = field(default_factory=threading.Lock)
    head: audit.Head | _Unknown | None = UNKNOWN_HEAD
    stores: int = 0


_FILES: dict[str, _FileState] = {}
_FILES_LOCK = threading.Lock()


class Tx:
    """One write transaction: run SQL and record audit events with it.

    Rows added with :meth:`insert` (and audit rows) are *deferred*: kept in
    memory and written together, several rows to a statement, before the
    next statement that mentions their table (or a table tied to it by a
    foreign key, or a view) and at commit. Readers inside the transaction
    therefore see them -- through :meth:`execute` and ``Store.query`` (not a
    raw cursor). The audit chain's head is read once per transaction, kept
    here, and pinned once at commit; ``audit_head`` must not be written any
    other way. The store hands each transaction the head its last commit
    pinned, so only a transaction after a failed commit (or the first)
    reads it from the table.
    """

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        schema: SchemaInfo | None = None,
        *,
        shared: bool = False,
        head: audit.Head | _Unknown | None = UNKNOWN_HEAD,
    ) -> None:
        self.conn = conn
        self.events = 0
        self._schema = schema or SchemaInfo()
        self._shared = shared  # several callers' writes: a deferred row's failure is ambiguous
        self.deferred_failed = False  # writing deferred rows failed: whose fault is unknown
        self._deferred: dict[tuple[str, tuple[str, ...]], list[Sequence[Any]]] = {}
        self._watch: re.Pattern[str] | None = None
        # ``head``: the chain's committed head when the store knows it (no read needed).
        self._head: audit.Head | None = None if isinstance(head, _Unknown) else head
        self._head_read = not isinstance(head, _Unknown)
        self._head_existed = self._head is not None
        self._head_dirty = False
        self._head_touched = False
        # Cached tables this transaction may have written (store/read_cache.py).
        self.cached_tables_written: set[str] = set()

    @property
    def head(self) -> audit.Head | _Unknown | None:
        """The chain's head as this transaction leaves it; :data:`UNKNOWN_HEAD` if not known."""
        return self._head if self._head_read and not self._head_touched else UNKNOWN_HEAD

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        if self._deferred or self._head_dirty:
            self._before(sql)
        if "audit_head" in sql.lower():
            # Whatever that statement did, the head in memory may no longer be the table's.
            self._head_touched = True
        self.cached_tables_written |= tables_written_by(sql)
        return self.conn.execute(sql, params or [])

    def insert(self, table: str, columns: Sequence[str], values: Sequence[Any]) -> None:
        """Add one row to ``table``, written later (see the class docstring).

        A constraint the row breaks is reported when it is written: by the
        statement that made it be written, or by the commit.
        """
        if len(columns) != len(values):
            raise ValueError(f"{len(columns)} columns but {len(values)} values for {table}")
        key = (table.lower(), tuple(columns))
        if key[0] in CACHED_TABLES:
            self.cached_tables_written.add(key[0])
        rows = self._deferred.get(key)
        if rows is None:
            self._deferred[key] = rows = []
            self._watch = None
        rows.append(values)

    def audit(self, event: AuditEvent) -> int:
        self.events += 1
        if not self._head_read:
            self._head = audit.read_head(self.conn)
            self._head_existed = self._head is not None
            self._head_read = True
        values, self._head = audit.chain_row(self._head, event)
        self._head_dirty = True
        self.insert("audit_log", audit.COLUMNS, values)
        return self._head[0]

    def flush(self) -> None:
        """Write every deferred row now (foreign-key parents first, then in order added)."""
        if not self._deferred:
            return
        pending, self._deferred, self._watch = self._deferred, {}, None
        order = sorted(
            enumerate(pending.items()),
            key=lambda item: (self._schema.depth(self.conn, item[1][0][0]), item[0]),
        )
        table = "?"
        try:
            for _, ((table, columns), rows) in order:
                self._write_rows(table, columns, rows)
        except Exception as exc:
            self.deferred_failed = True
            if self._shared:
                raise DeferredWriteError(f"writing deferred {table} rows: {exc}") from exc
            raise

    def prepare_commit(self) -> None:
        """Write what is deferred and pin the audit head; the store commits next."""
        self.flush()
        self._pin_head()

    def _pin_head(self) -> None:
        if self._head_dirty and self._head is not None:
            audit.write_head(self.conn, self._head, existed=self._head_existed)
            self._head_existed = True
            self._head_dirty = False

    def _before(self, sql: str) -> None:
        if self._deferred:
            if self._watch is None:
                tables = frozenset(table for table, _ in self._deferred)
                self._watch = self._schema.watch(self.conn, tables)
            if self._watch.search(sql):
                self.flush()
        if self._head_dirty and "audit_head" in sql.lower():
            self._pin_head()

    def _write_rows(self, table: str, columns: tuple[str, ...], rows: list[Sequence[Any]]) -> None:
        names = ", ".join(columns)
        if len(rows) <= _VALUES_ROWS:
            marks = "(" + ", ".join("?" * len(columns)) + ")"
            self.conn.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([marks] * len(rows))}",
                [value for row in rows for value in row],
            )
            return
        types = self._schema.types(self.conn, table, columns)
        unnested = ", ".join(f"unnest(CAST(? AS {t}[]))" for t in types)
        self.conn.execute(
            f"INSERT INTO {table} ({names}) SELECT {unnested}",
            [list(column) for column in zip(*rows, strict=True)],
        )


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
        self._local = threading.local()
        self._schema = SchemaInfo()
        # Where the chain was last found intact, so a routine check reads only newer rows.
        self._chain_checkpoint: audit.Checkpoint | None = None
        self._chain_lock = threading.Lock()
        self._writer: GroupWriter[Tx] = GroupWriter(
            lambda: self._begin(shared=True), self._commit, self._rollback
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db_path = self.data_dir / DB_FILE
        try:
            self._conn = duckdb.connect(str(db_path))
        except duckdb.IOException as exc:
            raise DataDirHeldError(self._held_message(exc)) from None
        self._file_key = str(db_path.resolve())
        with _FILES_LOCK:
            self._file = _FILES.setdefault(self._file_key, _FileState())
            self._file.stores += 1
        self._reads = self._file.reads
        self._closed = False
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
        with self._writer.exclusive():
            if self._closed:
                return
            self._closed = True
            with _FILES_LOCK:
                self._file.stores -= 1
                if self._file.stores == 0:
                    _FILES.pop(self._file_key, None)
            self._conn.close()
            if self._owner_written:
                (self.data_dir / OWNER_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in a write transaction, group-committed with other callers' writes.

        Returns ``fn``'s result once the transaction holding the write has
        committed (atomic and durable, as with :meth:`transaction`), or
        raises ``fn``'s exception with nothing of ``fn``'s written. Concurrent
        callers' functions run one after another, in arrival order, in ONE
        transaction on the thread of whichever caller leads the batch, and
        their audit events are chained in that order (``store/writer.py``).

        ``fn`` MUST be safe to re-run: when another function in its batch
        fails, the batch is rolled back and ``fn`` runs again in a new
        transaction. It may run on another thread. Keep to the transaction:
        compute ids, times and anything else it writes inside ``fn``; reset
        (don't append to) outside state it fills; do slow work (hashing,
        decoding, network) before calling, not inside. ``fn`` must not call
        :meth:`write` or :meth:`transaction` itself.
        """
        self._not_nested()
        return self._writer.submit(fn)

    def write_combined(self, op: Combined[Tx, A, R], arg: A) -> R:
        """Like :meth:`write`, for a write that one statement can make for many callers.

        Every request for ``op``'s key in the same batch is applied by one
        ``op.apply(tx, args)`` call (``store/writer.py``): claiming jobs for
        sixteen workers is then one UPDATE, not sixteen. Returns ``arg``'s
        result once committed, or raises the exception ``apply`` gave it.
        """
        self._not_nested()
        return self._writer.submit_combined(op, arg)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A serialised write transaction; audit events commit with the change or not at all.

        It holds the writer for the whole block (no batching: the body runs
        once, on this thread), so its audit events take their place in the
        one chain order between group-committed batches. Prefer :meth:`write`
        for short, re-runnable writes from concurrent callers.
        """
        self._not_nested()
        with self._writer.exclusive():
            tx = self._begin(shared=False)
            try:
                yield tx
            except BaseException:
                self._rollback(tx)
                raise
            self._commit(tx)

    @property
    def writer(self) -> GroupWriter[Tx]:
        """The store's one writer (its ``stats``, ``waiting``, ``max_batch``)."""
        return self._writer

    def _not_nested(self) -> None:
        if getattr(self._local, "tx", None) is not None:
            raise StoreError(
                "a write inside a write transaction: use the transaction you were handed"
            )

    def _begin(self, *, shared: bool) -> Tx:
        conn = self.conn
        # Every write to the file is this process's (DuckDB locks it to one process), so
        # the head the last commit pinned is where this transaction starts: no point read
        # of audit_head per write. A store that cannot know it (the first write, or one
        # after a failed commit) says UNKNOWN_HEAD and the transaction reads it.
        with self._file.lock:
            conn.execute("BEGIN TRANSACTION")
            head = self._file.head
        tx = Tx(conn, self._schema, shared=shared, head=head)
        self._local.tx = tx
        return tx

    def _commit(self, tx: Tx) -> None:
        try:
            tx.prepare_commit()
            with self._file.lock:
                try:
                    tx.conn.execute("COMMIT")
                except BaseException:
                    # What a failed COMMIT left is DuckDB's to say: read the head next time.
                    self._file.head = UNKNOWN_HEAD
                    raise
                self._file.head = tx.head
        except BaseException:
            self._rollback(tx)
            raise
        finally:
            self._local.tx = None
        # Only now: a read stamped before this point may have missed the commit.
        self._reads.committed(tx.cached_tables_written)

    def _rollback(self, tx: Tx) -> None:
        self._local.tx = None
        # DuckDB may have ended it already (a failed COMMIT).
        with suppress(duckdb.TransactionException):
            tx.conn.execute("ROLLBACK")

    # -- reading ---------------------------------------------------------------------------------

    def _flush_current(self) -> None:
        tx = getattr(self._local, "tx", None)
        if tx is not None:
            tx.flush()

    def query(
        self, sql: str, params: list[Any] | tuple[Any, ...] | None = None
    ) -> list[tuple[Any, ...]]:
        self._flush_current()
        return self.conn.execute(sql, params or []).fetchall()

    def cached(self, key: Hashable, tables: tuple[str, ...], load: Callable[[], T]) -> T:
        """``load()``'s answer, kept until a commit writes one of ``tables`` (store/read_cache.py).

        ``load`` must read only ``tables`` (listed in ``CACHED_TABLES``), and its answer must
        not depend on the clock: compare times after, on what it returned. Inside a write
        transaction this thread holds, ``load`` runs every time (it may see that
        transaction's own rows).
        """
        if getattr(self._local, "tx", None) is not None:
            return load()
        return self._reads.get(key, tables, load)

    @property
    def read_cache(self) -> ReadCache:
        return self._reads

    def query_dicts(
        self, sql: str, params: list[Any] | tuple[Any, ...] | None = None
    ) -> list[dict[str, Any]]:
        self._flush_current()
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
                self._schema.forget()  # deferred inserts read the catalog again
            applied.append(migration.version)
        return applied

    def verify_audit(self, *, incremental: bool = False) -> audit.ChainReport:
        """Check the audit chain: every row, or (``incremental``) the rows since the last intact check.

        The check reads one snapshot on its own cursor, so rows appended meanwhile
        by other threads are neither half-seen nor taken for a cut log.
        """
        with self._chain_lock:
            since = self._chain_checkpoint if incremental else None
        self._flush_current()
        cursor = self._conn.cursor()
        try:
            cursor.execute("BEGIN TRANSACTION")
            report = audit.verify_chain(cursor, since)
            cursor.execute("ROLLBACK")
        finally:
            cursor.close()
        with self._chain_lock:
            if report.ok and report.tip is not None:
                current = self._chain_checkpoint
                if current is None or report.tip.seq >= current.seq:
                    self._chain_checkpoint = report.tip
            elif not report.ok:
                # A broken chain is checked in full next time, whatever was found before.
                self._chain_checkpoint = None
        return report
