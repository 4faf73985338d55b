"""Group commit: many callers' writes applied by one writer in shared transactions.

A caller hands :meth:`GroupWriter.submit` a function of the transaction. The
first caller to find the writer free becomes the *leader*: it takes every
function waiting (its own among them, in arrival order, up to
``max_batch``), runs them one after another in ONE transaction, commits once
and wakes every caller with its own result or exception. Callers that arrive
meanwhile wait (*followers*) and form the next batch. There is no writer
thread: the leader is always a caller, and a caller returns only after the
transaction holding its write has committed, so each write is atomic and
durable when its caller sees the result.

One bad write never fails another: when a function raises, the batch is
rolled back; the functions before it are re-run as a batch, the failing one
gets its exception, and the ones after it are re-run as a batch, so the
writes still land in arrival order. When the fault cannot be pinned on one
function (a failure while writing rows another function deferred, or at
commit) each function is re-run alone and only its own failure reaches its
caller. Functions must therefore be safe to re-run after a rollback: no
effects outside the transaction, or effects that are idempotent.

:meth:`GroupWriter.exclusive` takes the writer for a caller-driven
transaction (``Store.transaction()``): the same single order, no batching.

Writes of one kind that many callers make at once (claim a job, complete a
job) can be *combined*: :meth:`GroupWriter.submit_combined` hands a
:class:`Combined` operation and the caller's argument, and the leader applies
every such request in its batch with ONE call, ``op.apply(tx, args)``, so one
statement serves many callers instead of one statement each. This is safe
because no caller in a batch has been answered yet: the writes are
concurrent, and any order among them is a valid serial order. A combined
group takes the place of its first request in the batch. An ``apply`` that
raises is treated like a function whose fault cannot be pinned: each request
of the batch is re-run alone.

This module knows nothing of DuckDB: the store passes ``begin``, ``commit``
and ``rollback``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

TxT = TypeVar("TxT")
T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 256


class DeferredWriteError(Exception):
    """Raised by a transaction object when writing rows deferred by earlier functions fails.

    The writer then cannot tell whose write was bad, so it re-runs each function alone.
    A transaction object that sets ``deferred_failed`` gets the same treatment even
    when a function caught this error and raised another.
    """


class Combined(ABC, Generic[TxT, A, R]):
    """One kind of write that the leader applies for many callers at once.

    Requests whose operations have equal :attr:`key` in one batch are applied
    together by one :meth:`apply` call. ``apply`` returns one entry per
    argument, in order: the caller's result, or an exception instance for
    that caller alone -- in which case ``apply`` must have written nothing
    for that argument. Raising from ``apply`` instead rolls the batch back
    and re-runs each request alone (then ``args`` has one entry). Like a
    function given to :meth:`GroupWriter.submit`, ``apply`` must be safe to
    re-run after a rollback.
    """

    @property
    @abstractmethod
    def key(self) -> Hashable:
        """Requests with equal keys are applied together."""

    @abstractmethod
    def apply(self, tx: TxT, args: Sequence[A]) -> list[R | BaseException]:
        """Apply every argument's write in ``tx``; one result (or exception) per argument."""


@dataclass(eq=False)
class _Request:
    fn: Callable[[Any], Any] | None
    combined: Combined[Any, Any, Any] | None = None
    arg: Any = None
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class WriterStats:
    """Counters for benchmarks and health pages (not synchronised: approximate under load)."""

    writes: int = 0
    batches: int = 0
    combined_writes: int = 0  # requests applied through a Combined operation
    combined_calls: int = 0  # apply() calls that served them
    commits: int = 0
    reruns: int = 0
    largest_batch: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)


class GroupWriter(Generic[TxT]):
    """Leader/follower group commit over ``begin() -> tx``, ``commit(tx)`` and ``rollback(tx)``.

    ``commit`` must leave the transaction closed whether it succeeds or raises
    (the store rolls back on a failed commit); ``rollback`` must not raise for
    an already-aborted transaction.
    """

    def __init__(
        self,
        begin: Callable[[], TxT],
        commit: Callable[[TxT], None],
        rollback: Callable[[TxT], None],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._begin = begin
        self._commit = commit
        self._rollback = rollback
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._busy = False
        self._holder: int | None = None
        self._pending: deque[_Request] = deque()
        self.stats = WriterStats()

    # -- callers ----------------------------------------------------------------------------

    def submit(self, fn: Callable[[TxT], T]) -> T:
        """Run ``fn(tx)`` in a shared transaction; returns once it has committed.

        ``fn`` may run more than once (after a rollback caused by another
        caller's write) and on another caller's thread; see the module docstring.
        """
        return self._wait(_Request(fn))  # type: ignore[no-any-return]

    def submit_combined(self, op: Combined[TxT, A, R], arg: A) -> R:
        """Apply ``op`` for ``arg`` in a shared transaction, together with others of its key.

        Returns this argument's result once it has committed, or raises the
        exception ``op.apply`` gave for it.
        """
        return self._wait(_Request(None, op, arg))  # type: ignore[no-any-return]

    def _wait(self, req: _Request) -> Any:
        if self._holder == threading.get_ident():
            raise RuntimeError("a write from inside a write: use the transaction you were handed")
        with self._cond:
            self._pending.append(req)
        while True:
            with self._cond:
                while not req.done and self._busy:
                    self._cond.wait()
                if req.done:
                    break
                self._busy = True
                self._holder = threading.get_ident()
                batch = [
                    self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))
                ]
            try:
                self._run_batch(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._holder = None
                    self._cond.notify_all()
        if req.error is not None:
            raise req.error
        return req.result

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writer for one caller-driven transaction (no batching, same order)."""
        me = threading.get_ident()
        if self._holder == me:
            raise RuntimeError("a transaction from inside a write: use the transaction you hold")
        with self._cond:
            while self._busy:
                self._cond.wait()
            self._busy = True
            self._holder = me
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._holder = None
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Writes submitted and not yet taken into a batch."""
        with self._cond:
            return len(self._pending)

    @property
    def holder(self) -> int | None:
        """The thread that holds the writer now (running a batch or a transaction), or None."""
        return self._holder

    # -- the leader -------------------------------------------------------------------------

    def _finish(self, reqs: list[_Request]) -> None:
        with self._cond:
            for req in reqs:
                req.done = True
            self._cond.notify_all()

    def _fail(self, req: _Request, error: BaseException) -> None:
        if isinstance(error, DeferredWriteError) and error.__cause__ is not None:
            error = error.__cause__  # alone, the deferred rows were its own: the real error
        req.error = error
        req.result = None
        self._finish([req])

    def _run_batch(self, batch: list[_Request]) -> None:
        stats = self.stats
        stats.batches += 1
        stats.writes += len(batch)
        stats.largest_batch = max(stats.largest_batch, len(batch))
        stats.batch_sizes[len(batch)] = stats.batch_sizes.get(len(batch), 0) + 1
        try:
            self._run(batch)
        except BaseException as exc:
            # The store itself failed (a BEGIN or ROLLBACK that could not run): the writes
            # not yet answered did not land; each of their callers gets the error.
            for req in batch:
                if not req.done:
                    req.error = exc
            self._finish(batch)

    def _run(self, reqs: list[_Request]) -> None:
        """Apply ``reqs`` in one transaction, or split them until each fault is its owner's."""
        if not reqs:
            return
        units = _units(reqs)
        if len(units) < len(reqs):
            reqs = [req for unit in units for req in unit]  # the order they are applied in
        tx = self._begin()
        done = 0
        for unit in units:
            try:
                self._apply(tx, unit)
            except BaseException as exc:
                self._rollback(tx)
                if len(reqs) == 1:
                    self._fail(reqs[0], exc)
                    return
                self.stats.reruns += len(reqs) - 1
                before, after = reqs[:done], reqs[done + len(unit) :]
                ambiguous = isinstance(exc, DeferredWriteError) or getattr(
                    tx, "deferred_failed", False
                )
                if ambiguous:
                    # Rows deferred by an earlier request (or this one) did not write:
                    # re-run each of them alone so the fault lands on its owner.
                    for one in [*before, *unit]:
                        self._run([one])
                elif len(unit) > 1:
                    # One apply() served several callers: whose argument was bad is unknown.
                    self._run(before)
                    for one in unit:
                        self._run([one])
                else:
                    self._run(before)
                    self._fail(unit[0], exc)
                self._run(after)
                return
            done += len(unit)
        try:
            self._commit(tx)
        except BaseException as exc:
            if len(reqs) == 1:
                self._fail(reqs[0], exc)
                return
            self.stats.reruns += len(reqs)
            for one in reqs:
                self._run([one])
            return
        self.stats.commits += 1
        self._finish(reqs)

    def _apply(self, tx: TxT, unit: list[_Request]) -> None:
        op = unit[0].combined
        if op is None:
            fn = unit[0].fn
            assert fn is not None
            unit[0].result, unit[0].error = fn(tx), None
            return
        results = op.apply(tx, [req.arg for req in unit])
        if len(results) != len(unit):
            raise RuntimeError(
                f"{type(op).__name__}.apply returned {len(results)} results for {len(unit)} writes"
            )
        self.stats.combined_calls += 1
        self.stats.combined_writes += len(unit)
        for req, result in zip(unit, results, strict=True):
            if isinstance(result, BaseException):
                req.result, req.error = None, result
            else:
                req.result, req.error = result, None


def _units(reqs: list[_Request]) -> list[list[_Request]]:
    """Group combined requests by key, each group where its first request stood."""
    units: list[list[_Request]] = []
    groups: dict[Hashable, list[_Request]] = {}
    for req in reqs:
        if req.combined is None:
            units.append([req])
            continue
        group = groups.get(req.combined.key)
        if group is None:
            groups[req.combined.key] = group = []
            units.append(group)
        group.append(req)
    return units
