"""Every validation status code is classified: integrity, trust, informational or success.

The lists below are transcribed from their sources (never from the table under
test), so a code the table misses fails here:

- C2PA Technical Specification 2.2, §15.2.1, tables 2-4 (``c2pa-org/specifications``).
- c2pa-rs ``sdk/src/validation_results.rs`` ``validation_codes`` (commit 24d17555beaf,
  0.91.0-dev) with the bucket its ``log_kind`` gives each code, its older spellings
  (``internal/status-tracker``), and the ad-hoc CAWG codes in ``sdk/src/identity``.
- The native library installed with c2pa-python, read byte by byte: c2pa-python
  exposes no list of codes at run time, so the strings in the library are the
  closest thing to "every code it can emit".
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from detectors import provenance_codes as pc

SPEC_2_2_SUCCESS = [
    "assertion.accessible", "assertion.bmffHash.match", "assertion.boxesHash.match",
    "assertion.collectionHash.match", "assertion.dataHash.match", "assertion.hashedURI.match",
    "assertion.multiAssetHash.match", "claimSignature.insideValidity", "claimSignature.validated",
    "ingredient.claimSignature.validated", "ingredient.manifest.validated",
    "signingCredential.ocsp.notRevoked", "signingCredential.trusted", "timeStamp.trusted",
    "timeStamp.validated",
]  # fmt: skip
SPEC_2_2_INFORMATIONAL = [
    "algorithm.deprecated", "ingredient.unknownProvenance", "signingCredential.ocsp.inaccessible",
    "signingCredential.ocsp.skipped", "timeOfSigning.insideValidity",
    "timeOfSigning.outsideValidity", "timeStamp.malformed", "timeStamp.mismatch",
    "timeStamp.outsideValidity", "timeStamp.untrusted",
]  # fmt: skip
SPEC_2_2_FAILURE = [
    "algorithm.unsupported", "assertion.action.ingredientMismatch", "assertion.action.malformed",
    "assertion.action.redacted", "assertion.action.redactionMismatch",
    "assertion.bmffHash.malformed", "assertion.bmffHash.mismatch", "assertion.boxesHash.malformed",
    "assertion.boxesHash.mismatch", "assertion.boxesHash.unknownBox",
    "assertion.cloud-data.actions", "assertion.cloud-data.hardBinding",
    "assertion.cloud-data.malformed", "assertion.cbor.invalid",
    "assertion.collectionHash.incorrectFileCount", "assertion.collectionHash.invalidURI",
    "assertion.collectionHash.malformed", "assertion.collectionHash.mismatch",
    "assertion.dataHash.malformed", "assertion.dataHash.mismatch", "assertion.dataHash.redacted",
    "assertion.hashedURI.mismatch", "assertion.inaccessible", "assertion.ingredient.malformed",
    "assertion.json.invalid", "assertion.missing", "assertion.multiAssetHash.malformed",
    "assertion.multiAssetHash.missingPart", "assertion.multiAssetHash.mismatch",
    "assertion.multipleHardBindings", "assertion.notRedacted", "assertion.outsideManifest",
    "assertion.selfRedacted", "assertion.timestamp.malformed", "assertion.undeclared",
    "claim.cbor.invalid", "claim.hardBindings.missing", "claim.malformed", "claim.missing",
    "claim.multiple", "claimSignature.missing", "claimSignature.mismatch",
    "claimSignature.outsideValidity", "general.error", "hashedURI.missing", "hashedURI.mismatch",
    "ingredient.claimSignature.missing", "ingredient.claimSignature.mismatch",
    "ingredient.manifest.missing", "ingredient.manifest.mismatch", "manifest.compressed.invalid",
    "manifest.inaccessible", "manifest.multipleParents", "manifest.timestamp.invalid",
    "manifest.timestamp.wrongParents", "manifest.update.invalid", "manifest.update.wrongParents",
    "signingCredential.invalid", "signingCredential.ocsp.revoked", "signingCredential.ocsp.unknown",
    "signingCredential.untrusted",
]  # fmt: skip

# c2pa-rs validation_codes, with validation_codes::log_kind's bucket for each.
C2PA_RS_SUCCESS = [
    "claimSignature.validated", "claimSignature.insideValidity", "signingCredential.trusted",
    "signingCredential.ocsp.notRevoked", "timeStamp.trusted", "timeStamp.validated",
    "assertion.hashedURI.match", "assertion.dataHash.match", "assertion.bmffHash.match",
    "assertion.accessible", "assertion.boxesHash.match", "assertion.collectionHash.match",
    "ingredient.manifest.validated", "ingredient.manifest.missing",
    "ingredient.claimSignature.validated", "cawg.x509.credential.trusted",
    "cawg.x509.signature.validated",
]  # fmt: skip
C2PA_RS_INFORMATIONAL = [
    "signingCredential.ocsp.skipped", "signingCredential.ocsp.inaccessible",
    "signingCredential.ocsp.unknown", "timeStamp.untrusted", "timeStamp.outsideValidity",
    "timeStamp.mismatch", "timeStamp.malformed", "manifest.unknownProvenance",
    "algorithm.deprecated", "timeOfSigning.insideValidity", "ingredient.unknownProvenance",
    "assertion.dataHash.additionalExclusionsPresent", "cawg.ica.untrusted_issuer",
    # declared among the informational codes, missing from log_kind; nothing logs it
    "manifest.unreferenced",
]  # fmt: skip
C2PA_RS_FAILURE = [
    "claim.malformed", "claim.missing", "claim.multiple",
    "claim.hardBindings.missing", "assertion.multipleHardBindings", "claim.required.missing",
    "claim.cbor.invalid", "ingredient.hashedURI.mismatch", "claimSignature.missing",
    "claimSignature.mismatch", "manifest.inaccessible", "manifest.multipleParents",
    "manifest.update.invalid", "manifest.update.wrongParents", "signingCredential.untrusted",
    "cawg.x509.credential.untrusted", "cawg.x509.credential.invalid",
    "cawg.x509.signature.mismatch", "cawg.x509.algorithm.unsupported",
    "cawg.x509.signature.outside_validity", "signingCredential.invalid",
    "signingCredential.ocsp.revoked", "signingCredential.expired", "assertion.hashedURI.mismatch",
    "assertion.missing", "assertion.undeclared", "assertion.inaccessible", "assertion.notRedacted",
    "assertion.selfRedacted", "assertion.required.missing", "assertion.json.invalid",
    "assertion.cbor.invalid", "assertion.action.ingredientMismatch", "assertion.action.redacted",
    "assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch",
    "assertion.boxesHash.unknownBox", "assertion.cloud-data.hardBinding",
    "assertion.cloud-data.actions", "algorithm.unsupported", "general.error",
    "claimSignature.outsideValidity", "manifest.timestamp.invalid",
    "manifest.timestamp.wrongParents", "manifest.compressed.invalid", "assertion.outsideManifest",
    "assertion.action.malformed", "assertion.action.redactionMismatch",
    "assertion.dataHash.malformed", "assertion.dataHash.redacted", "assertion.bmffHash.malformed",
    "assertion.boxesHash.malformed", "assertion.cloud-data.malformed",
    "assertion.collectionHash.mismatch", "assertion.collectionHash.incorrectFileCount",
    "assertion.collectionHash.invalidURI", "assertion.collectionHash.malformed",
    "assertion.ingredient.malformed", "assertion.metadata.disallowed",
    "ingredient.manifest.mismatch", "ingredient.claimSignature.missing",
    "ingredient.claimSignature.mismatch", "hashedURI.missing", "hashedURI.mismatch",
    "assertion.timestamp.malformed",
    # validation_status.rs: an error the library maps to a code of its own
    "com.adobe.prerelease",
]  # fmt: skip
# Logged ad hoc (string literals) in sdk/src/identity/** and sdk/src/assertions/ingredient.rs.
C2PA_RS_AD_HOC = [
    "claimSignature.trusted", "cawg.identity.well-formed", "cawg.identity.cbor.invalid",
    "cawg.identity.pad.invalid", "cawg.identity.assertion.mismatch",
    "cawg.identity.assertion.duplicate", "cawg.identity.hard_binding_missing",
    "cawg.identity.sig_type.unknown", "cawg.ica.credential_valid", "cawg.ica.invalid_cose_sign1",
    "cawg.ica.invalid_alg", "cawg.ica.invalid_content_type",
    "cawg.ica.invalid_verifiable_credential", "cawg.ica.untrusted_issuer",
    "cawg.ica.invalid_issuer", "cawg.ica.did_unavailable", "cawg.ica.invalid_did_document",
    "cawg.ica.signature_mismatch", "cawg.ica.time_stamp.validated", "cawg.ica.time_stamp.invalid",
    "cawg.ica.valid_from.missing", "cawg.ica.valid_from.invalid", "cawg.ica.valid_until.invalid",
    "cawg.ica.signer_payload.mismatch",
]  # fmt: skip
# Older spellings from c2pa-rs's history (a file may be judged by an old validator's results).
C2PA_RS_LEGACY = [
    "signingCredential.revoked", "assertion.clouddata.actions", "assertion.clouddata.hardBinding",
    "com.adobe.assertion.malformed", "com.adobe.other",
]  # fmt: skip

ALL_LISTED = sorted(
    set(SPEC_2_2_SUCCESS + SPEC_2_2_INFORMATIONAL + SPEC_2_2_FAILURE)
    | set(C2PA_RS_SUCCESS + C2PA_RS_INFORMATIONAL + C2PA_RS_FAILURE)
    | set(C2PA_RS_AD_HOC + C2PA_RS_LEGACY)
)

# The codes that only ever cap a file at valid_untrusted, by the part they name.
# Changing this set changes what "invalid" means: do it deliberately.
EXPECTED_TRUST = {
    "signingCredential.untrusted": pc.SIGNER,
    "signingCredential.ocsp.unknown": pc.SIGNER,
    "timeStamp.untrusted": pc.TIMESTAMP,
    "timeStamp.mismatch": pc.TIMESTAMP,
    "timeStamp.malformed": pc.TIMESTAMP,
    "timeStamp.outsideValidity": pc.TIMESTAMP,
    "cawg.x509.credential.untrusted": pc.IDENTITY,
    "cawg.x509.credential.invalid": pc.IDENTITY,
    "cawg.x509.signature.outside_validity": pc.IDENTITY,
    "cawg.x509.algorithm.unsupported": pc.IDENTITY,
    "cawg.identity.sig_type.unknown": pc.IDENTITY,
    "cawg.ica.untrusted_issuer": pc.IDENTITY,
    "cawg.ica.invalid_issuer": pc.IDENTITY,
    "cawg.ica.did_unavailable": pc.IDENTITY,
    "cawg.ica.invalid_did_document": pc.IDENTITY,
    "cawg.ica.invalid_alg": pc.IDENTITY,
    "cawg.ica.valid_from.missing": pc.IDENTITY,
    "cawg.ica.valid_from.invalid": pc.IDENTITY,
    "cawg.ica.valid_until.invalid": pc.IDENTITY,
    "cawg.ica.time_stamp.invalid": pc.IDENTITY,
}


def test_table_is_well_formed() -> None:
    for code, info in pc.CODES.items():
        assert info.kind in pc.KINDS, code
        assert info.part in pc.PARTS and info.part != pc.UNKNOWN, code
        assert re.fullmatch(r"[a-z][A-Za-z0-9_.\-]+", code), code
    assert set(pc.CODES) == {c for kind in pc.KINDS for c in pc.codes_of(kind)}


@pytest.mark.parametrize("code", ALL_LISTED)
def test_every_listed_code_is_classified(code: str) -> None:
    assert pc.classify(code) is not None, f"{code} is not in detectors/provenance_codes.CODES"


def test_spec_buckets_agree_with_the_table() -> None:
    for code in SPEC_2_2_SUCCESS:
        assert pc.CODES[code].kind == pc.SUCCESS, code
    for code in SPEC_2_2_INFORMATIONAL:
        assert pc.CODES[code].kind in (pc.INFORMATIONAL, pc.TRUST), code
    for code in SPEC_2_2_FAILURE:
        assert pc.CODES[code].kind in (pc.INTEGRITY, pc.TRUST), code


def test_library_buckets_agree_with_the_table() -> None:
    # c2pa-rs files ingredient.manifest.missing as a success; the specification
    # calls it a failure and the table follows the specification (a success entry
    # never counts against a file, so the library's filing cannot hurt).
    for code in C2PA_RS_SUCCESS:
        expected = pc.INTEGRITY if code == "ingredient.manifest.missing" else pc.SUCCESS
        assert pc.CODES[code].kind == expected, code
    for code in C2PA_RS_INFORMATIONAL:
        assert pc.CODES[code].kind in (pc.INFORMATIONAL, pc.TRUST), code
    for code in C2PA_RS_FAILURE:
        assert pc.CODES[code].kind in (pc.INTEGRITY, pc.TRUST), code


def test_trust_codes_are_exactly_the_expected_ones() -> None:
    trust = {c: info.part for c, info in pc.CODES.items() if info.kind == pc.TRUST}
    assert trust == EXPECTED_TRUST


def test_credential_failures_of_the_signer_are_integrity() -> None:
    for code in (
        "signingCredential.invalid", "signingCredential.expired", "signingCredential.ocsp.revoked",
        "signingCredential.revoked", "claimSignature.outsideValidity",
    ):  # fmt: skip
        assert pc.CODES[code] == pc.CodeClass(pc.INTEGRITY, pc.SIGNER, pc.CODES[code].source)


def test_reported_codes_are_read_conservatively() -> None:
    trust = pc.classify_reported("timeStamp.untrusted", "informational")
    assert trust == (pc.CODES["timeStamp.untrusted"], True)
    # A success entry never counts, whatever its code.
    assert pc.classify_reported("assertion.dataHash.mismatch", "success")[0].kind == pc.SUCCESS
    # A failure the table calls informational is an integrity failure.
    assert pc.classify_reported("algorithm.deprecated", "failure")[0].kind == pc.INTEGRITY
    # Unknown codes count by their bucket, and say they are unknown.
    assert pc.classify_reported("x.new.code", "failure") == (
        pc.CodeClass(pc.INTEGRITY, pc.UNKNOWN, ""),
        False,
    )
    assert pc.classify_reported("x.new.code", "informational")[0].kind == pc.INFORMATIONAL
    assert pc.classify_reported("x.new.code", "success")[0].kind == pc.SUCCESS
    # The claim signer's spellings, reported against an identity assertion, are
    # read as the CAWG codes that replaced them.
    url = "self#jumbf=/c2pa/urn:c2pa:x/c2pa.assertions/cawg.identity"
    assert pc.classify_reported("signingCredential.untrusted", "failure", url) == (
        pc.CODES["cawg.x509.credential.untrusted"],
        True,
    )
    assert pc.classify_reported("signingCredential.expired", "failure", url)[0].kind == pc.TRUST
    assert (
        pc.classify_reported("claimSignature.mismatch", "failure", url)[0]
        == (pc.CODES["cawg.x509.signature.mismatch"])
    )


# -- the installed native library -----------------------------------------------------

_FAMILIES = (
    "signingCredential.", "timeStamp.", "timeOfSigning.", "claimSignature.", "claim.",
    "assertion.", "ingredient.", "manifest.", "algorithm.", "general.", "hashedURI.",
    "cawg.x509.", "cawg.identity.", "cawg.ica.", "com.adobe.",
)  # fmt: skip
# Strings in those families that are not status codes: source file names,
# assertion and format labels, a signature type.
_NOT_CODES = {
    "algorithm.rs", "assertion.rs", "claim.rs", "claim.v2", "ingredient.rs", "manifest.rs",
    "manifest.json", "cawg.x509.cose", "com.adobe.xmp", "assertion.metadata",
}  # fmt: skip


def _native_library() -> Path | None:
    import c2pa

    libs = Path(c2pa.__file__).parent / "libs"
    found = sorted(libs.glob("libc2pa_c.so*")) if libs.is_dir() else []
    return found[0] if found else None


def _rodata(path: Path) -> bytes | None:
    """The ``.rodata`` section of a little-endian ELF64 file (where string literals live)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    names_off, names_size = sections[shstrndx][4], sections[shstrndx][5]
    names = data[names_off : names_off + names_size]
    for name, _type, _flags, _addr, offset, size, *_ in sections:
        if names[name : names.index(b"\0", name)] == b".rodata":
            return data[offset : offset + size]
    return None


def unexplained_code_strings(text: str, codes: set[str]) -> list[str]:
    """Strings in ``text`` that look like status codes no entry of ``codes`` accounts for.

    Rust lays string literals end to end with no terminator, and compiles
    comparisons and copies of long literals into 16-byte loads (the first and the
    last 16 bytes), so a code shows up whole, glued to its neighbour, or as
    16-byte pieces. An occurrence of a code family is accounted for when it lies
    inside a known code, starts with one, is a 16-byte piece of one followed by
    unrelated bytes, is a bare family prefix, or is a known code cut short by a
    non-letter. Whatever is left is a code the table does not know.
    """
    known = sorted(codes | _NOT_CODES, key=len, reverse=True)
    covered = bytearray(len(text))
    for k in known:
        for m in re.finditer(re.escape(k), text):
            covered[m.start() : m.end()] = b"\x01" * len(k)
    letter = re.compile(r"[A-Za-z_.\-]")
    left = set()
    for m in re.finditer("|".join(re.escape(f) for f in _FAMILIES), text):
        p, tail = m.start(), text[m.start() : m.start() + 96]
        if covered[p] or tail.startswith(tuple(known)):
            continue
        chunk, after = tail[:16], tail[16:]
        heads = [k for k in known if len(k) > 16 and k[:16] == chunk]
        if (
            heads
            and after
            and (all(k[16] != after[0] for k in heads) or after.startswith(_FAMILIES))
        ):
            continue
        if any(len(k) > 16 and k[-16:] == chunk for k in known):
            continue
        if tail[len(m.group()) :].startswith(_FAMILIES):
            continue
        cut = max(
            (n for n in range(len(m.group()), len(tail) + 1) if any(k.startswith(tail[:n]) for k in known)),
            default=0,
        )  # fmt: skip
        if cut and (cut == len(tail) or not letter.match(tail[cut])):
            continue
        left.add(re.match(r"[A-Za-z0-9_.\-]*", tail).group())  # type: ignore[union-attr]
    return sorted(left)


@pytest.fixture(scope="module")
def library_text() -> str:
    lib = _native_library()
    if lib is None:
        pytest.skip("no libc2pa_c shared library next to the c2pa package")
    rodata = _rodata(lib)
    if rodata is None:
        pytest.skip(f"{lib.name} is not a little-endian ELF64 file")
    return rodata.decode("latin-1")


def test_every_code_in_the_installed_library_is_classified(library_text: str) -> None:
    left = unexplained_code_strings(library_text, set(pc.CODES))
    assert not left, (
        "the installed c2pa library contains status codes detectors/provenance_codes.py "
        f"does not classify (classify them, or list non-codes in _NOT_CODES): {left}"
    )


def test_the_library_scan_notices_a_missing_code(library_text: str) -> None:
    # The scan is only worth something if dropping a code the library emits is noticed.
    for code in (
        "cawg.x509.credential.untrusted", "cawg.ica.untrusted_issuer", "timeStamp.untrusted",
        "signingCredential.ocsp.unknown", "assertion.action.softBindingMissing",
    ):  # fmt: skip
        assert code in library_text
        left = unexplained_code_strings(library_text, set(pc.CODES) - {code})
        assert any(s.startswith(code[:12]) for s in left), (code, left)
