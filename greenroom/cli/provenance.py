"""``greenroom provenance``: verify Content Credentials, sign generated media, watermark it.

Trust anchors, the signing identity, the timestamp authority and remote
manifest fetching come from settings unless a flag overrides them. An optional
own-output fingerprint file (JSON Lines rows of ``detectors.fingerprint``)
lets ``verify`` say which of our clips a stripped upload is and lets ``sign``
record what it signed; ``verify --data-dir D`` looks the file up in the data
directory's own fingerprints (the clips the generate flow published).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import JSON_OPTION
from greenroom.cli.output import BadInput, emit, log, run_command
from greenroom.settings import Settings, get_settings
from pipeline.media import limits_from

app = typer.Typer(help="C2PA verification and signing, watermarking.", no_args_is_help=True)

FINGERPRINTS_OPTION = typer.Option(
    None, "--fingerprints", help="own-output fingerprint index (JSON Lines) to look up / add to"
)


def _frames(path: Path, settings: Settings) -> list[tuple[float, Any]]:
    """Keyframes for fingerprinting: every 0.5 s of a video, or the image itself."""
    from pipeline.media import iter_frames, load_image, sniff_kind

    limits = limits_from(settings.limits)
    kind = sniff_kind(path)
    if kind == "video":
        return [(f.t, f.rgb) for f in iter_frames(path, every_s=0.5, limits=limits)]
    if kind == "image":
        return [(0.0, load_image(path, limits))]
    return []


def _read_anchors(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read trust anchors {path}: {exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise BadInput(f"trust anchors file {path} holds no PEM certificate")
    return text


@app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="image or video to verify"),
    trust_anchors: Path | None = typer.Option(
        None,
        "--trust-anchors",
        help="PEM bundle of trusted roots (default: settings.trust_anchors; none = nothing trusted)",
    ),
    fetch_remote: bool | None = typer.Option(
        None,
        "--fetch-remote/--no-fetch-remote",
        help="fetch manifests referenced by URL (default: settings)",
    ),
    fingerprints: Path | None = FINGERPRINTS_OPTION,
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="look own_output up in this data directory's clip fingerprints (direct mode)",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Report integrity, trust, AI-generation claims and lineage of a file's C2PA manifest."""

    def body() -> dict[str, Any]:
        from detectors.provenance import verify

        settings = get_settings()
        if not file.exists():
            raise BadInput(f"no such file: {file}")
        if not file.is_file():
            raise BadInput(f"{file} is not a file")
        anchors = _read_anchors(
            trust_anchors if trust_anchors is not None else settings.trust_anchors
        )
        remote = settings.fetch_remote_manifests if fetch_remote is None else fetch_remote
        report = verify(
            file, anchors, fetch_remote=remote, max_bytes=settings.limits.max_upload_bytes
        )
        if fingerprints is not None:
            report = report.with_own_output(_lookup(file, fingerprints, settings))
        if data_dir is not None:
            report = report.with_own_output(_lookup_in_data_dir(file, data_dir, settings))
        return report.to_dict()

    emit(run_command(as_json, body), as_json, _human_report)


def _lookup(file: Path, fingerprints: Path, settings: Settings) -> Any:
    from detectors.base import DetectorError
    from detectors.fingerprint import OwnOutputIndex

    if not fingerprints.exists():
        raise BadInput(f"no fingerprint index at {fingerprints}")
    index = OwnOutputIndex.load_jsonl(fingerprints)
    try:
        frames = _frames(file, settings)
    except DetectorError as exc:
        # An undecodable file can still be matched by its sha256.
        log(f"own-output lookup: keyframes unavailable ({exc})")
        frames = []
    return index.lookup_media(frames, file)


def _lookup_in_data_dir(file: Path, data_dir: Path, settings: Settings) -> Any:
    """Own-output lookup against a data directory's ``clip_fingerprints`` (exit 3 if a server holds it)."""
    from detectors.base import DetectorError
    from greenroom.cli.common import open_store, settings_for
    from greenroom.wiring import build_pipeline

    dir_settings = settings_for(data_dir)
    try:
        frames = _frames(file, dir_settings)
    except DetectorError as exc:
        log(f"own-output lookup: keyframes unavailable ({exc})")
        frames = []
    with open_store(data_dir) as store:
        provenance = build_pipeline(store, dir_settings).provenance
        return provenance.lookup(frames, path=file)


def _human_report(d: dict[str, Any]) -> str:
    lines = [f"state: {d['state']}  (integrity {d['integrity']}, trust {d['trust']})"]
    if d.get("reason"):
        lines.append(f"reason: {d['reason']}")
    for key in ("codes", "ai_generated", "claim_generator", "signer", "own_output"):
        lines.append(f"{key}: {d.get(key)}")
    for ing in d.get("ingredients") or []:
        lines.append(
            f"ingredient: {ing.get('title')} ({ing.get('relationship')}) {ing.get('manifest_id')}"
        )
    return "\n".join(lines)


@app.command("sign")
def sign_cmd(
    in_path: Path = typer.Argument(..., metavar="IN", help="media to sign (mp4, jpeg, png, ...)"),
    out_path: Path = typer.Argument(..., metavar="OUT", help="where to write the signed copy"),
    cert: Path | None = typer.Option(
        None, "--cert", help="signing certificate chain PEM (default: settings.signing_cert)"
    ),
    key: Path | None = typer.Option(
        None, "--key", help="private key PEM (default: settings.signing_key)"
    ),
    model: str = typer.Option(
        "greenroom-generator", "--model", help="model id recorded in the manifest"
    ),
    decision_id: str | None = typer.Option(
        None, "--decision-id", help="policy decision that allowed it"
    ),
    clip_id: str | None = typer.Option(None, "--clip-id", help="Greenroom clip id"),
    parent: Path | None = typer.Option(
        None, "--parent", help="for a remix: the parent clip's file"
    ),
    parent_clip_id: str | None = typer.Option(
        None, "--parent-clip-id", help="for a remix: the parent's clip id"
    ),
    watermark: bool = typer.Option(
        False, "--watermark", help="burn the moving visible watermark in first (video)"
    ),
    fingerprints: Path | None = FINGERPRINTS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sign media with a C2PA manifest declaring it AI-generated (c2pa.created, trainedAlgorithmicMedia)."""

    def body() -> dict[str, Any]:
        import tempfile

        from generator.signing import GenerationInfo, Parent, SigningIdentity, sign_file

        settings = get_settings()
        cert_path = cert if cert is not None else settings.signing_cert
        key_path = key if key is not None else settings.signing_key
        if cert_path is None or key_path is None:
            raise BadInput(
                "no signing certificate configured: pass --cert and --key, or set "
                "GREENROOM_SIGNING_CERT / GREENROOM_SIGNING_KEY "
                "(for development, create them with 'greenroom certs dev --out DIR')"
            )
        if not in_path.is_file():
            raise BadInput(f"no such file: {in_path}")
        if parent is not None and not parent.is_file():
            raise BadInput(f"no such parent file: {parent}")
        identity = SigningIdentity.from_files(cert_path, key_path, tsa_url=settings.timestamp_url)
        info = GenerationInfo(
            model_id=model, decision_id=decision_id, clip_id=clip_id, title=out_path.name
        )
        parent_ref = Parent(parent, parent_clip_id) if parent is not None else None
        with tempfile.TemporaryDirectory(prefix="greenroom-sign-") as tmp:
            source = in_path
            if watermark:
                from generator.watermark import watermark_video
                from pipeline.media import sniff_kind

                if sniff_kind(in_path) != "video":
                    raise BadInput("--watermark applies to videos only")
                source = watermark_video(
                    in_path, Path(tmp) / "marked.mp4", threads=settings.threads
                )
            result = sign_file(source, out_path, identity, info, parent_ref)
        doc = result.to_dict() | {"watermarked": watermark}
        if fingerprints is not None:
            from detectors.fingerprint import OwnOutputIndex, fingerprint_clip

            index = (
                OwnOutputIndex.load_jsonl(fingerprints)
                if fingerprints.exists()
                else OwnOutputIndex()
            )
            fp_id = clip_id or result.manifest_id
            index.add(fingerprint_clip(fp_id, _frames(out_path, settings), path=out_path))
            index.save_jsonl(fingerprints)
            doc["fingerprint"] = {
                "clip_id": fp_id,
                "keyframes": sum(
                    1 for r in index.rows() if r["clip_id"] == fp_id and r["kind"] == "pdq"
                ),
            }
        return doc

    emit(run_command(as_json, body), as_json, lambda d: f"signed {d['out']} ({d['manifest_id']})")


@app.command("watermark")
def watermark_cmd(
    in_path: Path = typer.Argument(..., metavar="IN"),
    out_path: Path = typer.Argument(..., metavar="OUT"),
    text: str | None = typer.Option(None, "--text", help="watermark text"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Burn the moving visible watermark into a video (H.264 mp4 out, audio kept)."""

    def body() -> dict[str, Any]:
        from generator.watermark import WatermarkStyle, watermark_video

        if not in_path.is_file():
            raise BadInput(f"no such file: {in_path}")
        style = WatermarkStyle(text=text) if text else WatermarkStyle()
        watermark_video(in_path, out_path, style, threads=get_settings().threads)
        return {"out": str(out_path), "text": style.text}

    emit(run_command(as_json, body), as_json, lambda d: f"watermarked {d['out']}")
