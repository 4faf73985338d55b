"""The append-only audit log: a hash chain over every state change.

Each row's hash covers its own content and the previous row's hash, and
``audit_head`` pins the latest (seq, hash), so an edited, deleted, reordered or
cut-off row is found by :func:`verify_chain`, which names the first bad row.
Rows are appended only through :func:`append` or ``Tx.audit`` (both build them
with :func:`chain_row`), inside the caller's transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from store.events import AuditEvent

GENESIS = "0" * 64


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(
    seq: int,
    at: str,
    actor_id: str | None,
    event: str,
    subject_type: str | None,
    subject_id: str | None,
    payload: dict[str, Any],
    prev_hash: str,
) -> str:
    body = _canonical([seq, at, actor_id, event, subject_type, subject_id, payload, prev_hash])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _at_text(at: datetime) -> str:
    # DuckDB returns TIMESTAMPTZ in the session zone; hash a fixed UTC form.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


COLUMNS = (
    "seq",
    "logged_at",
    "actor_id",
    "event",
    "subject_type",
    "subject_id",
    "payload",
    "prev_hash",
    "row_hash",
)

Head = tuple[int, str]
_INSERT = f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def read_head(conn: duckdb.DuckDBPyConnection) -> Head | None:
    """The pinned (seq, hash) of the latest row, or None before the first event."""
    head = conn.execute("SELECT seq, row_hash FROM audit_head WHERE id = 1").fetchone()
    return (int(head[0]), str(head[1])) if head else None


def write_head(conn: duckdb.DuckDBPyConnection, head: Head, *, existed: bool) -> None:
    """Pin ``head``; ``existed``: the row is there already (an UPDATE, cheaper than an upsert)."""
    if existed:
        conn.execute("UPDATE audit_head SET seq = ?, row_hash = ? WHERE id = 1", list(head))
    else:
        conn.execute(
            "INSERT INTO audit_head VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, row_hash = excluded.row_hash",
            list(head),
        )


def chain_row(head: Head | None, event: AuditEvent) -> tuple[list[Any], Head]:
    """The ``audit_log`` row (in :data:`COLUMNS` order) that follows ``head``, and the new head."""
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = datetime.now(UTC)
    payload = json.loads(_canonical(event.payload()))
    digest = row_hash(
        seq,
        _at_text(at),
        event.actor_id,
        event.name,
        event.subject_type,
        event.subject_id,
        payload,
        prev,
    )
    values = [
        seq,
        at,
        event.actor_id,
        event.name,
        event.subject_type,
        event.subject_id,
        _canonical(payload),
        prev,
        digest,
    ]
    return values, (seq, digest)


def append(conn: duckdb.DuckDBPyConnection, event: AuditEvent) -> int:
    """Append one event; the caller's transaction makes it atomic with the change.

    ``Tx.audit`` does the same with the head kept in memory for the
    transaction and the rows written together (see ``store.db.Tx``).
    """
    head = read_head(conn)
    values, new_head = chain_row(head, event)
    conn.execute(_INSERT, values)
    write_head(conn, new_head, existed=head is not None)
    return new_head[0]


@dataclass(frozen=True)
class Checkpoint:
    """A row the chain was verified through: its seq and the hash it had then."""

    seq: int
    row_hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    first_bad: int | None
    reason: str | None = None
    # "full": every row was recomputed; "incremental": rows after a checkpoint (see verify_chain).
    mode: str = "full"
    checked_from: int = 1
    # The last row verified, when the chain is intact: where the next incremental check starts.
    tip: Checkpoint | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "first_bad": self.first_bad,
            "reason": self.reason,
        }


_ROW_COLS = (
    "seq, logged_at, actor_id, event, subject_type, subject_id, payload, prev_hash, row_hash"
)


def verify_chain(conn: duckdb.DuckDBPyConnection, since: Checkpoint | None = None) -> ChainReport:
    """Walk the chain in seq order; report the first row that does not check out.

    ``first_bad`` is the seq where the chain breaks: the edited row, the row
    after a deleted one, the first of a swapped pair, or (for a cut tail) the
    first missing seq.

    With ``since`` (a checkpoint from an earlier intact check) only the rows from
    the checkpoint on are recomputed, which costs the new rows instead of the whole
    log. It still finds a deleted row anywhere (seqs no longer run 1..n), any
    rewrite that re-chained the log (the checkpoint row's hash changed) and any
    break after the checkpoint. What only a full check finds: an older row whose
    content was edited while its stored hash was left as it was.
    """
    mode, start, expected_prev, expected_seq = "full", 1, GENESIS, 1
    if since is not None:
        n, top = conn.execute(
            "SELECT count(*), coalesce(max(seq), 0) FROM audit_log"
        ).fetchone() or (0, 0)
        if int(n) != int(top):
            # Seqs do not run 1..n: a row was deleted somewhere; the full walk names it.
            return verify_chain(conn)
        anchor = conn.execute(
            f"SELECT {_ROW_COLS} FROM audit_log WHERE seq = ?", [since.seq]
        ).fetchone()
        if anchor is None or anchor[-1] != since.row_hash:
            return ChainReport(
                False,
                int(n),
                since.seq,
                "a verified row changed since the last check",
                "incremental",
                since.seq,
            )
        mode, start = "incremental", since.seq
        expected_seq, expected_prev = since.seq, anchor[7]
    rows = conn.execute(
        f"SELECT {_ROW_COLS} FROM audit_log WHERE seq >= ? ORDER BY seq", [start]
    ).fetchall()
    total = int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])  # type: ignore[index]
    for seq, at, actor, event, s_type, s_id, payload, prev, digest in rows:
        if seq != expected_seq:
            return ChainReport(
                False, total, expected_seq, f"row {expected_seq} is missing", mode, start
            )
        if prev != expected_prev:
            return ChainReport(False, total, seq, "previous-hash link broken", mode, start)
        data = json.loads(payload) if isinstance(payload, str) else payload
        recomputed = row_hash(seq, _at_text(at), actor, event, s_type, s_id, data, prev)
        if recomputed != digest:
            return ChainReport(
                False, total, seq, "row content does not match its hash", mode, start
            )
        expected_prev = digest
        expected_seq += 1
    head = conn.execute("SELECT seq, row_hash FROM audit_head WHERE id = 1").fetchone()
    if head is None:
        if total:
            return ChainReport(False, total, 1, "audit head is missing", mode, start)
        return ChainReport(True, 0, None, None, mode, start)
    if int(head[0]) != total or head[1] != expected_prev:
        first_missing = min(int(head[0]), total) + 1
        return ChainReport(
            False, total, first_missing, "log was cut after the pinned head", mode, start
        )
    return ChainReport(True, total, None, None, mode, start, Checkpoint(total, expected_prev))


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows to read: every given field must match (None: any)."""

    actor_id: str | None = None
    subject_id: str | None = None
    subject_type: str | None = None
    # An exact event name, or a family ending in ".": "account." matches every account event.
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Words that must appear in the payload (case-insensitive).
    text: str | None = None
    # Any of these subject ids (a clip's record: the clip, its items, its decisions).
    subject_ids: tuple[str, ...] | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column in ("actor_id", "subject_id", "subject_type"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.subject_ids is not None:
            if not self.subject_ids:
                clauses.append("false")
            else:
                clauses.append(f"subject_id IN ({', '.join('?' for _ in self.subject_ids)})")
                params.extend(self.subject_ids)
        if self.event is not None:
            if self.event.endswith("."):
                clauses.append("starts_with(event, ?)")
            else:
                clauses.append("event = ?")
            params.append(self.event)
        if self.since is not None:
            clauses.append("logged_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("logged_at < ?")
            params.append(self.until)
        if self.text:
            # contains() on the lowered text: no LIKE pattern characters to escape.
            clauses.append("contains(lower(CAST(payload AS VARCHAR)), ?)")
            params.append(self.text.lower())
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _shape(row: tuple[Any, ...]) -> dict[str, Any]:
    seq, at, actor, event, s_type, s_id, payload, row_hash = row
    return {
        "seq": seq,
        "at": _at_text(at),
        "actor_id": actor,
        "event": event,
        "subject_type": s_type,
        "subject_id": s_id,
        "payload": json.loads(payload) if isinstance(payload, str) else payload,
        "row_hash": row_hash,
    }


_SELECT = "SELECT seq, logged_at, actor_id, event, subject_type, subject_id, payload, row_hash FROM audit_log"


def search(
    conn: duckdb.DuckDBPyConnection,
    where: AuditFilter | None = None,
    *,
    limit: int = 100,
    before_seq: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of matching rows, newest first, and the ``before_seq`` of the next page (None: last).

    Keyset paging on ``seq``: a page costs the same at row 10 and at row 100,000,
    and rows appended while someone pages do not shift what they see next.
    """
    sql, params = (where or AuditFilter()).where()
    if before_seq is not None:
        sql += (" AND" if sql else " WHERE") + " seq < ?"
        params.append(before_seq)
    rows = conn.execute(
        f"{_SELECT}{sql} ORDER BY seq DESC LIMIT ?", [*params, limit + 1]
    ).fetchall()
    page = [_shape(r) for r in rows[:limit]]
    return page, (page[-1]["seq"] if len(rows) > limit else None)


def count(conn: duckdb.DuckDBPyConnection, where: AuditFilter | None = None) -> int:
    sql, params = (where or AuditFilter()).where()
    row = conn.execute(f"SELECT count(*) FROM audit_log{sql}", params).fetchone()
    return int(row[0]) if row else 0


def export(
    conn_for: Any, where: AuditFilter | None = None, *, batch: int = 2000
) -> Iterator[dict[str, Any]]:
    """Every matching row, oldest first, read in batches (``conn_for()`` gives a connection per batch).

    For streaming: nothing is held between batches, so a slow reader holds no
    cursor or lock, and memory stays at one batch however long the log is.
    """
    sql, params = (where or AuditFilter()).where()
    after = 0
    while True:
        page_sql = sql + (" AND" if sql else " WHERE") + " seq > ?"
        rows = (
            conn_for()
            .execute(f"{_SELECT}{page_sql} ORDER BY seq LIMIT ?", [*params, after, batch])
            .fetchall()
        )
        if not rows:
            return
        for row in rows:
            yield _shape(row)
        after = int(rows[-1][0])
        if len(rows) < batch:
            return


CSV_COLUMNS = (
    "seq",
    "at",
    "actor_id",
    "event",
    "subject_type",
    "subject_id",
    "payload",
    "row_hash",
)


def csv_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The export as CSV text, a header then one line per row (payload as compact JSON).

    No cell can start a spreadsheet formula: people's words live only inside
    the payload, which starts with ``{``; the other cells are our ids, names and times.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield take()
    for row in rows:
        writer.writerow(
            [
                json.dumps(row[c], sort_keys=True, separators=(",", ":"))
                if c == "payload"
                else row[c]
                for c in CSV_COLUMNS
            ]
        )
        yield take()


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The export as JSON lines, one row per line."""
    for row in rows:
        yield json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n"


def recent(
    conn: duckdb.DuckDBPyConnection, limit: int = 100, subject_id: str | None = None
) -> list[dict[str, Any]]:
    """The latest audit rows, newest first (for the console and the API)."""
    page, _ = search(conn, AuditFilter(subject_id=subject_id), limit=limit)
    for row in page:
        row.pop("row_hash")
    return page
