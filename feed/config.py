"""The server's configuration: a plain object the composition root builds from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from feed.ratelimit import DEFAULT_RATES, Rate


@dataclass(frozen=True)
class ServerConfig:
    """What the HTTP layer itself needs (the pipeline has its own config)."""

    version: str = "0"
    workers: int = 1
    # Load the models at start, in a thread; /readyz answers 503 until they are loaded.
    warm_models: bool = False
    max_json_body_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 200 * 1024 * 1024
    rate_limits: dict[str, Rate] = field(default_factory=lambda: dict(DEFAULT_RATES))
