"""Sign generated media with a C2PA manifest that declares it AI-generated.

Every clip the generator produces is signed before it can be published: a
``c2pa.actions`` assertion with ``c2pa.created`` and the IPTC digital source
type ``trainedAlgorithmicMedia``, the generator and model that made it, the
policy decision that allowed it, and, for a remix, the parent clip as an
ingredient (the lineage a verifier shows). Signing is offline; a timestamp
authority is used only when one is configured.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_ASSERTION = "com.greenroom.generation"
GENERATOR_NAME = "greenroom"
GENERATOR_VERSION = "0.1.0"


class SigningError(ValueError):
    """Signing could not happen; the message is safe to show (no key material)."""


_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF8", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
)


def sniff_mime(head: bytes) -> str | None:
    """The media type from a file's first bytes, or None when unknown.

    The content decides, never the extension: an mp4 named ``.jpg`` is an mp4.
    """
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        if brand == b"avif":
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    return None


def _alg_for_key(key_pem: bytes) -> str:
    """The C2PA signing algorithm name for a PEM private key."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"signing key is not an unencrypted PEM private key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        alg = by_curve.get(key.curve.name)
        if alg is None:
            raise SigningError(f"EC curve {key.curve.name} is not allowed by C2PA")
        return alg
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise SigningError(f"unsupported signing key type {type(key).__name__}")


@dataclass(frozen=True)
class SigningIdentity:
    """A certificate chain (PEM, leaf first), its private key, and an optional TSA."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    alg: str
    tsa_url: str | None = None

    @classmethod
    def from_files(cls, cert: Path, key: Path, tsa_url: str | None = None) -> SigningIdentity:
        try:
            cert_pem = Path(cert).read_bytes()
            key_pem = Path(key).read_bytes()
        except OSError as exc:
            raise SigningError(
                f"cannot read signing {'certificate' if exc.filename == str(cert) else 'key'}"
                f" {exc.filename}: {exc.strerror}"
            ) from None
        if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
            raise SigningError(f"{cert} holds no PEM certificate")
        return cls(cert_pem=cert_pem, key_pem=key_pem, alg=_alg_for_key(key_pem), tsa_url=tsa_url)


@dataclass(frozen=True)
class GenerationInfo:
    """What the manifest says about how the clip was made."""

    model_id: str
    decision_id: str | None = None
    clip_id: str | None = None
    generator: str = GENERATOR_NAME
    generator_version: str = GENERATOR_VERSION
    title: str | None = None


@dataclass(frozen=True)
class Parent:
    """The clip a remix was made from: its media file and, if known, its clip id."""

    path: Path
    clip_id: str | None = None


@dataclass(frozen=True)
class SignResult:
    out: Path
    manifest_id: str
    mime: str
    alg: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "manifest_id": self.manifest_id,
            "mime": self.mime,
            "alg": self.alg,
        }


def build_manifest(info: GenerationInfo, parent: Parent | None) -> dict[str, Any]:
    """The manifest definition handed to ``c2pa.Builder`` (exposed for tests and review)."""
    agent = {"name": info.generator, "version": info.generator_version}
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "parameters": {"com.greenroom.model": info.model_id},
    }
    if info.decision_id is not None:
        created["parameters"]["com.greenroom.decision_id"] = info.decision_id
    generation: dict[str, Any] = {
        "model": info.model_id,
        "decision_id": info.decision_id,
        "clip_id": info.clip_id,
        "parent_clip_id": parent.clip_id if parent else None,
    }
    manifest: dict[str, Any] = {
        "claim_generator_info": [agent],
        "title": info.title or "greenroom generated clip",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [created]}},
            {"label": GENERATION_ASSERTION, "data": generation},
        ],
    }
    if parent is not None:
        # A remix is a new generation conditioned on the parent: the parent is
        # an input to the model (C2PA "inputTo"), and the action names it so a
        # verifier can walk the lineage.
        created["parameters"]["ingredientIds"] = ["parent"]
    return manifest


def sign_file(
    in_path: Path,
    out_path: Path,
    identity: SigningIdentity,
    info: GenerationInfo,
    parent: Parent | None = None,
) -> SignResult:
    """Sign ``in_path`` into ``out_path`` (which must differ) and return the manifest id."""
    import c2pa

    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise SigningError("output must be a different file from the input")
    try:
        data = in_path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read {in_path}: {exc.strerror}") from None
    if not data:
        raise SigningError(f"{in_path} is empty")
    mime = sniff_mime(data[:32])
    if mime is None or mime not in c2pa.Builder.get_supported_mime_types():
        raise SigningError(
            f"{in_path.name}: format {mime or 'unknown'} cannot carry a C2PA manifest"
        )

    manifest = build_manifest(info, parent)
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(identity.alg, identity.cert_pem, identity.key_pem, identity.tsa_url)
        )
    except c2pa.C2paError as exc:
        raise SigningError(f"signing certificate or key rejected: {exc}") from None
    try:
        with c2pa.Builder(manifest) as builder:
            if parent is not None:
                _add_parent(builder, parent)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            with open(out_path, "w+b") as dest:
                builder.sign(signer, mime, io.BytesIO(data), dest)
    except c2pa.C2paError as exc:
        out_path.unlink(missing_ok=True)
        raise SigningError(f"C2PA signing failed: {exc}") from None
    finally:
        signer.close()
    return SignResult(
        out=out_path, manifest_id=_active_label(out_path, mime), mime=mime, alg=identity.alg
    )


def _add_parent(builder: Any, parent: Parent) -> None:
    try:
        parent_bytes = Path(parent.path).read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read remix parent {parent.path}: {exc.strerror}") from None
    parent_mime = sniff_mime(parent_bytes[:32])
    if parent_mime is None:
        raise SigningError(f"remix parent {Path(parent.path).name} is not a recognised media file")
    ingredient: dict[str, Any] = {
        "title": Path(parent.path).name,
        "relationship": "inputTo",
        "label": "parent",
    }
    if parent.clip_id is not None:
        ingredient["metadata"] = {"com.greenroom.clip_id": parent.clip_id}
    builder.add_ingredient(json.dumps(ingredient), parent_mime, io.BytesIO(parent_bytes))


def _active_label(path: Path, mime: str) -> str:
    import c2pa

    with open(path, "rb") as fh, c2pa.Reader(mime, fh) as reader:
        label = json.loads(reader.json()).get("active_manifest")
    if not label:
        raise SigningError("signed file carries no active manifest")
    return str(label)
