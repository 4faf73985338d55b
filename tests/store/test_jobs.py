"""Job queue: leases, retries after a worker dies, exactly-once completion, backoff, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from store import jobs
from store.db import Store, now
from store.jobs import Job, JobError, LeaseLost, Worker

HELPER = Path(__file__).with_name("_claim_and_hang.py")


def _enqueue(store: Store, kind: str = "scan", **kwargs: Any) -> str:
    with store.transaction() as tx:
        return jobs.enqueue(tx, kind, kwargs.pop("payload", {"clip": "c1"}), **kwargs)


def _expire_lease(store: Store, job_id: str) -> None:
    """Move the job's lease expiry into the past: what waiting it out would do, without waiting."""
    with store.transaction() as tx:
        tx.execute(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ?",
            [now() - timedelta(seconds=1), job_id],
        )


def _transitions(store: Store, job_id: str) -> list[str]:
    rows = store.query(
        "SELECT payload FROM audit_log WHERE event = 'job.changed' AND subject_id = ? ORDER BY seq",
        [job_id],
    )
    return [json.loads(r[0])["transition"] for r in rows]


def test_killed_worker_job_is_retried_never_completed_twice(data_dir: Path) -> None:
    with Store(data_dir) as store:
        job_id = _enqueue(store, payload={"clip": "clip_1"})

    # A real worker process claims with a 1 s lease and is killed before completing.
    child = subprocess.Popen(
        [sys.executable, str(HELPER), str(data_dir), "worker-A", "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else "no output"
        claimed = json.loads(line)
        assert claimed["job"] == job_id and claimed["attempt"] == 1
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    with Store(data_dir) as store:
        record = jobs.get_job(store, job_id)
        assert record.status == "running" and record.lease_owner == "worker-A"
        assert record.attempts == 1
        # The lease has not run out yet: nobody may take the job.
        expires = datetime.fromisoformat(claimed["expires"])
        if now() < expires:
            assert jobs.claim(store, "worker-B", ["scan"], 30) is None
            _expire_lease(store, job_id)
        retry = jobs.claim(store, "worker-B", ["scan"], 30)
        assert retry is not None and retry.id == job_id and retry.attempt == 2
        jobs.complete(store, retry, {"ok": True})

        # The dead worker's view of the job (attempt 1) can never complete it.
        stale = Job(job_id, "scan", {"clip": "clip_1"}, 1, 5, "worker-A", expires)
        with pytest.raises(LeaseLost):
            jobs.complete(store, stale, {"ok": "again"})
        # Nor can the successful worker complete it a second time.
        with pytest.raises(LeaseLost):
            jobs.complete(store, retry, {"ok": "twice"})

        record = jobs.get_job(store, job_id)
        assert record.status == "done" and record.attempts == 2 and record.result == {"ok": True}
        assert _transitions(store, job_id) == ["enqueued", "claimed", "reclaimed", "completed"]
        assert store.verify_audit().ok


def test_expired_lease_in_process_loses_heartbeat_and_completion(store: Store) -> None:
    job_id = _enqueue(store)
    first = jobs.claim(store, "w1", ["scan"], 30)
    assert first is not None and first.attempt == 1
    assert jobs.claim(store, "w2", ["scan"], 30) is None  # still leased
    first = jobs.heartbeat(store, first, 30)  # the owner may extend
    _expire_lease(store, job_id)
    second = jobs.claim(store, "w2", ["scan"], 30)
    assert second is not None and second.id == job_id and second.attempt == 2
    with pytest.raises(LeaseLost):
        jobs.heartbeat(store, first, 30)
    with pytest.raises(LeaseLost):
        jobs.fail(store, first, "late failure report")
    with pytest.raises(LeaseLost):
        jobs.complete(store, first, {})
    jobs.complete(store, second, {"n": 2})
    assert jobs.get_job(store, job_id).status == "done"


def test_idempotency_key_gives_the_same_job(store: Store) -> None:
    a = _enqueue(store, idempotency_key="scan:clip_1")
    b = _enqueue(store, idempotency_key="scan:clip_1", payload={"other": 1})
    c = _enqueue(store, idempotency_key="scan:clip_2")
    assert a == b != c
    assert store.query("SELECT count(*) FROM jobs") == [(2,)]


def test_fail_requeues_with_backoff_then_dead(store: Store) -> None:
    job_id = _enqueue(store, max_attempts=2)
    job = jobs.claim(store, "w", ["scan"], 30)
    assert job is not None
    assert jobs.fail(store, job, "boom", retry_in_s=60) == "queued"
    record = jobs.get_job(store, job_id)
    assert record.status == "queued" and record.last_error == "boom"
    assert record.run_after > now() + timedelta(seconds=50)
    assert jobs.claim(store, "w", ["scan"], 30) is None  # backing off
    with store.transaction() as tx:  # pretend the backoff has passed
        tx.execute("UPDATE jobs SET run_after = ? WHERE id = ?", [now(), job_id])
    job = jobs.claim(store, "w", ["scan"], 30)
    assert job is not None and job.attempt == 2
    assert jobs.fail(store, job, "boom again", retry_in_s=0) == "dead"
    assert jobs.get_job(store, job_id).status == "dead"
    assert jobs.claim(store, "w", ["scan"], 30) is None
    assert _transitions(store, job_id) == [
        "enqueued",
        "claimed",
        "failed",
        "claimed",
        "dead",
    ]
    assert jobs.backoff_s(1) == 5.0 and jobs.backoff_s(3) == 20.0 and jobs.backoff_s(30) == 3600.0


def test_lease_expiring_on_last_attempt_marks_dead(store: Store) -> None:
    job_id = _enqueue(store, max_attempts=1)
    assert jobs.claim(store, "w1", ["scan"], 30) is not None
    _expire_lease(store, job_id)
    assert jobs.claim(store, "w2", ["scan"], 30) is None
    record = jobs.get_job(store, job_id)
    assert record.status == "dead" and "last attempt" in (record.last_error or "")


def test_claim_takes_oldest_ready_of_requested_kinds(store: Store) -> None:
    later = _enqueue(store, run_after=now() + timedelta(hours=1))
    first = _enqueue(store, "scan")
    other = _enqueue(store, "takedown")
    second = _enqueue(store, "scan")
    order = []
    while (job := jobs.claim(store, "w", ["scan"], 30)) is not None:
        order.append(job.id)
    assert order == [first, second]
    assert later not in order and other not in order
    job = jobs.claim(store, "w", ["takedown", "scan"], 30)
    assert job is not None and job.id == other


@pytest.mark.parametrize(
    ("kind", "payload", "kwargs", "message"),
    [
        ("", {}, {}, "invalid job kind"),
        ("Scan Clip", {}, {}, "invalid job kind"),
        ("scan", ["not", "a", "dict"], {}, "JSON object"),
        ("scan", {"x": object()}, {}, "JSON-serialisable"),
        ("scan", {"x": float("nan")}, {}, "JSON-serialisable"),
        ("scan", {}, {"max_attempts": 0}, "max_attempts"),
        ("scan", {}, {"idempotency_key": ""}, "idempotency key"),
    ],
)
def test_bad_enqueue_is_refused_with_nothing_written(
    store: Store, kind: str, payload: Any, kwargs: dict[str, Any], message: str
) -> None:
    before = store.verify_audit().rows
    with pytest.raises(JobError, match=message), store.transaction() as tx:
        jobs.enqueue(tx, kind, payload, **kwargs)
    assert store.query("SELECT count(*) FROM jobs") == [(0,)]
    assert store.verify_audit().rows == before


def test_concurrent_workers_do_every_job_exactly_once(store: Store) -> None:
    n_jobs, n_workers = 60, 6
    with store.transaction() as tx:
        ids = [jobs.enqueue(tx, "scan", {"i": i}) for i in range(n_jobs)]
    done: Counter[int] = Counter()
    lock = threading.Lock()

    def handler(payload: dict[str, Any]) -> dict[str, Any]:
        with lock:
            done[payload["i"]] += 1
        time.sleep(0.001)
        return {"i": payload["i"]}

    workers = [
        Worker(store, {"scan": handler}, worker_id=f"w{i}", lease_s=30, poll_s=0.01)
        for i in range(n_workers)
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store.query("SELECT count(*) FROM jobs WHERE status = 'done'") == [(n_jobs,)]:
            break
        time.sleep(0.05)
    assert all(worker.stop(timeout=10) for worker in workers)
    assert done == Counter(range(n_jobs))  # each job's handler ran exactly once
    assert sum(w.processed for w in workers) == n_jobs
    assert jobs.counts(store) == {"done": n_jobs}
    completions = store.query(
        "SELECT subject_id, count(*) FROM audit_log WHERE event = 'job.changed' "
        "AND payload->>'transition' = 'completed' GROUP BY 1"
    )
    assert sorted(r[0] for r in completions) == sorted(ids) and {r[1] for r in completions} == {1}
    assert store.verify_audit().ok


def test_worker_retries_failing_handler_and_heartbeats_long_ones(store: Store) -> None:
    flaky = _enqueue(store, "flaky", payload={})
    slow = _enqueue(store, "slow", payload={})
    calls: Counter[str] = Counter()

    def flaky_handler(payload: dict[str, Any]) -> dict[str, Any]:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ValueError("first try fails")
        return {"tries": calls["flaky"]}

    def slow_handler(payload: dict[str, Any]) -> dict[str, Any]:
        calls["slow"] += 1
        time.sleep(1.0)  # longer than the 0.45 s lease: only heartbeats keep it
        return {"slow": True}

    worker = Worker(
        store,
        {"flaky": flaky_handler, "slow": slow_handler},
        worker_id="wk",
        lease_s=0.45,
        poll_s=0.02,
        retry_base_s=0.0,
    ).start()
    rival = Worker(store, {"slow": slow_handler}, worker_id="rival", lease_s=0.45, poll_s=0.02)
    rival.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if jobs.counts(store).get("done") == 2:
            break
        time.sleep(0.05)
    assert worker.stop() and rival.stop()
    assert jobs.get_job(store, flaky).result == {"tries": 2}
    assert jobs.get_job(store, flaky).attempts == 2
    slow_record = jobs.get_job(store, slow)
    assert slow_record.status == "done" and slow_record.attempts == 1
    assert calls["slow"] == 1  # the rival never stole the heartbeating job
    assert "extended" in _transitions(store, slow)


def test_handler_returning_a_non_dict_fails_the_attempt(store: Store) -> None:
    job_id = _enqueue(store, "odd", payload={}, max_attempts=1)
    worker = Worker(store, {"odd": lambda payload: "not a dict"}, lease_s=5)  # type: ignore[dict-item]
    assert worker.run_once()
    record = jobs.get_job(store, job_id)
    assert record.status == "dead" and "not a dict" in (record.last_error or "")


def test_complete_and_claim_completes_then_hands_over_the_next_job(store: Store) -> None:
    first, second = _enqueue(store), _enqueue(store)
    job = jobs.claim(store, "w1", ["scan"], 30)
    assert job is not None and job.id == first
    handoff = jobs.complete_and_claim(store, job, {"ok": True}, ["scan"], 30)
    assert handoff.refused is None
    assert handoff.next_job is not None and handoff.next_job.id == second
    assert handoff.next_job.worker == "w1" and handoff.next_job.attempt == 1
    assert jobs.get_job(store, first).status == "done"
    assert _transitions(store, first) == ["enqueued", "claimed", "completed"]
    last = jobs.complete_and_claim(store, handoff.next_job, {}, ["scan"], 30)
    assert last.refused is None and last.next_job is None
    assert jobs.counts(store) == {"done": 2}
    assert store.verify_audit().ok


def test_complete_and_claim_refused_completion_writes_nothing_but_still_claims(
    store: Store,
) -> None:
    stale_id = _enqueue(store)
    stale = jobs.claim(store, "w1", ["scan"], 30)
    assert stale is not None
    _expire_lease(store, stale_id)
    taken = jobs.claim(store, "w2", ["scan"], 30)  # w1 presumed dead: w2 reclaims
    assert taken is not None and taken.id == stale_id and taken.attempt == 2
    other = _enqueue(store)
    handoff = jobs.complete_and_claim(store, stale, {"late": True}, ["scan"], 30)
    assert isinstance(handoff.refused, LeaseLost)
    assert handoff.next_job is not None and handoff.next_job.id == other
    record = jobs.get_job(store, stale_id)
    assert record.status == "running" and record.lease_owner == "w2"
    assert "completed" not in _transitions(store, stale_id)


def test_complete_and_claim_from_many_threads_does_every_job_once(store: Store) -> None:
    n_jobs, n_threads = 120, 16
    with store.transaction() as tx:
        ids = [jobs.enqueue(tx, "scan", {"i": i}) for i in range(n_jobs)]
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    writes_before = store.writer.stats.writes

    def loop(worker_id: str) -> None:
        job = jobs.claim(store, worker_id, ["scan"], 30)
        while job is not None:
            with lock:
                seen[job.id] += 1
            handoff = jobs.complete_and_claim(store, job, {"by": worker_id}, ["scan"], 30)
            assert handoff.refused is None
            job = handoff.next_job

    threads = [threading.Thread(target=loop, args=(f"w{i}",)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert seen == Counter(ids)  # every job handed to exactly one worker, once
    assert jobs.counts(store) == {"done": n_jobs}
    # One write a job (its completion with the next claim), plus each thread's first claim.
    assert store.writer.stats.writes - writes_before == n_jobs + n_threads
    assert store.verify_audit().ok


def test_stopped_worker_leaves_no_job_leased(store: Store) -> None:
    """A job handed over with a completion is not left waiting out its lease at stop."""
    for _ in range(3):
        _enqueue(store)
    entered, release = threading.Event(), threading.Event()

    def handler(payload: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        release.wait(30)
        return {}

    worker = Worker(store, {"scan": handler}, worker_id="w1", lease_s=30, poll_s=0.01).start()
    assert entered.wait(30)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    deadline = time.monotonic() + 30
    while not worker.stopping and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    stopper.join(30)
    assert not stopper.is_alive()
    counts = jobs.counts(store)
    assert "running" not in counts
    assert counts.get("done", 0) == worker.processed >= 1
    assert counts.get("done", 0) + counts.get("queued", 0) == 3
