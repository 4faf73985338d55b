"""Sharing native models between threads: instance pools and thread settings for ONNX Runtime.

The pipeline builds one detector of each kind per process and calls it from
every request thread and the job worker at once. Each backend says, beside
its model, which of three cases it is:

- **shared as is**: the native call is documented thread-safe and keeps no
  per-call state on the object (``onnxruntime.InferenceSession.run``; a torch
  module's forward in eval mode);
- **pooled** (:class:`InstancePool`): the native object keeps per-call state
  (dlib's detectors, shape predictors and networks; OpenCV's ``FaceDetectorYN``
  with its ``setInputSize`` + ``detect``), so each concurrent caller borrows its
  own instance, made lazily from the same weights file, at most ``threads`` of
  them: concurrent calls run in parallel up to the core budget and memory stays
  bounded by it (a per-thread instance would keep one copy per request thread);
- **locked**: thread-safe but fanning out over the process's ``threads``
  (torch's intra-op pool), where two calls at once would run twice as many
  threads as cores; one call at a time uses every core and no more.

``threads``, the process's core budget that every builder receives, sizes
the pools and torch's intra-op pool; ONNX Runtime runs get one thread each
(:func:`ort_session_options` says why). Nothing here reads the environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class InstancePool(Generic[T]):
    """Up to ``size`` instances made by ``factory``; each lent to one caller at a time.

    ``first`` (an instance already built, e.g. to fail early in a constructor
    when the weights are missing) is the first one lent. More are made only
    when every existing one is in use, and a caller waits when ``size`` are.
    """

    def __init__(self, factory: Callable[[], T], size: int, first: T | None = None) -> None:
        self._factory = factory
        self.size = max(1, int(size))
        self._idle: list[T] = [] if first is None else [first]
        self._made = 0 if first is None else 1
        self._cond = threading.Condition(threading.Lock())

    @property
    def made(self) -> int:
        """How many instances exist (for tests and diagnostics)."""
        with self._cond:
            return self._made

    @contextmanager
    def use(self) -> Iterator[T]:
        """Borrow an instance for the ``with`` block; it goes back to the pool afterwards."""
        instance = self._acquire()
        try:
            yield instance
        finally:
            with self._cond:
                self._idle.append(instance)
                self._cond.notify()

    def _acquire(self) -> T:
        with self._cond:
            while not self._idle and self._made >= self.size:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._made += 1  # reserve the slot; build outside the lock (loading takes a while)
        try:
            return self._factory()
        except BaseException:
            with self._cond:
                self._made -= 1
                self._cond.notify()
            raise


def ort_session_options() -> Any:
    """``onnxruntime.SessionOptions`` for a session shared by concurrent callers.

    ``InferenceSession.run`` is thread-safe, so one session serves every
    thread. Each run gets one intra-op thread, whatever the ``threads`` budget:
    the server's parallelism is concurrent scans, and runs that each fanned out
    over ``threads`` cores would put ``threads`` x callers threads on
    ``threads`` cores. ORT joins every operator's threads before the next, so
    one descheduled thread stalls the whole run: oversubscription costs far
    more than a lone scan gains from intra-op threads (the pooled dlib models,
    single-threaded, dominate a scan anyway).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


def single_threaded_torch() -> None:
    """One intra-op thread for torch in this process: the policy of :func:`ort_session_options`.

    Torch's thread count is process-wide, so every torch model here calls this
    when it loads, and the ``threads`` budget is spent on concurrent callers
    instead. Each layer's OpenMP team waits for its slowest thread: with two
    threads on two cores and the other core busy (a second scan, a request), a
    single face chip through the dlib ResNet took 300-720 ms against 23 ms at
    one thread (8 ms against 11 on a quiet machine), so one thread loses a
    little alone and nothing under load, where a server lives.
    """
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
