"""The durable job queue: enqueue, claim with a lease, heartbeat, complete once, fail with backoff.

Jobs live in the ``jobs`` table, so a crash loses nothing. A worker *claims* a
job: the job becomes ``running`` with a lease (owner + expiry) and its attempt
counter goes up. A worker that dies stops heartbeating; once the lease expires
another worker reclaims the job (attempt + 1). Completion is accepted only from
the worker holding the current attempt's lease, so a job whose first worker
was presumed dead and re-run is never completed twice: the late worker gets
:class:`LeaseLost`. Handlers must therefore be safe to run more than once
(at-least-once execution, exactly-once completion).

Every transition writes a ``job.changed`` audit event in the same transaction.
Handlers run outside the store's writer; only the short claim, heartbeat,
complete and fail writes go through it, group-committed with other callers'
writes (:meth:`Store.write`: each may be re-run after a rollback, so each
reads and writes only through its transaction).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from store.db import Conflict, NotFound, Store, StoreError, Tx, new_id, now
from store.events import JobEvent
from store.writer import Combined

log = logging.getLogger(__name__)

_KIND = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
_MAX_ERROR_CHARS = 4000
_MAX_PAYLOAD_BYTES = 1024 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class JobError(StoreError):
    """A job could not be enqueued or changed; the message is safe to show."""


class LeaseLost(Conflict):
    """This worker no longer holds the job's lease (it expired and was taken, or the job ended)."""


@dataclass(frozen=True)
class Job:
    """A claimed job, as the claiming worker sees it: ``attempt`` pins which run this is."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    worker: str
    lease_expires_at: datetime


@dataclass(frozen=True)
class JobRecord:
    """A job row as stored (for status pages and tests)."""

    id: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    run_after: datetime
    idempotency_key: str | None
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


def _to_json(value: object, what: str) -> str:
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise JobError(f"job {what} must be JSON-serialisable: {exc}") from None
    if len(text.encode("utf-8")) > _MAX_PAYLOAD_BYTES:
        raise JobError(f"job {what} is larger than {_MAX_PAYLOAD_BYTES} bytes")
    return text


def _from_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise JobError(f"invalid job kind {kind!r:.80}: lower-case letters, digits, '_.:-'")
    return kind


def enqueue(
    tx: Tx,
    kind: str,
    payload: Mapping[str, Any],
    *,
    idempotency_key: str | None = None,
    max_attempts: int = 5,
    run_after: datetime | None = None,
    actor_id: str | None = None,
) -> str:
    """Add a job in the caller's transaction; returns its id.

    With an ``idempotency_key`` the same key always yields the same job (the
    first one's id, whatever its state), so a retried request never queues a
    duplicate.
    """
    _check_kind(kind)
    if not isinstance(payload, Mapping):
        raise JobError("job payload must be a JSON object")
    if not isinstance(max_attempts, int) or not 1 <= max_attempts <= 100:
        raise JobError("max_attempts must be an integer from 1 to 100")
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200:
            raise JobError("idempotency key must be a string of 1 to 200 characters")
        row = tx.execute(
            "SELECT id FROM jobs WHERE idempotency_key = ?", [idempotency_key]
        ).fetchone()
        if row is not None:
            return str(row[0])
    body = _to_json(dict(payload), "payload")
    job_id = new_id("job")
    at = now()
    tx.execute(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_after, "
        "idempotency_key, created_at, updated_at) VALUES (?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?)",
        [job_id, kind, body, max_attempts, run_after or at, idempotency_key, at, at],
    )
    tx.audit(JobEvent(actor_id, job_id=job_id, kind=kind, transition="enqueued", attempt=0))
    return job_id


def _ready(kinds: Sequence[str]) -> str:
    marks = ", ".join("?" for _ in kinds)
    return (
        f"WHERE kind IN ({marks}) AND ((status = 'queued' AND run_after <= ?) "
        "OR (status = 'running' AND lease_expires_at <= ?)) "
        "ORDER BY run_after, created_at, id LIMIT ?"
    )


def _claimed(tx: Tx, row: tuple[Any, ...], worker_id: str, expires: datetime) -> Job:
    """Audit a queued job's claim (``row``: id, kind, payload, attempts, max_attempts)."""
    job_id, kind, payload, attempt, max_attempts = row
    job = Job(
        job_id, kind, _from_json(payload), int(attempt), int(max_attempts), worker_id, expires
    )
    tx.audit(_event(job, "claimed"))
    return job


def _event(job: Job, transition: str) -> JobEvent:
    return JobEvent(
        None,
        job_id=job.id,
        kind=job.kind,
        transition=transition,
        attempt=job.attempt,
        worker=job.worker,
    )


def _take(tx: Tx, kinds: Sequence[str], worker_id: str, lease_s: float) -> Job | None:
    """One worker's claim in ``tx``: the oldest ready job, or None."""
    ready = _ready(kinds)
    at = now()
    expires = at + timedelta(seconds=lease_s)
    # Common case in one statement: the oldest ready job is a queued one.
    row = tx.execute(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?, "
        f"lease_expires_at = ?, updated_at = ? WHERE id = (SELECT id FROM jobs {ready}) "
        "AND status = 'queued' RETURNING id, kind, payload, attempts, max_attempts",
        [worker_id, expires, at, *kinds, at, at, 1],
    ).fetchone()
    if row is not None:
        return _claimed(tx, row, worker_id, expires)
    # None ready, or the oldest is a running job whose lease expired: look first.
    while True:
        row = tx.execute(
            f"SELECT id, kind, payload, status, attempts, max_attempts, lease_owner FROM jobs "
            f"{ready}",
            [*kinds, at, at, 1],
        ).fetchone()
        if row is None:
            return None
        job_id, kind, payload, status, attempts, max_attempts, old_owner = row
        if status == "running" and attempts >= max_attempts:
            tx.execute(
                "UPDATE jobs SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL, "
                "last_error = ?, updated_at = ? WHERE id = ?",
                ["lease expired on the last attempt (worker died or hung)", at, job_id],
            )
            tx.audit(
                JobEvent(
                    None,
                    job_id=job_id,
                    kind=kind,
                    transition="dead",
                    attempt=attempts,
                    worker=old_owner,
                    detail="lease expired on the last attempt",
                )
            )
            continue
        attempt = int(attempts) + 1
        tx.execute(
            "UPDATE jobs SET status = 'running', attempts = ?, lease_owner = ?, "
            "lease_expires_at = ?, updated_at = ? WHERE id = ?",
            [attempt, worker_id, expires, at, job_id],
        )
        transition = "reclaimed" if status == "running" else "claimed"
        detail = f"previous lease held by {old_owner}" if status == "running" else None
        tx.audit(
            JobEvent(
                None,
                job_id=job_id,
                kind=kind,
                transition=transition,
                attempt=attempt,
                worker=worker_id,
                detail=detail,
            )
        )
        return Job(
            job_id, kind, _from_json(payload), attempt, int(max_attempts), worker_id, expires
        )


class _Claim(Combined[Tx, tuple[str, float], "Job | None"]):
    """Claims for several workers at once: one SELECT and one UPDATE for the whole batch.

    Workers polling the same kinds are answered together; each gets its own
    job (the k oldest ready, given out in the workers' arrival order) or None
    when fewer than k are ready. When an expired lease is among the oldest
    ready jobs, the claims run one by one (:func:`_take`), because a reclaim
    or a dead mark needs its own audit and checks; that is the rare case.
    """

    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.kinds = kinds

    @property
    def key(self) -> Hashable:
        return ("jobs.claim", self.kinds)

    def apply(self, tx: Tx, args: Sequence[tuple[str, float]]) -> list[Job | BaseException | None]:
        if len(args) == 1:
            return [_take(tx, self.kinds, *args[0])]
        at = now()
        picked = tx.execute(
            f"SELECT id, status FROM jobs {_ready(self.kinds)}", [*self.kinds, at, at, len(args)]
        ).fetchall()
        if any(status != "queued" for _, status in picked):
            return [_take(tx, self.kinds, worker, lease_s) for worker, lease_s in args]
        given = {
            job_id: (worker, at + timedelta(seconds=lease_s))
            for (job_id, _), (worker, lease_s) in zip(picked, args, strict=False)
        }
        if not given:
            return [None] * len(args)
        rows = tx.execute(
            "UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1, "
            "lease_owner = v.worker, lease_expires_at = v.expires, updated_at = ? "
            f"FROM (VALUES {', '.join(['(?, ?, ?)'] * len(given))}) AS v(id, worker, expires) "
            "WHERE jobs.id = v.id AND jobs.status = 'queued' "
            "RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts",
            [at, *(x for job_id, (w, e) in given.items() for x in (job_id, w, e))],
        ).fetchall()
        if len(rows) != len(given):
            raise StoreError(f"claimed {len(rows)} of {len(given)} jobs picked as queued")
        by_id = {row[0]: row for row in rows}
        out: list[Job | BaseException | None] = [
            _claimed(tx, by_id[job_id], worker, expires)
            for job_id, (worker, expires) in given.items()
        ]
        return out + [None] * (len(args) - len(out))


def claim(store: Store, worker_id: str, kinds: Iterable[str], lease_s: float) -> Job | None:
    """Atomically take the oldest ready job of one of ``kinds``, or None.

    Ready: queued with ``run_after`` passed, or running with an expired lease
    (its worker is presumed dead; the claim is audited as ``reclaimed``). A job
    whose lease expired on its last allowed attempt is marked ``dead`` instead.
    Concurrent claims for the same kinds are answered by one statement
    (:class:`_Claim`), each worker still getting its own job.
    """
    kinds = sorted({_check_kind(k) for k in kinds})
    if not kinds:
        return None
    if lease_s <= 0:
        raise JobError("lease_s must be positive")
    return store.write_combined(_Claim(tuple(kinds)), (worker_id, lease_s))


def _check_holder(tx: Tx, job: Job) -> str:
    """Raise LeaseLost unless ``job``'s worker still holds this attempt's lease; returns kind."""
    row = tx.execute(
        "SELECT status, lease_owner, attempts, kind FROM jobs WHERE id = ?", [job.id]
    ).fetchone()
    if row is None:
        raise NotFound(f"no job {job.id}")
    status, owner, attempts, kind = row
    if status != "running" or owner != job.worker or int(attempts) != job.attempt:
        raise LeaseLost(
            f"job {job.id} attempt {job.attempt}: worker {job.worker} no longer holds the lease "
            f"(job is {status}, attempt {attempts}, held by {owner})"
        )
    return str(kind)


def _update_held(tx: Tx, job: Job, assignments: str, params: list[Any]) -> str:
    """``UPDATE jobs SET <assignments>`` if ``job``'s worker holds this attempt's lease.

    One statement in the common case; when no row matched, :func:`_check_holder`
    says why (NotFound or LeaseLost). Returns the job's kind.
    """
    row = tx.execute(
        f"UPDATE jobs SET {assignments} WHERE id = ? AND status = 'running' "
        "AND lease_owner = ? AND attempts = ? RETURNING kind",
        [*params, job.id, job.worker, job.attempt],
    ).fetchone()
    if row is None:
        _check_holder(tx, job)
        raise LeaseLost(f"job {job.id} attempt {job.attempt}: the lease changed meanwhile")
    return str(row[0])


def heartbeat(store: Store, job: Job, lease_s: float) -> Job:
    """Extend the lease by ``lease_s`` from now; :class:`LeaseLost` if it is no longer ours."""
    if lease_s <= 0:
        raise JobError("lease_s must be positive")

    def extend(tx: Tx) -> datetime:
        at = now()
        expires = at + timedelta(seconds=lease_s)
        kind = _update_held(tx, job, "lease_expires_at = ?, updated_at = ?", [expires, at])
        tx.audit(
            JobEvent(
                None,
                job_id=job.id,
                kind=kind,
                transition="extended",
                attempt=job.attempt,
                worker=job.worker,
            )
        )
        return expires

    expires = store.write(extend)
    return Job(job.id, job.kind, job.payload, job.attempt, job.max_attempts, job.worker, expires)


_DONE = (
    "status = 'done', result = {result}, lease_owner = NULL, lease_expires_at = NULL, "
    "last_error = NULL, updated_at = {at}"
)


def _completed(tx: Tx, job: Job, kind: str) -> None:
    # The kind as stored: a caller's Job object is not trusted for the audit record.
    tx.audit(_event(replace(job, kind=kind), "completed"))


def _finish_one(tx: Tx, job: Job, body: str) -> BaseException | None:
    try:
        kind = _update_held(tx, job, _DONE.format(result="?", at="?"), [body, now()])
    except (LeaseLost, NotFound) as exc:
        return exc  # nothing was written: the UPDATE matched no row
    _completed(tx, job, kind)
    return None


class _Complete(Combined[Tx, tuple[Job, str], None]):
    """Completions from several workers at once: one UPDATE for the whole batch.

    Each completion still counts only from its lease holder: a job whose row
    did not match (lease lost, job gone) gets its own :class:`LeaseLost` or
    :class:`NotFound`, and nothing is written for it.
    """

    key: Hashable = "jobs.complete"

    def apply(self, tx: Tx, args: Sequence[tuple[Job, str]]) -> list[BaseException | None]:
        if len(args) == 1 or len({job.id for job, _ in args}) < len(args):
            # The same job twice in one batch: only serial order says which one wins.
            return [_finish_one(tx, job, body) for job, body in args]
        at = now()
        rows = tx.execute(
            f"UPDATE jobs SET {_DONE.format(result='v.result', at='?')} "
            f"FROM (VALUES {', '.join(['(?, ?, ?, ?)'] * len(args))}) "
            "AS v(id, worker, attempt, result) "
            "WHERE jobs.id = v.id AND jobs.status = 'running' AND jobs.lease_owner = v.worker "
            "AND jobs.attempts = v.attempt RETURNING jobs.id, jobs.kind",
            [at, *(x for job, body in args for x in (job.id, job.worker, job.attempt, body))],
        ).fetchall()
        kinds = dict(rows)
        out: list[BaseException | None] = []
        for job, _ in args:
            if job.id in kinds:
                _completed(tx, job, str(kinds[job.id]))
                out.append(None)
                continue
            try:
                _check_holder(tx, job)
                out.append(LeaseLost(f"job {job.id} attempt {job.attempt}: the lease changed"))
            except (LeaseLost, NotFound) as exc:
                out.append(exc)
        return out


def complete(store: Store, job: Job, result: Mapping[str, Any] | None = None) -> None:
    """Mark the job done with ``result``; only the current lease holder may (else LeaseLost).

    Concurrent completions share one statement (:class:`_Complete`).
    """
    body = _to_json(dict(result or {}), "result")
    store.write_combined(_Complete(), (job, body))


@dataclass(frozen=True)
class Handoff:
    """What :func:`complete_and_claim` did: the completion's refusal, if any, and the next job."""

    refused: LeaseLost | NotFound | None  # the completion was not accepted (nothing written)
    next_job: Job | None  # claimed for the same worker, or None when none was ready


class _CompleteAndClaim(Combined[Tx, tuple[Job, str, float], Handoff]):
    """Workers' completions and their next claims together: one write per job, not two.

    Applied as :class:`_Complete` then :class:`_Claim` for the whole batch, in one
    transaction, so a worker waits for the writer once a job. The claims come
    after the completions, so a job just completed is never handed out again.
    """

    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.kinds = kinds

    @property
    def key(self) -> Hashable:
        return ("jobs.complete+claim", self.kinds)

    def apply(
        self, tx: Tx, args: Sequence[tuple[Job, str, float]]
    ) -> list[Handoff | BaseException]:
        done = _Complete().apply(tx, [(job, body) for job, body, _ in args])
        claimed = _Claim(self.kinds).apply(tx, [(job.worker, lease_s) for job, _, lease_s in args])
        out: list[Handoff | BaseException] = []
        for refusal, taken in zip(done, claimed, strict=True):
            # Neither is expected (completions refuse only so; claims raise, not return):
            # raising rolls the batch back and re-runs each request alone.
            if isinstance(taken, BaseException):
                raise taken
            if refusal is not None and not isinstance(refusal, (LeaseLost, NotFound)):
                raise refusal
            out.append(Handoff(refused=refusal, next_job=taken))
        return out


def complete_and_claim(
    store: Store, job: Job, result: Mapping[str, Any] | None, kinds: Iterable[str], lease_s: float
) -> Handoff:
    """:func:`complete` ``job``, then :func:`claim` the next job of ``kinds`` for its worker, in one write.

    A worker loop's two writes a job become one, batched with other workers'
    (:class:`_CompleteAndClaim`). The completion still counts only from the lease
    holder: when it is refused (``Handoff.refused``) nothing is written for it, and
    the claim is made all the same.
    """
    body = _to_json(dict(result or {}), "result")
    names = sorted({_check_kind(k) for k in kinds})
    if not names:
        raise JobError("no kinds to claim")
    if lease_s <= 0:
        raise JobError("lease_s must be positive")
    return store.write_combined(_CompleteAndClaim(tuple(names)), (job, body, lease_s))


def backoff_s(attempt: int, base_s: float = 5.0, cap_s: float = 3600.0) -> float:
    """Exponential backoff after the ``attempt``-th failure: base, 2×base, 4×base… up to cap."""
    return float(min(cap_s, base_s * (2 ** max(0, attempt - 1))))


def fail(store: Store, job: Job, error: str, retry_in_s: float | None = None) -> str:
    """Record a failed attempt: requeue after ``retry_in_s`` (default: backoff) or mark dead.

    Returns the new status (``queued`` or ``dead``). Only the lease holder may.
    """
    message = str(error)[:_MAX_ERROR_CHARS]
    delay = backoff_s(job.attempt) if retry_in_s is None else max(0.0, float(retry_in_s))

    def record(tx: Tx) -> str:
        kind = _check_holder(tx, job)
        at = now()
        row = tx.execute("SELECT max_attempts FROM jobs WHERE id = ?", [job.id]).fetchone()
        dead = job.attempt >= int(row[0]) if row else True
        status = "dead" if dead else "queued"
        tx.execute(
            "UPDATE jobs SET status = ?, lease_owner = NULL, lease_expires_at = NULL, "
            "last_error = ?, run_after = ?, updated_at = ? WHERE id = ?",
            [status, message, at if dead else at + timedelta(seconds=delay), at, job.id],
        )
        tx.audit(
            JobEvent(
                None,
                job_id=job.id,
                kind=kind,
                transition="dead" if dead else "failed",
                attempt=job.attempt,
                worker=job.worker,
                detail=message[:500],
            )
        )
        return status

    return store.write(record)


def get_job(store: Store, job_id: str) -> JobRecord:
    rows = store.query_dicts(
        "SELECT id, kind, payload, status, attempts, max_attempts, lease_owner, lease_expires_at, "
        "run_after, idempotency_key, last_error, result, created_at, updated_at "
        "FROM jobs WHERE id = ?",
        [job_id],
    )
    if not rows:
        raise NotFound(f"no job {job_id!s:.80}")
    row = rows[0]
    row["payload"] = _from_json(row["payload"])
    row["result"] = _from_json(row["result"]) if row["result"] is not None else None
    return JobRecord(**row)


def counts(store: Store) -> dict[str, int]:
    """Jobs per status, for health pages."""
    return {str(s): int(n) for s, n in store.query("SELECT status, count(*) FROM jobs GROUP BY 1")}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Claims jobs of the registered kinds and runs their handlers in a background thread.

    A handler takes the payload and returns a JSON-able result dict; an
    exception fails the attempt (retried with backoff until ``max_attempts``).
    While a handler runs, a heartbeat thread extends the lease every
    ``lease_s / 3`` seconds. :meth:`stop` lets the current job finish.
    """

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        lease_s: float = 60.0,
        poll_s: float = 1.0,
        retry_base_s: float = 5.0,
    ) -> None:
        if not handlers:
            raise JobError("a worker needs at least one handler")
        for kind in handlers:
            _check_kind(kind)
        self.store = store
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.retry_base_s = retry_base_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: Job | None = None  # claimed with the last completion, not yet run
        self.processed = 0

    def start(self) -> Worker:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"worker-{self.worker_id}", daemon=True
        )
        self._thread.start()
        return self

    @property
    def stopping(self) -> bool:
        """:meth:`stop` was asked for: the loop ends after the job in hand."""
        return self._stop.is_set()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Ask the loop to end after the current job; True when it has ended."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        # A job handed over with the last completion is run even when stopping: its
        # attempt is already counted, and left alone it would wait out its lease.
        while not self._stop.is_set() or self._next is not None:
            try:
                worked = self.run_once()
            except Exception:  # keep the worker alive; the job's lease will expire
                log.exception("worker %s: store error while claiming", self.worker_id)
                worked = False
            if not worked:
                self._stop.wait(self.poll_s)

    def run_once(self) -> bool:
        """Run the job handed over with the last completion, or claim one; False when none was ready."""
        job, self._next = self._next, None
        if job is None:
            job = claim(self.store, self.worker_id, self.handlers, self.lease_s)
        if job is None:
            return False
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, done), daemon=True)
        beat.start()
        result: dict[str, Any] | None = None
        error: str | None = None
        try:
            out = self.handlers[job.kind](dict(job.payload))
            if isinstance(out, dict):
                result = out
            else:
                error = f"handler for {job.kind} returned {type(out).__name__}, not a dict"
        except Exception as exc:  # a handler's failure is the job's, not the worker's
            error = f"{type(exc).__name__}: {exc}"
        finally:
            done.set()
            beat.join()
        try:
            if error is None and self._stop.is_set():
                complete(self.store, job, result)
            elif error is None:
                # One write for this completion and the next claim (see complete_and_claim).
                handoff = complete_and_claim(self.store, job, result, self.handlers, self.lease_s)
                self._next = handoff.next_job
                if handoff.refused is not None:
                    log.warning("worker %s: %s", self.worker_id, handoff.refused)
            else:
                fail(self.store, job, error, backoff_s(job.attempt, self.retry_base_s))
        except LeaseLost as exc:
            # Another worker took the job over; its outcome is the one that counts.
            log.warning("worker %s: %s", self.worker_id, exc)
        except JobError as exc:  # e.g. a result that is not JSON: fail the attempt instead
            fail(self.store, job, str(exc), backoff_s(job.attempt, self.retry_base_s))
        self.processed += 1
        return True

    def _heartbeat(self, job: Job, done: threading.Event) -> None:
        current = job
        while not done.wait(self.lease_s / 3):
            try:
                current = heartbeat(self.store, current, self.lease_s)
            except LeaseLost as exc:
                # Keep running the handler: complete() will refuse it, and the handler
                # may hold resources that are better released by finishing.
                log.warning("worker %s: %s", self.worker_id, exc)
                return
            except Exception:
                log.exception("worker %s: heartbeat failed for %s", self.worker_id, job.id)
