"""``greenroom safety``: prompt checks, media scans (ages, nudity, hash banks) and bank files.

Composition root for the minor-safety detectors: reads settings, decodes media
with ``pipeline.media``, runs the detectors and prints the CLI.md documents.
Bank *storage* in the data directory is the store's job; until it lands,
``scan --bank FILE`` matches against exported bank files and ``bank-add`` /
``bank-check`` work on such files.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import JSON_OPTION
from greenroom.cli.output import BadInput, emit, log, run_command
from greenroom.settings import Settings, get_settings
from pipeline.media import limits_from

app = typer.Typer(
    help="Minor safety: prompt checks, age/nudity scans, hash banks.", no_args_is_help=True
)

AUDIENCE_OPTION = typer.Option(
    "default",
    "--audience",
    help="age band preset: default | teen_strict (stricter, for teen audiences)",
)
EVERY_OPTION = typer.Option(1.0, "--every", help="seconds between video keyframes")
# Keyframes are scanned at this size: NudeNet works at 320, PDQ at 64, and the
# face detector's video mode at 640, so nothing is lost and memory stays bounded.
FRAME_MAX_SIDE = 640
AGE_SAMPLES_PER_TRACK = 5


def _check_media_path(media: Path) -> str:
    from pipeline.media import sniff_kind

    if not media.exists():
        raise BadInput(f"no such file: {media}")
    if media.is_dir():
        raise BadInput(f"{media} is a directory, not media")
    kind = sniff_kind(media)
    if kind not in ("image", "video"):
        raise BadInput(f"{media.name} is neither an image nor a video we can read")
    return kind


def _keyframes(
    media: Path, kind: str, every: float, settings: Settings
) -> list[tuple[float | None, Any]]:
    from pipeline.media import iter_frames, load_image

    if kind == "image":
        return [(None, load_image(media, limits_from(settings.limits)))]
    if not 0.1 <= every <= 10:
        raise BadInput("--every must be between 0.1 and 10 seconds")
    frames: list[tuple[float | None, Any]] = [
        (f.t, f.rgb)
        for f in iter_frames(
            media, every_s=every, limits=limits_from(settings.limits), max_side=FRAME_MAX_SIDE
        )
    ]
    if not frames:
        raise BadInput(f"{media.name}: no decodable video frames")
    return frames


def media_hashes(
    media: Path, every: float = 1.0, settings: Settings | None = None
) -> dict[str, Any]:
    """sha256 of the file and PDQ hashes of its keyframes (for banks and matching)."""
    from detectors.hashing import pdq_hash, sha256_file

    settings = settings or get_settings()
    kind = _check_media_path(media)
    frames = _keyframes(media, kind, every, settings)
    return {
        "kind": kind,
        "sha256": sha256_file(media),
        "pdq": [(t, pdq_hash(rgb)) for t, rgb in frames],
    }


@app.command("check-prompt")
def check_prompt_cmd(
    text: str = typer.Argument(..., help="the generation prompt"),
    lexicon_only: bool = typer.Option(
        False, "--lexicon-only", help="skip the semantic model (faster)"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Harm categories a prompt touches, with evidence (only categories found)."""

    def body() -> dict[str, Any]:
        from detectors.prompt_safety import PromptSafetyClassifier

        settings = get_settings()
        limit = settings.limits.max_prompt_chars
        # Checked before loading the model: a bad prompt costs nothing.
        if len(text) > limit:
            raise BadInput(f"prompt is {len(text)} characters; the limit is {limit}")
        if not text.strip():
            raise BadInput("prompt is empty")
        clf = PromptSafetyClassifier(semantic=not lexicon_only, max_chars=limit)
        findings = clf.check(text)
        return {"categories": [f.to_dict() for f in findings], "model": clf.info.model_id}

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: (
            "\n".join(f"{c['name']}: {c['score']:.2f}" for c in d["categories"])
            or "no categories found"
        ),
    )


def _age_faces(
    frames: list[tuple[float | None, Any]], kind: str, settings: Settings, audience: str
) -> tuple[list[dict[str, Any]], str]:
    from detectors.age import bands_for, build_age_estimator
    from detectors.faces import build_detector

    bands = bands_for(audience)
    estimator = build_age_estimator(
        settings.age_estimator, settings.models_dir, bands, settings.threads
    )
    if "non-commercial" in estimator.info.licence:
        log(f"note: {estimator.info.model_id}: {estimator.info.licence}")
    if kind == "image":
        rgb = frames[0][1]
        det = build_detector(settings.face_detector, settings.models_dir, settings.threads)
        found = det.detect(rgb)
        faces = [
            e.to_dict() | {"t": None, "score": round(float(f.score), 4)}
            for f, e in zip(found, estimator.estimate(rgb, found), strict=True)
        ]
        return faces, estimator.info.model_id

    from detectors.faces.tracking import track_faces

    det = build_detector(
        settings.face_detector, settings.models_dir, settings.threads, for_video=True
    )
    by_t = {t: rgb for t, rgb in frames}
    tracks = track_faces(frames, det, embedder=None)
    faces = []
    for tr in tracks:
        samples = tr.samples
        step = max(1, len(samples) // AGE_SAMPLES_PER_TRACK)
        chosen = samples[::step][:AGE_SAMPLES_PER_TRACK]
        ests = [(s.t, estimator.estimate(by_t[s.t], [s.face])[0]) for s in chosen]
        ages = [e.age for _, e in ests]
        age = statistics.median(ages)
        # Spread across samples adds to the model's own; both are reported.
        sigma = max(statistics.median(e.sigma for _, e in ests), statistics.pstdev(ages))
        youngest_t, youngest = min(ests, key=lambda x: x[1].age)
        faces.append(
            {
                "age": round(age, 2),
                "sigma": round(sigma, 2),
                "band": bands.band(age, sigma),
                "track": tr.id,
                "start_s": round(tr.start_s, 3),
                "end_s": round(tr.end_s, 3),
                "t": round(youngest_t, 3),
                "box": youngest.to_dict()["box"],
                "youngest_sample_age": round(youngest.age, 2),
                "samples": [
                    {"t": round(t, 3), "age": round(e.age, 2), "sigma": round(e.sigma, 2)}
                    for t, e in ests
                ],
                "explanation": {
                    "model_id": estimator.info.model_id,
                    "method": "median of per-sample expected ages over the face track; band by thresholds",
                    "score": round(age, 2),
                    "threshold": bands.challenge_age,
                    "details": {"bands": bands.to_dict(), "samples": len(ests)},
                },
            }
        )
    return faces, estimator.info.model_id


@app.command("scan")
def scan_cmd(
    media: Path = typer.Argument(..., help="image or video"),
    bank: list[Path] = typer.Option(
        [], "--bank", help="exported bank file to match against (repeatable)"
    ),
    audience: str = AUDIENCE_OPTION,
    every: float = EVERY_OPTION,
    threshold: int | None = typer.Option(
        None, "--pdq-threshold", help="PDQ Hamming threshold (default 31)"
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="also match the hash banks stored in this data directory"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Estimated ages (risk bands), nudity per keyframe, and hash-bank matches."""

    def body() -> dict[str, Any]:
        from detectors.hashing import (
            DEFAULT_PDQ_THRESHOLD,
            BankMatcher,
            import_bank,
            pdq_hash,
            sha256_file,
        )
        from detectors.nudity import build_nudity_detector

        settings = get_settings()
        kind = _check_media_path(media)
        banks = [import_bank(p) for p in bank]  # invalid bank files fail before any decoding
        frames = _keyframes(media, kind, every, settings)
        faces, age_model = _age_faces(frames, kind, settings, audience)
        nude = build_nudity_detector(threads=settings.threads)
        nudity = [nude.detect(rgb, t=t).to_dict() for t, rgb in frames]
        matcher = BankMatcher(
            banks, threshold=DEFAULT_PDQ_THRESHOLD if threshold is None else threshold
        )
        digest = sha256_file(media)
        hashed = [(t, pdq_hash(rgb)) for t, rgb in frames]
        hash_matches = [m.to_dict() for m in matcher.match_media(digest, hashed)]
        banks_checked, entries_checked = len(banks), matcher.entry_count
        if data_dir is not None:
            counts: list[int] = []
            hash_matches += _stored_bank_matches(data_dir, digest, hashed, threshold, counts)
            banks_checked += counts[0]
            entries_checked += counts[1]
        return {
            "faces": faces,
            "nudity": nudity,
            "hash_matches": hash_matches,
            "banks_checked": banks_checked,
            "bank_entries_checked": entries_checked,
            "kind": kind,
            "keyframes": len(frames),
            "audience": audience,
            "models": {
                "age": age_model,
                "nudity": nude.info.model_id,
                "nudity_licence": nude.info.licence,
                "hash": "pdq-256",
            },
        }

    def human(d: dict[str, Any]) -> str:
        bands = [f["band"] for f in d["faces"]]
        top = max((n["score"] for n in d["nudity"]), default=0.0)
        return f"{len(bands)} face(s) {bands}; max nudity score {top:.2f}; {len(d['hash_matches'])} hash match(es)"

    emit(run_command(as_json, body), as_json, human)


def _stored_bank_matches(
    data_dir: Path, digest: str, hashed: list[Any], threshold: int | None, counts: list[int]
) -> list[dict[str, Any]]:
    """Matches against the data directory's banks (``pipeline.banks``); fills ``counts``."""
    from greenroom.cli.common import open_store, settings_for
    from greenroom.wiring import build_pipeline
    from pipeline.banks import BankService

    with open_store(data_dir) as store:
        ctx = build_pipeline(store, settings_for(data_dir))
        service = ctx.banks
        if threshold is not None:
            service = BankService(ctx.store, ctx.blobs, ctx.media_limits, threshold=threshold)
        hits = [
            h.to_dict() | {"kind": h.kind, "source": "data_dir"}
            for h in service.match(digest, hashed)
        ]
        counts[:] = [len(service.list_banks()), service.entry_count]
    return hits


@app.command("hash")
def hash_cmd(
    media: Path = typer.Argument(..., help="image or video"),
    every: float = EVERY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """sha256 and keyframe PDQ hashes (with PDQ quality) of a media file."""

    def body() -> dict[str, Any]:
        h = media_hashes(media, every)
        return {
            "kind": h["kind"],
            "sha256": h["sha256"],
            "pdq": [{"t": t, "hash": p.hex, "quality": p.quality} for t, p in h["pdq"]],
        }

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: f"sha256 {d['sha256']}, {len(d['pdq'])} PDQ hash(es)",
    )


@app.command("bank-add")
def bank_add_cmd(
    media: Path = typer.Argument(..., help="image or video whose hashes go into the bank"),
    bank_file: Path = typer.Option(
        ..., "--bank-file", help="bank file (JSONL); created when missing"
    ),
    bank_name: str | None = typer.Option(
        None, "--bank", help="bank name for a new file (default: file stem)"
    ),
    label: str = typer.Option(..., "--label", help="why these hashes are banked"),
    severity: str = typer.Option("high", "--severity", help="low | medium | high | critical"),
    clip_id: str | None = typer.Option(None, "--clip-id", help="source clip id"),
    added_by: str = typer.Option("cli", "--added-by"),
    every: float = EVERY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a media file's sha256 and keyframe PDQ hashes to a bank file."""

    def body() -> dict[str, Any]:
        from detectors.hashing import BankEntry, HashBank, export_bank, import_bank

        bank = (
            import_bank(bank_file)
            if bank_file.exists()
            else HashBank(name=bank_name or bank_file.stem)
        )
        h = media_hashes(media, every)
        added = int(bank.add(BankEntry(h["sha256"], "sha256", label, severity, clip_id, added_by)))
        skipped = 0
        for _, p in h["pdq"]:
            if bank.add_pdq(p, label, severity, clip_id, added_by):
                added += 1
            else:
                skipped += 1
        export_bank(bank, bank_file)
        return {
            "bank": bank.name,
            "file": str(bank_file),
            "added": added,
            "skipped": skipped,
            "entries": len(bank.entries),
        }

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: f"{d['added']} hash(es) added to {d['bank']} ({d['entries']} entries)",
    )


@app.command("bank-check")
def bank_check_cmd(
    bank_file: Path = typer.Argument(..., help="bank file to validate"), as_json: bool = JSON_OPTION
) -> None:
    """Validate a bank file; prints its name and counts per kind."""

    def body() -> dict[str, Any]:
        from detectors.hashing import import_bank

        bank = import_bank(bank_file)
        kinds: dict[str, int] = {}
        for e in bank.entries:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        return {"ok": True, "bank": bank.name, "entries": len(bank.entries), "kinds": kinds}

    emit(
        run_command(as_json, body),
        as_json,
        lambda d: f"{d['bank']}: {d['entries']} entries {d['kinds']}",
    )
