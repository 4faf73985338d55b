"""The append-only audit log: a hash chain over every state change.

Each row's hash covers its own content and the previous row's hash, and
``audit_head`` pins the latest (seq, hash), so an edited, deleted, reordered or
cut-off row is found by :func:`verify_chain`, which names the first bad row.
Rows are appended only through :func:`append` or ``Tx.audit`` (both build them
with :func:`chain_row`), inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
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
class ChainReport:
    ok: bool
    rows: int
    first_bad: int | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "first_bad": self.first_bad,
            "reason": self.reason,
        }


def verify_chain(conn: duckdb.DuckDBPyConnection) -> ChainReport:
    """Walk the chain in seq order; report the first row that does not check out.

    ``first_bad`` is the seq where the chain breaks: the edited row, the row
    after a deleted one, the first of a swapped pair, or (for a cut tail) the
    first missing seq.
    """
    rows = conn.execute(
        "SELECT seq, logged_at, actor_id, event, subject_type, subject_id, payload, prev_hash, row_hash "
        "FROM audit_log ORDER BY seq"
    ).fetchall()
    expected_prev = GENESIS
    expected_seq = 1
    for seq, at, actor, event, s_type, s_id, payload, prev, digest in rows:
        if seq != expected_seq:
            return ChainReport(False, len(rows), expected_seq, f"row {expected_seq} is missing")
        if prev != expected_prev:
            return ChainReport(False, len(rows), seq, "previous-hash link broken")
        data = json.loads(payload) if isinstance(payload, str) else payload
        recomputed = row_hash(seq, _at_text(at), actor, event, s_type, s_id, data, prev)
        if recomputed != digest:
            return ChainReport(False, len(rows), seq, "row content does not match its hash")
        expected_prev = digest
        expected_seq += 1
    head = conn.execute("SELECT seq, row_hash FROM audit_head WHERE id = 1").fetchone()
    if head is None:
        if rows:
            return ChainReport(False, len(rows), 1, "audit head is missing")
        return ChainReport(True, 0, None)
    if int(head[0]) != len(rows) or head[1] != expected_prev:
        first_missing = min(int(head[0]), len(rows)) + 1
        return ChainReport(False, len(rows), first_missing, "log was cut after the pinned head")
    return ChainReport(True, len(rows), None)


def recent(
    conn: duckdb.DuckDBPyConnection, limit: int = 100, subject_id: str | None = None
) -> list[dict[str, Any]]:
    """The latest audit rows, newest first (for the console and the API)."""
    sql = "SELECT seq, logged_at, actor_id, event, subject_type, subject_id, payload FROM audit_log"
    params: list[Any] = []
    if subject_id is not None:
        sql += " WHERE subject_id = ?"
        params.append(subject_id)
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(limit)
    out = []
    for seq, at, actor, event, s_type, s_id, payload in conn.execute(sql, params).fetchall():
        out.append(
            {
                "seq": seq,
                "at": _at_text(at),
                "actor_id": actor,
                "event": event,
                "subject_type": s_type,
                "subject_id": s_id,
                "payload": json.loads(payload) if isinstance(payload, str) else payload,
            }
        )
    return out
