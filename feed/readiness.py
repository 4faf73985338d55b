"""Whether this server should get traffic yet: the models a request needs are loaded.

Models load on first use. Without a warm-up, the first prompt check after a
start waits seconds for the text models and the first scan for the face,
age and nudity models, while a load balancer already sends it traffic. With
``warm_models`` on (``GREENROOM_WARM_MODELS``, on for ``greenroom serve``),
the server loads them in a thread at start and ``/readyz`` answers 503 until
they are loaded; ``/healthz`` (the process is alive) answers 200 throughout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("greenroom.readiness")


class Readiness:
    """Ready at once, or after :meth:`warm` has loaded the models in its own thread."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._done.set()
        self.models: dict[str, str] = {}
        self.warm_s: float | None = None

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    @property
    def degraded(self) -> list[str]:
        """Models that did not load (their sources fail at scan time and force review)."""
        return sorted(name for name, state in self.models.items() if state != "loaded")

    def warm(self, load: Callable[[], dict[str, str]]) -> threading.Thread:
        """Run ``load`` (model -> state) in a daemon thread; not ready until it returns."""
        self._done.clear()

        def run() -> None:
            started = time.perf_counter()
            try:
                self.models = load()
            except Exception as exc:  # never leave the server unready forever
                log.exception("model warm-up failed")
                self.models = {"warm_up": type(exc).__name__}
            finally:
                self.warm_s = round(time.perf_counter() - started, 2)
                self._done.set()
                log.info("models warm in %.1f s: %s", self.warm_s, self.models)

        thread = threading.Thread(target=run, name="model-warm-up", daemon=True)
        thread.start()
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        """Block until warm (for a caller that must not race the warm-up; True when ready)."""
        return self._done.wait(timeout)
