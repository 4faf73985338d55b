"""Dev certificates → sign a generated mp4 → verify → tamper → verify; remix lineage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from detectors.provenance import verify
from generator.certs import DevCerts, create_dev_certs
from generator.signing import (
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationInfo,
    Parent,
    SigningError,
    SigningIdentity,
    SignResult,
    sign_file,
)


def test_dev_leaf_has_the_c2pa_profile(dev_certs: DevCerts) -> None:
    leaf, ca = x509.load_pem_x509_certificates(dev_certs.signer_cert.read_bytes())
    anchor = x509.load_pem_x509_certificate(dev_certs.trust_anchors.read_bytes())
    assert anchor == ca and leaf.issuer == ca.subject and leaf.subject != leaf.issuer
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in list(eku)
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    ca.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert oct(dev_certs.signer_key.stat().st_mode & 0o777) == "0o600"


def test_certs_dev_refuses_to_overwrite(dev_certs: DevCerts) -> None:
    with pytest.raises(ValueError, match="already exists"):
        create_dev_certs(dev_certs.ca_cert.parent)


def test_signed_clip_verifies_trusted_only_with_the_dev_anchor(
    signed_clip: SignResult, dev_anchors: str
) -> None:
    trusted = verify(signed_clip.out, dev_anchors)
    assert trusted.state == "trusted", trusted.reason
    assert (trusted.integrity, trusted.trust) == ("valid", "trusted")
    assert trusted.manifest_id == signed_clip.manifest_id
    assert trusted.ai_generated is True
    assert trusted.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert trusted.claim_generator and trusted.claim_generator.startswith("greenroom/")
    assert trusted.signer == "Greenroom Dev"
    assert trusted.generation == {
        "model": "tiny-t2v-random-weights",
        "decision_id": "dec-42",
        "clip_id": "clip-001",
        "parent_clip_id": None,
    }
    untrusted = verify(signed_clip.out)
    assert untrusted.state == "valid_untrusted"
    assert (untrusted.integrity, untrusted.trust) == ("valid", "untrusted")


def _flip_in_mdat(src: Path, dst: Path, count: int = 4) -> None:
    data = bytearray(src.read_bytes())
    at = data.find(b"mdat")
    assert at > 0
    for i in range(count):
        data[at + 200 + 37 * i] ^= 0xFF
    dst.write_bytes(bytes(data))


def test_flipped_media_bytes_are_invalid(
    signed_clip: SignResult, dev_anchors: str, tmp_path: Path
) -> None:
    tampered = tmp_path / "tampered.mp4"
    _flip_in_mdat(signed_clip.out, tampered)
    report = verify(tampered, dev_anchors)
    assert report.state == "invalid"
    assert report.integrity == "invalid" and report.trust == "trusted"
    assert "assertion.bmffHash.mismatch" in report.codes


def test_signing_an_image_and_a_remix_lineage(
    fixtures_dir: Path,
    signed_clip: SignResult,
    identity: SigningIdentity,
    dev_anchors: str,
    tmp_path: Path,
) -> None:
    remix = sign_file(
        fixtures_dir / "c2pa" / "assets" / "py_A.jpg",
        tmp_path / "remix.jpg",
        identity,
        GenerationInfo(model_id="m", clip_id="clip-002"),
        parent=Parent(signed_clip.out, clip_id="clip-001"),
    )
    report = verify(remix.out, dev_anchors)
    assert report.state == "trusted" and report.ai_generated is True
    (ing,) = report.ingredients
    assert ing["manifest_id"] == signed_clip.manifest_id
    assert ing["clip_id"] == "clip-001" and ing["ai_generated"] is True
    assert report.generation and report.generation["parent_clip_id"] == "clip-001"


def test_self_signed_leaf_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "self"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ident = SigningIdentity.from_files(tmp_path / "c.pem", tmp_path / "k.pem")
    src = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 10, 10)).save(src)
    with pytest.raises(SigningError, match="certificate"):
        sign_file(src, tmp_path / "out.png", ident, GenerationInfo(model_id="m"))
    assert not (tmp_path / "out.png").exists()


def test_signing_bad_inputs(
    tmp_path: Path, identity: SigningIdentity, dev_certs: DevCerts, clip_mp4: Path
) -> None:
    info = GenerationInfo(model_id="m")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    with pytest.raises(SigningError, match="cannot carry"):
        sign_file(text, tmp_path / "o.mp4", identity, info)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SigningError, match="empty"):
        sign_file(empty, tmp_path / "o.mp4", identity, info)
    with pytest.raises(SigningError, match="different file"):
        sign_file(clip_mp4, clip_mp4, identity, info)
    with pytest.raises(SigningError, match="not an unencrypted PEM"):
        SigningIdentity.from_files(dev_certs.signer_cert, dev_certs.signer_cert)
    with pytest.raises(SigningError, match="no PEM certificate"):
        SigningIdentity.from_files(dev_certs.signer_key, dev_certs.signer_key)
    with pytest.raises(SigningError, match="cannot read"):
        SigningIdentity.from_files(tmp_path / "missing.pem", dev_certs.signer_key)
