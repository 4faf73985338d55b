"""Group commit (issue 12): many callers' writes share transactions, each still its own.

``Store.write`` batches concurrent callers' functions into one transaction
(leader/follower, arrival order, one commit). These tests hold the writer
with ``Store.transaction()`` while threads queue up, so a batch forms
deterministically, then check: every write landed, the audit chain verifies
and follows arrival order, a failing write (its own exception, a deferred row
that breaks a constraint, a crash-like ``BaseException``, a failed commit)
fails only its own caller and leaves nothing of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import duckdb
import pytest

from store import jobs
from store.db import Store, StoreError, Tx, now
from store.decisions import DecisionRecord, Decisions, ScanRecord, SignalRecord, apply
from store.events import GenericEvent
from store.writer import Combined


class Crash(BaseException):
    """Crash-like: not an Exception, as a KeyboardInterrupt or SystemExit would be."""


def _record(i: int, signals: int = 2) -> DecisionRecord:
    return DecisionRecord(
        door="prompt",
        actor_id=f"usr_{i:04d}",
        outcome="allow",
        policy_version="test-v1",
        rules=[{"id": "r1", "matched": False}],
        details={"i": i},
        scan=ScanRecord(stage="prompt", context={"i": i}, view={"score": i / 1000}),
        signals=[SignalRecord("prompt_text", "m1", {"i": i, "k": k}) for k in range(signals)],
    )


def _event(tag: str) -> GenericEvent:
    return GenericEvent(None, event=tag, subject=tag)


def _audit_seq(store: Store, tag: str) -> list[int]:
    rows = store.query("SELECT seq FROM audit_log WHERE subject_id = ? ORDER BY seq", [tag])
    return [int(r[0]) for r in rows]


class Caller:
    """A thread that makes one store call (by default ``store.write(fn)``) and keeps the answer."""

    def __init__(self, store: Store, fn: Callable[[Tx], Any] | None = None,
                 call: Callable[[], Any] | None = None) -> None:  # fmt: skip
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread_id: int | None = None

        def run() -> None:
            self.thread_id = threading.get_ident()
            try:
                self.result = call() if call is not None else store.write(fn)  # type: ignore[arg-type]
            except BaseException as exc:  # the test reads it
                self.error = exc

        self.thread = threading.Thread(target=run)


def _wait_for(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.002)


@contextmanager
def one_batch(store: Store, fns: list[Callable[[Tx], Any]]) -> Iterator[list[Caller]]:
    """Queue ``fns`` (in this order) behind a held writer, then let them run as one batch."""
    with one_batch_of_calls(store, [Caller(store, fn) for fn in fns]) as callers:
        yield callers


@contextmanager
def one_batch_of_calls(store: Store, callers: list[Caller]) -> Iterator[list[Caller]]:
    """Start ``callers`` (in this order) behind a held writer; their writes form one batch."""
    batches = store.writer.stats.batches
    with store.transaction():
        for n, caller in enumerate(callers, start=1):
            caller.thread.start()
            _wait_for(lambda n=n: store.writer.waiting == n)  # type: ignore[misc]
    for caller in callers:
        caller.thread.join(60)
        assert not caller.thread.is_alive()
    assert store.writer.stats.batches == batches + 1, "the queued writes formed one batch"
    yield callers


def test_concurrent_decisions_all_recorded_and_chain_verifies(store: Store) -> None:
    decisions = Decisions(store)
    threads, each = 16, 50
    before = int(store.query("SELECT count(*) FROM decisions")[0][0])
    batches = store.writer.stats.batches
    errors: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()

    def writer(t: int) -> None:
        try:
            for i in range(each):
                recorded, _ = decisions.record(_record(t * each + i))
                with lock:
                    ids.append(recorded.decision_id)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    n = threads * each
    assert len(set(ids)) == n
    assert int(store.query("SELECT count(*) FROM decisions")[0][0]) == before + n
    assert int(store.query("SELECT count(*) FROM signals")[0][0]) == 2 * n
    # Every decision's scan and signals are there and point at each other.
    orphans = store.query(
        "SELECT count(*) FROM decisions d LEFT JOIN scans s ON s.id = d.scan_id WHERE s.id IS NULL"
    )
    assert orphans[0][0] == 0
    report = store.verify_audit()
    assert report.ok, report
    assert (
        int(store.query("SELECT count(*) FROM audit_log WHERE event = 'scan.recorded'")[0][0]) == n
    )
    # Writes were shared: fewer transactions than writes.
    assert store.writer.stats.batches - batches < n


def test_a_batch_commits_once_in_arrival_order(store: Store) -> None:
    tags = [f"w{i:02d}" for i in range(16)]

    def write(tag: str) -> Callable[[Tx], str]:
        def fn(tx: Tx) -> str:
            tx.audit(_event(tag))
            return tag

        return fn

    commits = store.writer.stats.commits
    with one_batch(store, [write(t) for t in tags]) as callers:
        assert [c.result for c in callers] == tags
        assert all(c.error is None for c in callers)
    assert store.writer.stats.commits == commits + 1
    seqs = [_audit_seq(store, t)[0] for t in tags]
    assert seqs == sorted(seqs) and seqs[-1] - seqs[0] == len(tags) - 1
    assert store.verify_audit().ok


def test_failing_write_fails_only_its_caller_and_leaves_nothing(store: Store) -> None:
    runs: dict[str, int] = {}
    with store.transaction() as tx:
        tx.execute("CREATE TABLE notes (tag VARCHAR PRIMARY KEY)")

    def good(tag: str) -> Callable[[Tx], str]:
        def fn(tx: Tx) -> str:
            runs[tag] = runs.get(tag, 0) + 1
            tx.execute("INSERT INTO notes VALUES (?)", [tag])
            tx.audit(_event(tag))
            return tag

        return fn

    def bad(tx: Tx) -> None:
        runs["bad"] = runs.get("bad", 0) + 1
        tx.execute("INSERT INTO notes VALUES ('bad')")
        tx.audit(_event("bad"))
        raise ValueError("this caller's bad input")

    with one_batch(store, [good("a"), good("b"), bad, good("c"), good("d")]) as callers:
        a, b, failing, c, d = callers
        assert isinstance(failing.error, ValueError)
        assert [x.result for x in (a, b, c, d)] == ["a", "b", "c", "d"]
        assert all(x.error is None for x in (a, b, c, d))
    assert sorted(r[0] for r in store.query("SELECT tag FROM notes")) == ["a", "b", "c", "d"]
    assert _audit_seq(store, "bad") == []
    order = [_audit_seq(store, t)[0] for t in "abcd"]
    assert order == sorted(order)  # still in arrival order
    # a and b ran, were rolled back with the batch and re-ran; c and d ran once, after.
    assert runs == {"a": 2, "b": 2, "bad": 1, "c": 1, "d": 1}
    assert store.verify_audit().ok


def test_deferred_row_breaking_a_constraint_fails_only_its_owner(store: Store) -> None:
    decisions = Decisions(store)
    dangling = DecisionRecord(
        door="moderator",
        actor_id="usr_mod",
        outcome="allow",
        policy_version="test-v1",
        decided_by="usr_mod",
        scan_id="scan_does_not_exist",  # a foreign key the deferred insert breaks
    )

    reruns = store.writer.stats.reruns
    before = int(store.query("SELECT count(*) FROM decisions")[0][0])
    fns = [_applying(_record(i)) for i in range(3)]
    fns.insert(1, _applying(dangling))
    with one_batch(store, fns) as callers:
        bad = callers[1]
        assert isinstance(bad.error, duckdb.ConstraintException), bad.error
        assert all(c.error is None for i, c in enumerate(callers) if i != 1)
    assert int(store.query("SELECT count(*) FROM decisions")[0][0]) == before + 3
    assert store.writer.stats.reruns > reruns
    assert store.verify_audit().ok
    with pytest.raises(duckdb.ConstraintException):
        decisions.record(dangling)  # alone, the real error reaches the caller


def _applying(rec: DecisionRecord) -> Callable[[Tx], Any]:
    return lambda tx: apply(tx, rec)


def test_crash_like_exception_leaves_the_chain_consistent(store: Store) -> None:
    def crash(tx: Tx) -> None:
        tx.audit(_event("crash-1"))
        tx.audit(_event("crash-2"))
        raise Crash

    def good(tag: str) -> Callable[[Tx], str]:
        def fn(tx: Tx) -> str:
            tx.audit(_event(tag))
            return tag

        return fn

    with one_batch(store, [good("x"), crash, good("y")]) as callers:
        assert isinstance(callers[1].error, Crash)
        assert callers[0].result == "x" and callers[2].result == "y"
    assert _audit_seq(store, "crash-1") == [] and _audit_seq(store, "crash-2") == []
    report = store.verify_audit()
    assert report.ok, report
    # The chain carries on after the crash without a gap.
    with store.transaction() as tx:
        seq = tx.audit(_event("after"))
    assert seq == report.rows + 1
    assert store.verify_audit().ok


def test_failed_commit_reruns_each_write_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Tx.prepare_commit
    failures: list[int] = []

    def flaky(self: Tx) -> None:
        if self.events and not failures:  # the batch's commit, not the holding transaction's
            failures.append(1)
            raise duckdb.IOException("disk hiccup")
        original(self)

    monkeypatch.setattr(Tx, "prepare_commit", flaky)

    def write(tag: str) -> Callable[[Tx], str]:
        def fn(tx: Tx) -> str:
            tx.audit(_event(tag))
            return tag

        return fn

    with one_batch(store, [write("p"), write("q"), write("r")]) as callers:
        assert [c.result for c in callers] == ["p", "q", "r"]
        assert all(c.error is None for c in callers)
    assert failures == [1]
    assert all(len(_audit_seq(store, t)) == 1 for t in "pqr")
    assert store.verify_audit().ok


def test_deferred_rows_are_seen_inside_the_write(store: Store) -> None:
    def fn(tx: Tx) -> tuple[int, int, int]:
        rec = apply(tx, _record(7, signals=20))  # 20 signals: the multi-row path
        sql = "SELECT count(*) FROM signals WHERE scan_id = ?"
        in_tx = tx.execute(sql, [rec.scan_id]).fetchone()[0]
        sql = "SELECT count(*) FROM decisions WHERE id = ?"
        through_store = store.query(sql, [rec.decision_id])[0][0]
        audit_rows = tx.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        return int(in_tx), int(through_store), int(audit_rows)

    signals, decisions, audit_rows = store.write(fn)
    assert (signals, decisions) == (20, 1)
    assert audit_rows == store.verify_audit().rows
    data = store.query("SELECT data FROM signals ORDER BY data->>'k'")
    assert len(data) == 20


def test_multi_row_insert_keeps_types_and_values(store: Store) -> None:
    decisions = Decisions(store)
    rec = _record(3, signals=12)
    recorded, _ = decisions.record(rec)
    row = store.query_dicts(
        "SELECT s.stage, s.duration_ms, s.created_at, d.details, d.door "
        "FROM scans s JOIN decisions d ON d.scan_id = s.id WHERE d.id = ?",
        [recorded.decision_id],
    )[0]
    assert row["stage"] == "prompt" and row["door"] == "prompt"
    assert row["created_at"].tzinfo is not None
    kinds = store.query(
        "SELECT DISTINCT kind, model_id FROM signals WHERE scan_id = ?", [recorded.scan_id]
    )
    assert kinds == [("prompt_text", "m1")]
    ks = store.query(
        "SELECT CAST(data->>'k' AS INTEGER) AS k FROM signals WHERE scan_id = ? ORDER BY k",
        [recorded.scan_id],
    )
    assert [k for (k,) in ks] == list(range(12))


def test_write_inside_a_write_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.write(lambda tx: store.write(lambda inner: None))
    with store.transaction(), pytest.raises(StoreError):
        store.write(lambda tx: None)
    assert store.verify_audit().ok


def _auditing(tag: str) -> Callable[[Tx], int]:
    return lambda tx: tx.audit(_event(tag))


def test_transactions_and_writes_share_one_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def by_write(t: int) -> None:
        try:
            for i in range(20):
                store.write(_auditing(f"gcw{t}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    def by_transaction(t: int) -> None:
        try:
            for i in range(10):
                with store.transaction() as tx:
                    tx.audit(_event(f"gct{t}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=by_write, args=(t,)) for t in range(6)]
    threads += [threading.Thread(target=by_transaction, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    count = store.query("SELECT count(*) FROM audit_log WHERE subject_id LIKE 'gc%'")
    assert count[0][0] == 6 * 20 + 2 * 10
    report = store.verify_audit()
    assert report.ok, report


def test_jobs_claim_and_complete_through_shared_batches(store: Store) -> None:
    with store.transaction() as tx:
        for i in range(64):
            jobs.enqueue(tx, "gc", {"i": i})
    done: list[str] = []
    lock = threading.Lock()

    def drain(w: int) -> None:
        while (job := jobs.claim(store, f"w{w}", ["gc"], 30)) is not None:
            jobs.complete(store, job, {"by": w})
            with lock:
                done.append(job.id)

    threads = [threading.Thread(target=drain, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == len(set(done)) == 64
    assert jobs.counts(store) == {"done": 64}
    claimed = store.query(
        "SELECT count(*) FROM audit_log WHERE event = 'job.changed' "
        "AND payload->>'transition' = 'claimed'"
    )
    assert claimed[0][0] == 64
    assert store.verify_audit().ok


def test_completing_a_lost_lease_is_refused_in_a_batch(store: Store) -> None:
    with store.transaction() as tx:
        jobs.enqueue(tx, "gc", {})
    job = jobs.claim(store, "w1", ["gc"], 30)
    assert job is not None
    stale = jobs.Job(job.id, job.kind, job.payload, job.attempt + 1, job.max_attempts, "w1",
                     job.lease_expires_at)  # fmt: skip
    with pytest.raises(jobs.LeaseLost):
        jobs.complete(store, stale, {})
    jobs.complete(store, job, {"ok": True})
    assert jobs.get_job(store, job.id).status == "done"
    assert store.verify_audit().ok


# -- combined writes: one statement for many callers --------------------------------------------


def _transitions(store: Store, transition: str) -> list[tuple[str, str]]:
    """(job id, worker) of every audited ``transition``, in chain order."""
    rows = store.query(
        "SELECT subject_id, payload->>'worker' FROM audit_log WHERE event = 'job.changed' "
        "AND payload->>'transition' = ? ORDER BY seq",
        [transition],
    )
    return [(str(a), str(b)) for a, b in rows]


def test_concurrent_claims_are_one_statement_and_each_worker_gets_its_own_job(
    store: Store,
) -> None:
    with store.transaction() as tx:
        queued = [jobs.enqueue(tx, "gc", {"i": i}) for i in range(5)]
    calls = store.writer.stats.combined_calls
    workers = [f"w{i}" for i in range(8)]
    callers = [Caller(store, call=lambda w=w: jobs.claim(store, w, ["gc"], 30)) for w in workers]
    with one_batch_of_calls(store, callers):
        pass
    assert store.writer.stats.combined_calls == calls + 1, "eight claims, one apply"
    got = [c.result for c in callers]
    assert all(c.error is None for c in callers)
    # The five oldest jobs go to the first five workers to arrive; the rest get None.
    assert [j.id if j else None for j in got] == [*queued, None, None, None]
    assert [j.worker for j in got if j] == workers[:5]
    assert all(j.attempt == 1 for j in got if j)
    assert _transitions(store, "claimed") == [(j.id, j.worker) for j in got if j]
    for j in got:
        if j:
            row = jobs.get_job(store, j.id)
            assert (row.status, row.lease_owner, row.attempts) == ("running", j.worker, 1)
    assert store.verify_audit().ok


def test_an_expired_lease_among_batched_claims_is_reclaimed_and_audited(store: Store) -> None:
    with store.transaction() as tx:
        old = jobs.enqueue(tx, "gc", {})
        fresh = jobs.enqueue(tx, "gc", {})
    first = jobs.claim(store, "dead-worker", ["gc"], 30)
    assert first is not None and first.id == old
    with store.transaction() as tx:  # its worker stopped: the lease ran out
        tx.execute("UPDATE jobs SET lease_expires_at = ? WHERE id = ?",
                   [now() - timedelta(seconds=1), old])  # fmt: skip
    callers = [Caller(store, call=lambda w=w: jobs.claim(store, w, ["gc"], 30)) for w in "ab"]
    with one_batch_of_calls(store, callers):
        pass
    a, b = (c.result for c in callers)
    assert (a.id, a.attempt, b.id, b.attempt) == (old, 2, fresh, 1)
    reclaimed = store.query(
        "SELECT payload->>'worker', payload->>'detail' FROM audit_log "
        "WHERE payload->>'transition' = 'reclaimed'"
    )
    assert reclaimed == [("a", "previous lease held by dead-worker")]
    assert store.verify_audit().ok


def test_batched_completions_refuse_only_the_lost_lease(store: Store) -> None:
    with store.transaction() as tx:
        for i in range(4):
            jobs.enqueue(tx, "gc", {"i": i})
    held = [jobs.claim(store, f"w{i}", ["gc"], 30) for i in range(4)]
    assert all(held)
    good = [j for j in held if j is not None]
    # w2 was presumed dead and its job re-run: its attempt is no longer the current one.
    stale = jobs.Job(good[2].id, "gc", {}, good[2].attempt, 5, "w-old", good[2].lease_expires_at)
    missing = jobs.Job("job_nope", "gc", {}, 1, 5, "w9", good[0].lease_expires_at)
    work = [good[0], stale, good[1], missing, good[3]]
    calls = store.writer.stats.combined_calls
    callers = [Caller(store, call=lambda j=j: jobs.complete(store, j, {"by": j.worker}))
               for j in work]  # fmt: skip
    with one_batch_of_calls(store, callers):
        pass
    assert store.writer.stats.combined_calls == calls + 1
    errors = [type(c.error).__name__ if c.error else None for c in callers]
    assert errors == [None, "LeaseLost", None, "NotFound", None]
    status = {j.id: jobs.get_job(store, j.id) for j in good}
    assert status[good[2].id].status == "running", "the stale completion wrote nothing"
    assert all(status[j.id].status == "done" for j in (good[0], good[1], good[3]))
    assert status[good[1].id].result == {"by": "w1"}
    assert _transitions(store, "completed") == [
        (j.id, j.worker) for j in (good[0], good[1], good[3])
    ]
    assert store.verify_audit().ok


class _AddTagged(Combined[Tx, str, str]):
    """A combined write for these tests: one audit event per tag; the tag "bad" breaks it."""

    key = "test.tagged"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def apply(self, tx: Tx, args: Sequence[str]) -> list[str | BaseException]:
        self.calls.append(list(args))
        for tag in args:
            if tag == "bad":
                raise ValueError("a bad tag")
            tx.audit(_event(tag))
        return [tag.upper() for tag in args]


def test_a_raising_combined_apply_reruns_each_request_alone(store: Store) -> None:
    op = _AddTagged()
    tags = ["t1", "bad", "t2"]
    before_fn = _auditing("plain")  # a plain write in the same batch survives too
    callers = [Caller(store, before_fn)] + [
        Caller(store, call=lambda t=t: store.write_combined(op, t)) for t in tags
    ]
    with one_batch_of_calls(store, callers):
        pass
    assert callers[0].error is None
    assert [c.result for c in callers[1:]] == ["T1", None, "T2"]
    assert isinstance(callers[2].error, ValueError)
    assert op.calls[0] == tags and sorted(op.calls[1:]) == [["bad"], ["t1"], ["t2"]]
    assert _audit_seq(store, "bad") == []
    assert len(_audit_seq(store, "t1")) == len(_audit_seq(store, "t2")) == 1
    assert store.verify_audit().ok
