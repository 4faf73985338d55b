"""Rate limits: token buckets in the server, per route class and per caller, answered with 429.

Each limited route names a class (``scan``, ``upload``, ``generate``,
``report``, ``prompt_check``, ``login_address``, ``login_account``); the
caller is the signed-in account, or the client address when there is none.
A bucket holds ``burst`` requests and refills at ``per_minute``; an empty
bucket answers ``429`` with ``Retry-After``. A rate of 0 turns a class off
(load tests). Buckets live in this process: behind several server processes
each one limits on its own, which the limits allow for.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fastapi import HTTPException, Request

MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class Rate:
    per_minute: float
    burst: int


DEFAULT_RATES: dict[str, Rate] = {
    "login_address": Rate(60, 20),
    "login_account": Rate(10, 10),
    "scan": Rate(60, 20),
    "upload": Rate(60, 20),
    "generate": Rate(10, 5),
    "report": Rate(20, 10),
    "prompt_check": Rate(300, 60),
    # Partner services look hashes up in volume; each request is cheap (an in-memory index).
    "lookup": Rate(6000, 1000),
}


def rates_from(overrides: Mapping[str, float]) -> dict[str, Rate]:
    """The default rates with per-class per-minute overrides (burst scales with the rate)."""
    rates = dict(DEFAULT_RATES)
    for name, per_minute in overrides.items():
        if name not in rates:
            raise ValueError(f"unknown rate-limit class {name!r}; one of {sorted(rates)}")
        base = rates[name]
        burst = max(1, round(base.burst * per_minute / base.per_minute)) if per_minute else 0
        rates[name] = Rate(float(per_minute), burst)
    return rates


class RateLimited(HTTPException):
    def __init__(self, name: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            429,
            f"too many requests ({name.replace('_', ' ')}); try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


class RateLimiter:
    """Token buckets keyed by (class, caller); thread-safe."""

    def __init__(
        self, rates: Mapping[str, Rate], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rates = dict(rates)
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, name: str, key: str) -> float:
        """Take one token; returns 0 when allowed, else the seconds until one is free."""
        rate = self.rates[name]
        if rate.per_minute <= 0:
            return 0.0
        per_second = rate.per_minute / 60.0
        at = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop((name, key), (float(rate.burst), at))
            tokens = min(float(rate.burst), tokens + (at - last) * per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / per_second
            self._buckets[(name, key)] = (tokens, at)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)  # the least recently used caller
        return wait

    def check(self, name: str, key: str) -> None:
        wait = self.hit(name, key)
        if wait > 0:
            raise RateLimited(name, wait)


def caller_key(request: Request) -> str:
    """The signed-in account when known, else the client address."""
    user = getattr(request.state, "user_id", None)
    if user:
        return f"user:{user}"
    return f"addr:{request.client.host if request.client else 'unknown'}"


def limiter_of(request: Request) -> RateLimiter:
    return request.app.state.limiter  # type: ignore[no-any-return]
