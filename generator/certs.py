"""Create a local development CA and a C2PA signing certificate it issues.

Production signing identities come from settings; this is for laptops, tests
and demos. C2PA refuses self-signed signing certificates, so the leaf is
issued by a separate CA and carries what the C2PA trust model checks:
``CA:false``, ``digitalSignature`` key usage, an authority key identifier and
the ``emailProtection`` extended key usage. The CA certificate is written as
the trust-anchor PEM to configure on the verifying side.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME = "dev-ca.pem"
CA_KEY_NAME = "dev-ca.key"
SIGNER_CERT_NAME = "signer.pem"
SIGNER_KEY_NAME = "signer.key"
TRUST_ANCHORS_NAME = "trust-anchors.pem"


@dataclass(frozen=True)
class DevCerts:
    """Paths of the files ``create_dev_certs`` wrote."""

    ca_cert: Path
    ca_key: Path
    signer_cert: Path
    signer_key: Path
    trust_anchors: Path

    def to_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items()}


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Development only"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: the form c2pa's signer parses for every algorithm.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_dev_certs(
    out_dir: Path,
    org: str = "Greenroom Dev",
    valid_days: int = 365,
    overwrite: bool = False,
) -> DevCerts:
    """Write a dev CA (trust anchor) and an ES256 signing leaf + key into ``out_dir``."""
    out_dir = Path(out_dir)
    paths = DevCerts(
        ca_cert=out_dir / CA_CERT_NAME,
        ca_key=out_dir / CA_KEY_NAME,
        signer_cert=out_dir / SIGNER_CERT_NAME,
        signer_key=out_dir / SIGNER_KEY_NAME,
        trust_anchors=out_dir / TRUST_ANCHORS_NAME,
    )
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory")
    existing = [p for p in paths.__dict__.values() if p.exists()]
    if existing and not overwrite:
        raise ValueError(
            f"{existing[0]} already exists; choose another directory or pass overwrite"
        )
    out_dir.mkdir(parents=True, exist_ok=True)

    # Backdate a little so a clock skew between machines does not make a
    # fresh certificate "not yet valid".
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=valid_days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{org} Development Root CA", org)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{org} Signer", org))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    paths.ca_cert.write_bytes(ca_pem)
    paths.trust_anchors.write_bytes(ca_pem)
    # The signing chain is the leaf and the CA: verifiers without the anchor
    # can still show who issued it, and with the anchor the chain closes.
    paths.signer_cert.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    for key, path in ((ca_key, paths.ca_key), (leaf_key, paths.signer_key)):
        path.write_bytes(_key_pem(key))
        os.chmod(path, 0o600)
    return paths
