"""``greenroom faces``: detect, compare and list face backends; no data directory needed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import typer

from greenroom.cli.common import JSON_OPTION
from greenroom.cli.output import BadInput, emit, log, run_command
from greenroom.settings import Settings, get_settings
from pipeline.media import Frame, limits_from

app = typer.Typer(help="Face detection and comparison.", no_args_is_help=True)

DETECTOR_OPTION = typer.Option(
    None, "--detector", help="dlib-hog | scrfd | yunet (default from settings)"
)
EMBEDDER_OPTION = typer.Option(
    None, "--embedder", help="dlib-resnet | arcface (default from settings)"
)


def _licence_note(info: Any) -> None:
    if "non-commercial" in info.licence:
        log(f"note: {info.model_id}: {info.licence}")


def _load(path: Path, settings: Settings) -> Any:
    from pipeline.media import load_image, sniff_kind

    if not path.exists():
        raise BadInput(f"no such file: {path}")
    if path.is_dir():
        raise BadInput(f"{path} is a directory, not an image")
    kind = sniff_kind(path)
    if kind != "image":
        raise BadInput(f"{path.name} is not an image (detected: {kind})")
    return load_image(path, limits_from(settings.limits))


@lru_cache(maxsize=2)
def _age_estimator(name: str, models_dir: Path | None, threads: int) -> Any:
    from detectors.age import build_age_estimator

    return build_age_estimator(name, models_dir, threads=threads)


def _ages(rgb: np.ndarray, faces: Sequence[Any], settings: Settings) -> list[tuple[float, str]]:
    """(age, risk band) per face with the configured age estimator; the estimate is a risk band,
    not a verdict: open age models are off by several years."""
    if not faces:
        return []
    estimator = _age_estimator(settings.age_estimator, settings.models_dir, settings.threads)
    return [(round(e.age, 1), e.band) for e in estimator.estimate(rgb, faces)]


@app.command("compare")
def compare_cmd(
    img_a: Path = typer.Argument(..., help="first image"),
    img_b: Path = typer.Argument(..., help="second image"),
    detector: str | None = DETECTOR_OPTION,
    embedder: str | None = EMBEDDER_OPTION,
    threshold: float | None = typer.Option(
        None, "--threshold", help="override the model's measured threshold"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Are the largest faces of two images the same person?"""

    def body() -> dict[str, Any]:
        from detectors.faces import build_detector, build_embedder, compare

        settings = get_settings()
        a = _load(img_a, settings)
        b = _load(img_b, settings)
        det = build_detector(
            detector or settings.face_detector, settings.models_dir, settings.threads
        )
        emb = build_embedder(
            embedder or settings.face_embedder, settings.models_dir, settings.threads
        )
        _licence_note(det.info)
        _licence_note(emb.info)
        result = compare(a, b, det, emb, threshold)
        return result.to_dict() | {"detector": det.info.model_id}

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: (
            f"{'same person' if d['same_person'] else 'different people'}: similarity "
            f"{d['similarity']:.3f} (threshold {d['threshold']}, {d['model']})"
        ),
    )


@app.command("detect")
def detect_cmd(
    media: Path = typer.Argument(..., help="image or video"),
    detector: str | None = DETECTOR_OPTION,
    embedder: str | None = EMBEDDER_OPTION,
    every: float = typer.Option(0.5, "--every", help="seconds between sampled video frames"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Faces in an image, or face tracks over a video's sampled frames."""

    def body() -> dict[str, Any]:
        from detectors.faces import VIDEO_MAX_SIDE, build_detector
        from detectors.faces.tracking import track_faces
        from detectors.faces.types import rescale_face
        from pipeline.media import iter_frames, probe_video, scaled_size, sniff_kind

        settings = get_settings()
        if not media.exists():
            raise BadInput(f"no such file: {media}")
        if media.is_dir():
            raise BadInput(f"{media} is a directory, not media")
        if not 0.04 <= every <= 10:
            raise BadInput("--every must be between 0.04 and 10 seconds")
        kind = sniff_kind(media)
        name = detector or settings.face_detector
        if kind == "image":
            rgb = _load(media, settings)
            det = build_detector(name, settings.models_dir, settings.threads)
            _licence_note(det.info)
            detected = det.detect(rgb)
            ages = _ages(rgb, detected, settings)
            faces = [
                f.to_dict() | {"age": age, "age_band": band, "t": None}
                for f, (age, band) in zip(detected, ages, strict=True)
            ]
            return {"faces": faces, "tracks": [], "detector": det.info.model_id, "kind": "image"}
        if kind != "video":
            raise BadInput(f"{media.name} is neither an image nor a video we can read")
        det = build_detector(name, settings.models_dir, settings.threads, for_video=True)
        _licence_note(det.info)
        # The video detector works at VIDEO_MAX_SIDE anyway: decode at that size
        # (the decoder scales far cheaper than a full frame plus a resize) and
        # map boxes back to the video's own pixels for the output.
        limits = limits_from(settings.limits)
        info = probe_video(media, limits)
        scale = scaled_size(info.width, info.height, VIDEO_MAX_SIDE)[0] / info.width
        # The age network needs only the face region: the working-size frames do.
        small: dict[float, np.ndarray] = {}

        def keep(frames: Iterator[Frame]) -> Iterator[Frame]:
            for frame in frames:
                small[frame.t] = frame.rgb
                yield frame

        frames = iter_frames(media, every_s=every, limits=limits, max_side=VIDEO_MAX_SIDE)
        tracks = track_faces(keep(frames), det, embedder=None)
        faces = []
        for tr in tracks:
            for sample in tr.samples:
                ((age, band),) = _ages(small[sample.t], [sample.face.box], settings)
                faces.append(
                    rescale_face(sample.face, scale).to_dict()
                    | {"age": age, "age_band": band, "t": round(sample.t, 3), "track": tr.id}
                )
        faces.sort(key=lambda f: (f["t"], f["track"]))
        return {
            "faces": faces,
            "tracks": [
                {"id": tr.id, "start_s": round(tr.start_s, 3), "end_s": round(tr.end_s, 3)}
                for tr in tracks
            ],
            "detector": det.info.model_id,
            "kind": "video",
        }

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: f"{len(d['faces'])} face(s), {len(d['tracks'])} track(s) ({d['detector']})",
    )


@app.command("backends")
def backends_cmd(as_json: bool = JSON_OPTION) -> None:
    """Face backends that load here, with their licences."""

    def body() -> dict[str, Any]:
        from detectors.faces import available_backends

        settings = get_settings()
        return {"backends": [i.to_dict() for i in available_backends(settings.models_dir)]}

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: "\n".join(
            f"{b['model_id']:28} {b['task']:28} {b['licence']}" for b in d["backends"]
        ),
    )
