"""The pipeline's configuration: a plain, frozen object the composition root builds from Settings.

Nothing in ``pipeline/`` reads settings or the environment; every service gets
the values it needs from this object (or a narrower one) in its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.media import MediaLimits


@dataclass(frozen=True)
class PipelineConfig:
    """Every value the gate, its sources and the area services are configured with."""

    data_dir: Path
    models_dir: Path
    threads: int = 2
    media: MediaLimits = field(default_factory=MediaLimits)
    max_blob_bytes: int = 200 * 1024 * 1024
    max_prompt_chars: int = 4000
    max_policy_file_bytes: int = 512 * 1024
    # Backend names resolved by the detector registries.
    face_detector: str = "yunet"  # detectors.faces.DEFAULT_DETECTOR
    face_embedder: str = "dlib-resnet"
    age_estimator: str = "dlib-age"
    image_text_model: str = "auto"
    text_embedder: str = "minilm"
    # Provenance: PEM text of the trust anchors (None: no anchors at all), the signing identity.
    trust_anchors_pem: str | None = None
    signing_cert: Path | None = None
    signing_key: Path | None = None
    timestamp_url: str | None = None
    fetch_remote_manifests: bool = False
    # Generations per account and UTC day (counted when the generator ran); staff
    # may set an account's own number.
    quota_generate_per_day: int = 30
    quota_generate_per_day_teen: int = 10
    # Invite codes each account may make (sign-up is by invitation).
    invites_per_user: int = 5
    # Seconds a moderator may undo their own decision (0: never).
    undo_window_seconds: int = 600
