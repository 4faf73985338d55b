"""Audit chain tamper detection: edited, deleted, reordered, cut or forged rows are found."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from store.db import Store
from store.events import GenericEvent, UserCreated

EVENTS = 8  # on top of the migration events


@pytest.fixture()
def chained(data_dir: Path) -> Iterator[Store]:
    with Store(data_dir) as store:
        for i in range(EVENTS):
            with store.transaction() as tx:
                tx.audit(UserCreated(None, user_id=f"usr_{i}", handle=f"h{i}", role="user"))
        report = store.verify_audit()
        assert report.ok and report.first_bad is None
        yield store


def _rows(store: Store) -> int:
    return int(store.query("SELECT count(*) FROM audit_log")[0][0])


def test_intact_chain_verifies(chained: Store) -> None:
    report = chained.verify_audit()
    assert report.to_dict() == {
        "ok": True,
        "rows": _rows(chained),
        "first_bad": None,
        "reason": None,
    }
    assert (report.mode, report.checked_from) == ("full", 1)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", '{"handle":"mallory","role":"admin","user_id":"usr_3"}'),
        ("actor_id", "usr_attacker"),
        ("event", "user.deleted"),
        ("subject_id", "usr_other"),
        ("logged_at", "2020-01-01 00:00:00+00"),
    ],
)
def test_edited_row_is_named(chained: Store, column: str, value: str) -> None:
    target = _rows(chained) - 4
    chained.conn.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = ?", [value, target])
    report = chained.verify_audit()
    assert not report.ok and report.first_bad == target
    assert report.reason == "row content does not match its hash"


def test_deleted_middle_row_is_named(chained: Store) -> None:
    target = _rows(chained) // 2
    chained.conn.execute("DELETE FROM audit_log WHERE seq = ?", [target])
    report = chained.verify_audit()
    assert not report.ok and report.first_bad == target and "missing" in (report.reason or "")


def test_swapped_rows_are_named(chained: Store) -> None:
    a = _rows(chained) - 5
    rows = chained.query("SELECT * FROM audit_log WHERE seq IN (?, ?) ORDER BY seq", [a, a + 1])
    chained.conn.execute("DELETE FROM audit_log WHERE seq IN (?, ?)", [a, a + 1])
    first, second = rows
    marks = ", ".join("?" for _ in first)
    chained.conn.execute(f"INSERT INTO audit_log VALUES ({marks})", [a, *second[1:]])
    chained.conn.execute(f"INSERT INTO audit_log VALUES ({marks})", [a + 1, *first[1:]])
    report = chained.verify_audit()
    assert not report.ok and report.first_bad == a


def test_cut_tail_is_named(chained: Store) -> None:
    total = _rows(chained)
    chained.conn.execute("DELETE FROM audit_log WHERE seq > ?", [total - 2])
    report = chained.verify_audit()
    assert not report.ok and report.first_bad == total - 1 and report.rows == total - 2


def test_rehashed_forgery_breaks_the_next_link(chained: Store) -> None:
    # A forger who recomputes the edited row's own hash still breaks the next row's link.
    from store.audit import _at_text, row_hash

    target = _rows(chained) - 3
    seq, at, actor, event, s_type, s_id, _payload, prev, _ = chained.query(
        "SELECT * FROM audit_log WHERE seq = ?", [target]
    )[0]
    forged = {"handle": "mallory", "role": "admin", "user_id": "usr_x"}
    digest = row_hash(seq, _at_text(at), actor, event, s_type, s_id, forged, prev)
    chained.conn.execute(
        "UPDATE audit_log SET payload = ?, row_hash = ? WHERE seq = ?",
        ['{"handle":"mallory","role":"admin","user_id":"usr_x"}', digest, target],
    )
    report = chained.verify_audit()
    assert not report.ok and report.first_bad == target + 1
    assert report.reason == "previous-hash link broken"


def test_row_appended_behind_the_head_is_named(chained: Store) -> None:
    total = _rows(chained)
    last_hash = chained.query("SELECT row_hash FROM audit_log WHERE seq = ?", [total])[0][0]
    chained.conn.execute(
        "INSERT INTO audit_log VALUES (?, now(), NULL, 'generic', NULL, NULL, '{}', ?, ?)",
        [total + 1, last_hash, "f" * 64],
    )
    report = chained.verify_audit()
    assert not report.ok and report.first_bad == total + 1


def test_failed_transaction_leaves_no_audit_row(chained: Store) -> None:
    before = _rows(chained)
    with pytest.raises(RuntimeError), chained.transaction() as tx:
        tx.audit(GenericEvent(None, event="x"))
        raise RuntimeError("change failed")
    assert _rows(chained) == before and chained.verify_audit().ok


def test_every_event_names_a_subject_field_it_has() -> None:
    """An event's ``subject_field`` must be one of its own fields (a typo would log no subject)."""
    import inspect

    from store import events

    classes = [
        cls
        for _, cls in inspect.getmembers(events, inspect.isclass)
        if issubclass(cls, events.AuditEvent) and cls is not events.AuditEvent
    ]
    assert len(classes) > 50
    for cls in classes:
        if cls.subject_field is not None:
            assert cls.subject_field in cls.__dataclass_fields__, cls.__name__
            # GenericEvent names its subject's kind per event (``kind``), not per class.
            assert cls.subject_type is not None or cls is events.GenericEvent, cls.__name__


# -- incremental checks -------------------------------------------------------------------


def _append(store: Store, n: int, start: int = 100) -> None:
    for i in range(start, start + n):
        with store.transaction() as tx:
            tx.audit(UserCreated(None, user_id=f"usr_{i}", handle=f"h{i}", role="user"))


def test_incremental_check_reads_only_rows_since_the_last_intact_check(chained: Store) -> None:
    """The fixture's full check left a checkpoint; the next check starts there."""
    before = _rows(chained)
    _append(chained, 3)
    report = chained.verify_audit(incremental=True)
    assert report.ok and report.mode == "incremental"
    assert report.checked_from == before and report.rows == before + 3
    again = chained.verify_audit(incremental=True)
    assert again.ok and again.checked_from == before + 3


def test_incremental_check_without_a_checkpoint_runs_in_full(data_dir: Path) -> None:
    with Store(data_dir) as store:
        _append(store, 2)
        report = store.verify_audit(incremental=True)
        assert report.ok and report.mode == "full" and report.checked_from == 1


def test_incremental_check_finds_an_edit_after_the_checkpoint(chained: Store) -> None:
    _append(chained, 4)
    target = _rows(chained) - 1
    chained.conn.execute("UPDATE audit_log SET actor_id = 'usr_x' WHERE seq = ?", [target])
    report = chained.verify_audit(incremental=True)
    assert not report.ok and report.first_bad == target and report.mode == "incremental"
    # A broken chain forgets its checkpoint: the next check is a full one.
    assert chained.verify_audit(incremental=True).mode == "full"


def test_incremental_check_finds_a_row_deleted_before_the_checkpoint(chained: Store) -> None:
    _append(chained, 2)
    chained.conn.execute("DELETE FROM audit_log WHERE seq = 3")
    report = chained.verify_audit(incremental=True)
    assert not report.ok and report.first_bad == 3 and report.mode == "full"


def test_incremental_check_finds_a_rechained_rewrite(chained: Store) -> None:
    """Rewriting an old row and recomputing every later hash changes the checkpoint row's hash."""
    from store.audit import GENESIS, _at_text, row_hash

    rows = chained.query(
        "SELECT seq, logged_at, actor_id, event, subject_type, subject_id, payload FROM audit_log "
        "ORDER BY seq"
    )
    prev = GENESIS
    for seq, at, actor, event, s_type, s_id, payload in rows:
        if seq == 2:
            actor = "usr_forger"
        data = json.loads(payload) if isinstance(payload, str) else payload
        digest = row_hash(seq, _at_text(at), actor, event, s_type, s_id, data, prev)
        chained.conn.execute(
            "UPDATE audit_log SET actor_id = ?, prev_hash = ?, row_hash = ? WHERE seq = ?",
            [actor, prev, digest, seq],
        )
        prev = digest
    chained.conn.execute("UPDATE audit_head SET row_hash = ? WHERE id = 1", [prev])
    report = chained.verify_audit(incremental=True)
    assert not report.ok and report.reason == "a verified row changed since the last check"
    # Such a forgery is consistent in itself, so only a kept checkpoint exposes it.
    assert chained.verify_audit().ok


def test_only_a_full_check_finds_an_old_row_edited_under_a_stale_hash(chained: Store) -> None:
    """The documented limit of an incremental check, pinned so the docs stay true."""
    chained.conn.execute("UPDATE audit_log SET actor_id = 'usr_x' WHERE seq = 2")
    assert chained.verify_audit(incremental=True).ok
    full = chained.verify_audit()
    assert not full.ok and full.first_bad == 2


def test_checks_beside_concurrent_appends_never_report_a_break(chained: Store) -> None:
    """Each check reads one snapshot: rows committed meanwhile are not taken for a cut log."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        try:
            i = 1000
            while not stop.is_set():
                _append(chained, 1, start=i)
                i += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        reports = [chained.verify_audit(incremental=bool(i % 2)) for i in range(30)]
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert all(r.ok for r in reports), [r for r in reports if not r.ok][:1]
    assert chained.verify_audit().rows == _rows(chained)


def _table_head(store: Store) -> tuple[int, str]:
    seq, digest = store.query("SELECT seq, row_hash FROM audit_head WHERE id = 1")[0]
    return int(seq), str(digest)


def _event(i: int) -> UserCreated:
    return UserCreated(None, user_id=f"usr_k{i}", handle=f"k{i}", role="user")


def test_each_transaction_starts_from_the_head_the_last_commit_pinned(chained: Store) -> None:
    """No read of ``audit_head`` per write, and a rolled-back write never moves the head."""
    from store.db import UNKNOWN_HEAD

    with chained.transaction() as tx:
        assert tx.head == _table_head(chained)
        tx.audit(_event(1))
    with pytest.raises(RuntimeError), chained.transaction() as tx:
        tx.audit(_event(2))
        raise RuntimeError("the caller gives up: nothing of this transaction stays")
    with chained.transaction() as tx:
        assert tx.head == _table_head(chained) != UNKNOWN_HEAD

    # A group-committed batch in which one write fails is rolled back and re-run.
    def good(i: int) -> object:
        return lambda tx: tx.audit(_event(i))

    def bad(tx: object) -> None:
        tx.audit(_event(99))  # type: ignore[attr-defined]
        raise ValueError("refused")

    results: list[object] = []
    threads = [
        threading.Thread(target=lambda f=f: results.append(_try(chained, f)))
        for f in (good(3), bad, good(4), bad, good(5))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == ["ok", "ok", "ok", "refused", "refused"]
    with chained.transaction() as tx:
        assert tx.head == _table_head(chained)
        tx.audit(_event(6))
    report = chained.verify_audit()
    assert report.ok and report.rows == _rows(chained)
    assert _table_head(chained)[0] == _rows(chained)


def _try(store: Store, fn: object) -> str:
    try:
        store.write(fn)  # type: ignore[arg-type]
    except ValueError as exc:
        return str(exc)
    return "ok"


def test_a_failed_write_keeps_the_head_and_a_raw_head_write_makes_the_next_read_it(
    chained: Store,
) -> None:
    from store.db import UNKNOWN_HEAD

    # A deferred row that breaks a key fails while committing, after the head moved in memory.
    with pytest.raises(duckdb.ConstraintException), chained.transaction() as tx:
        tx.audit(_event(7))
        tx.insert("schema_migrations", ("version", "name", "applied_at"), [1, "dup", None])
    with chained.transaction() as tx:
        assert tx.head == _table_head(chained)
        tx.audit(_event(8))
    with chained.transaction() as tx:
        tx.execute("UPDATE audit_head SET seq = seq WHERE id = 1")
    with chained.transaction() as tx:
        assert tx.head is UNKNOWN_HEAD
        tx.audit(_event(9))
    report = chained.verify_audit()
    assert report.ok and report.rows == _rows(chained) == _table_head(chained)[0]


def test_two_stores_on_one_file_in_one_process_chain_from_one_head(chained: Store) -> None:
    """DuckDB lets a process open a file twice: both stores hand on the same head."""
    with Store(chained.data_dir) as second:
        for i in range(4):
            for store in (chained, second, second, chained):
                with store.transaction() as tx:
                    tx.audit(_event(100 + i))
            second.write(lambda tx: tx.audit(_event(200)))
            chained.write(lambda tx: tx.audit(_event(201)))
        report = second.verify_audit()
        assert report.ok and report.rows == _rows(second) == _table_head(second)[0]
    with chained.transaction() as tx:  # the other store closed: this one goes on from its head
        tx.audit(_event(300))
    assert chained.verify_audit().ok
