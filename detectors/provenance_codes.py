"""Every C2PA / CAWG validation status code, sorted into integrity, trust and information.

The verifier keeps two questions apart: *is the file intact?* (integrity) and
*do we know who vouches for it?* (trust). A status code answers one of them, or
neither. This table says which, for every code the C2PA specification defines
and every code the bundled c2pa-rs (through c2pa-python) can emit:

``integrity``
    A failure that means the content, the manifest, a signature or a credential
    the signature depends on is not intact or cannot be validated. Any one of
    these makes a file ``invalid``.
``trust``
    A credential (the claim signer's, a time-stamp authority's, or the one
    behind a CAWG identity assertion) is not on a trust list, or its standing
    cannot be established. Never makes a file ``invalid``; caps it at
    ``valid_untrusted`` and names the untrusted *part*.
``informational``
    Worth recording, changes no verdict (OCSP skipped, deprecated algorithm,
    ingredient without a manifest, ...).
``success``
    A check passed.

Where the table and the library's own bucket (success / informational /
failure) disagree, the verifier resolves it conservatively (see
``detectors.provenance``); a code the table does not know is treated by its
bucket (a failure is an integrity failure) and reported as unknown.

Sources, all read for this table (the library exposes no list at run time):

- C2PA Technical Specification 2.2, §15.2.1 "Standard Status Codes", tables 2-4
  (success / informational / failure), ``c2pa-org/specifications``.
- c2pa-rs ``sdk/src/validation_results.rs`` module ``validation_codes`` (and its
  history in ``internal/status-tracker`` and ``internal/crypto``), plus the
  ad-hoc codes in ``sdk/src/identity/**`` (CAWG identity assertion, X.509 and
  identity-claims-aggregation verifiers) and ``sdk/src/validation_status.rs``.
- The codes present in the native library c2pa-python 0.38.1 ships
  (c2pa-rs 0.91.3), which adds C2PA 2.3/2.4 codes not in the 2.2 tables;
  ``tests/provenance/test_codes.py`` re-reads the installed library for codes
  missing here.

Judgement calls, stated once:

- The *claim signer's* credential being expired, revoked, malformed or used
  outside its validity is an integrity failure: the specification makes
  credential validation part of validating the claim signature (§15.7), so the
  manifest is not valid. ``trust`` reports ``credential_invalid`` for these.
- A *CAWG identity assertion* is scoped to itself: c2pa-rs tolerates every
  ``cawg.x509.*`` failure at manifest level. Codes saying the identity cannot
  be vouched for (untrusted, expired or out-of-profile credential, unsupported
  algorithm, unresolvable or untrusted issuer) are ``trust``. Codes saying the
  identity assertion itself is broken (its signature does not verify, it is
  malformed, or it is bound to other assertions than the claim holds) are
  ``integrity``: a forged identity claim inside a signed manifest is exactly
  what "invalid" must catch.
- Time-stamp problems (untrusted TSA, a token that does not match the claim,
  malformed, outside the TSA's validity) are ``trust`` in the ``timestamp``
  part: the signing time cannot be relied on, but no byte changed.
- OCSP "unknown" (the responder does not know the signer) is ``trust`` in the
  ``signer`` part: revocation standing is not established.
"""

from __future__ import annotations

from dataclasses import dataclass

INTEGRITY = "integrity"
TRUST = "trust"
INFORMATIONAL = "informational"
SUCCESS = "success"
KINDS = (INTEGRITY, TRUST, INFORMATIONAL, SUCCESS)

# Which part of the file a code is about. Trust findings are reported by part
# (``untrusted: ["identity_assertion"]``).
CONTENT = "content"  # hard bindings: the media bytes
MANIFEST = "manifest"  # claim and assertion structure
CLAIM_SIGNATURE = "claim_signature"
SIGNER = "signer"  # the claim signer's credential
TIMESTAMP = "timestamp"
IDENTITY = "identity_assertion"  # CAWG identity assertions
INGREDIENT = "ingredient"  # references to ingredient manifests
UNKNOWN = "unknown"
PARTS = (CONTENT, MANIFEST, CLAIM_SIGNATURE, SIGNER, TIMESTAMP, IDENTITY, INGREDIENT, UNKNOWN)

# Where a code is defined (for review; the verdict does not depend on it).
SPEC = "c2pa-2.2"  # C2PA 2.2 §15.2.1 tables 2-4
SPEC_NEW = "c2pa-2.3+"  # newer C2PA codes the bundled c2pa-rs emits
LIBRARY = "c2pa-rs"  # c2pa-rs codes outside the 2.2 tables
LEGACY = "c2pa-1.x"  # older spellings a library or an old validator may still report
CAWG = "cawg-identity"  # CAWG identity assertion spec (1.x) as c2pa-rs implements it


@dataclass(frozen=True)
class CodeClass:
    """How one status code bears on the verdict."""

    kind: str
    part: str
    source: str


def _c(kind: str, part: str, source: str) -> CodeClass:
    return CodeClass(kind, part, source)


CODES: dict[str, CodeClass] = {
    # -- success ---------------------------------------------------------------------
    "assertion.accessible": _c(SUCCESS, MANIFEST, SPEC),
    "assertion.bmffHash.match": _c(SUCCESS, CONTENT, SPEC),
    "assertion.boxesHash.match": _c(SUCCESS, CONTENT, SPEC),
    "assertion.collectionHash.match": _c(SUCCESS, CONTENT, SPEC),
    "assertion.dataHash.match": _c(SUCCESS, CONTENT, SPEC),
    "assertion.hashedURI.match": _c(SUCCESS, MANIFEST, SPEC),
    "assertion.multiAssetHash.match": _c(SUCCESS, CONTENT, SPEC),
    "claimSignature.insideValidity": _c(SUCCESS, CLAIM_SIGNATURE, SPEC),
    "claimSignature.validated": _c(SUCCESS, CLAIM_SIGNATURE, SPEC),
    "ingredient.claimSignature.validated": _c(SUCCESS, INGREDIENT, SPEC),
    "ingredient.manifest.validated": _c(SUCCESS, INGREDIENT, SPEC),
    "signingCredential.ocsp.notRevoked": _c(SUCCESS, SIGNER, SPEC),
    "signingCredential.trusted": _c(SUCCESS, SIGNER, SPEC),
    "timeStamp.trusted": _c(SUCCESS, TIMESTAMP, SPEC),
    "timeStamp.validated": _c(SUCCESS, TIMESTAMP, SPEC),
    "hashedURI.match": _c(SUCCESS, MANIFEST, SPEC_NEW),
    "claimSignature.trusted": _c(SUCCESS, SIGNER, LIBRARY),  # ingredient.rs, ad hoc
    "cawg.identity.well-formed": _c(SUCCESS, IDENTITY, CAWG),
    "cawg.x509.signature.validated": _c(SUCCESS, IDENTITY, CAWG),
    "cawg.x509.credential.trusted": _c(SUCCESS, IDENTITY, CAWG),
    "cawg.ica.credential_valid": _c(SUCCESS, IDENTITY, CAWG),
    "cawg.ica.time_stamp.validated": _c(SUCCESS, IDENTITY, CAWG),
    # -- informational ---------------------------------------------------------------
    "algorithm.deprecated": _c(INFORMATIONAL, CLAIM_SIGNATURE, SPEC),
    "ingredient.unknownProvenance": _c(INFORMATIONAL, INGREDIENT, SPEC),
    "signingCredential.ocsp.inaccessible": _c(INFORMATIONAL, SIGNER, SPEC),
    "signingCredential.ocsp.skipped": _c(INFORMATIONAL, SIGNER, SPEC),
    "timeOfSigning.insideValidity": _c(INFORMATIONAL, CLAIM_SIGNATURE, SPEC),
    "timeOfSigning.outsideValidity": _c(INFORMATIONAL, CLAIM_SIGNATURE, SPEC),
    "assertion.dataHash.additionalExclusionsPresent": _c(INFORMATIONAL, CONTENT, SPEC_NEW),
    "assertion.bmffHash.additionalExclusionsPresent": _c(INFORMATIONAL, CONTENT, SPEC_NEW),
    "assertion.boxesHash.additionalExclusionsPresent": _c(INFORMATIONAL, CONTENT, SPEC_NEW),
    "manifest.unknownProvenance": _c(INFORMATIONAL, MANIFEST, LIBRARY),
    "manifest.unreferenced": _c(INFORMATIONAL, MANIFEST, LIBRARY),
    # -- trust: never invalid, caps the file at valid_untrusted ---------------------
    "signingCredential.untrusted": _c(TRUST, SIGNER, SPEC),
    "signingCredential.ocsp.unknown": _c(TRUST, SIGNER, SPEC),
    "timeStamp.untrusted": _c(TRUST, TIMESTAMP, SPEC),
    "timeStamp.mismatch": _c(TRUST, TIMESTAMP, SPEC),
    "timeStamp.malformed": _c(TRUST, TIMESTAMP, SPEC),
    "timeStamp.outsideValidity": _c(TRUST, TIMESTAMP, SPEC),
    "cawg.x509.credential.untrusted": _c(TRUST, IDENTITY, CAWG),
    "cawg.x509.credential.invalid": _c(TRUST, IDENTITY, CAWG),
    "cawg.x509.signature.outside_validity": _c(TRUST, IDENTITY, CAWG),
    "cawg.x509.algorithm.unsupported": _c(TRUST, IDENTITY, CAWG),
    "cawg.identity.sig_type.unknown": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.untrusted_issuer": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.invalid_issuer": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.did_unavailable": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.invalid_did_document": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.invalid_alg": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.valid_from.missing": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.valid_from.invalid": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.valid_until.invalid": _c(TRUST, IDENTITY, CAWG),
    "cawg.ica.time_stamp.invalid": _c(TRUST, IDENTITY, CAWG),
    # -- integrity: the file is invalid ----------------------------------------------
    # the media bytes against the hard bindings
    "assertion.bmffHash.mismatch": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.boxesHash.mismatch": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.boxesHash.unknownBox": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.collectionHash.incorrectFileCount": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.collectionHash.invalidURI": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.collectionHash.mismatch": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.dataHash.mismatch": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.multiAssetHash.missingPart": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.multiAssetHash.mismatch": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.multipleHardBindings": _c(INTEGRITY, CONTENT, SPEC),
    "claim.hardBindings.missing": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.dataHash.redacted": _c(INTEGRITY, CONTENT, SPEC),
    "assertion.hardBinding.redacted": _c(INTEGRITY, CONTENT, SPEC_NEW),
    "assertion.cloud-data.hardBinding": _c(INTEGRITY, CONTENT, SPEC),
    # the manifest's structure and its hashed references
    "algorithm.unsupported": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.action.ingredientMismatch": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.action.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.action.redacted": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.action.redactionMismatch": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.action.softBindingMissing": _c(INTEGRITY, MANIFEST, SPEC_NEW),
    "assertion.bmffHash.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.boxesHash.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.cbor.invalid": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.cloud-data.actions": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.cloud-data.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.collectionHash.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.dataHash.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.external-reference.malformed": _c(INTEGRITY, MANIFEST, SPEC_NEW),
    "assertion.hashedURI.mismatch": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.inaccessible": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.ingredient.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.json.invalid": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.metadata.disallowed": _c(INTEGRITY, MANIFEST, LIBRARY),
    "assertion.missing": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.multiAssetHash.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.notRedacted": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.outsideManifest": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.required.missing": _c(INTEGRITY, MANIFEST, LIBRARY),
    "assertion.selfRedacted": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.timestamp.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "assertion.undeclared": _c(INTEGRITY, MANIFEST, SPEC),
    "claim.cbor.invalid": _c(INTEGRITY, MANIFEST, SPEC),
    "claim.malformed": _c(INTEGRITY, MANIFEST, SPEC),
    "claim.missing": _c(INTEGRITY, MANIFEST, SPEC),
    "claim.multiple": _c(INTEGRITY, MANIFEST, SPEC),
    "claim.required.missing": _c(INTEGRITY, MANIFEST, LIBRARY),
    "general.error": _c(INTEGRITY, MANIFEST, SPEC),
    "hashedURI.mismatch": _c(INTEGRITY, MANIFEST, SPEC),
    "hashedURI.missing": _c(INTEGRITY, MANIFEST, SPEC),
    "manifest.compressed.invalid": _c(INTEGRITY, MANIFEST, SPEC),
    "manifest.inaccessible": _c(INTEGRITY, MANIFEST, SPEC),
    "manifest.multipleParents": _c(INTEGRITY, MANIFEST, SPEC),
    "manifest.timestamp.invalid": _c(INTEGRITY, MANIFEST, SPEC),
    "manifest.timestamp.wrongParents": _c(INTEGRITY, MANIFEST, SPEC),
    "manifest.update.invalid": _c(INTEGRITY, MANIFEST, SPEC),
    "manifest.update.wrongParents": _c(INTEGRITY, MANIFEST, SPEC),
    "com.adobe.prerelease": _c(INTEGRITY, MANIFEST, LIBRARY),  # unverifiable draft format
    # the claim signature and the credential it rests on
    "claimSignature.mismatch": _c(INTEGRITY, CLAIM_SIGNATURE, SPEC),
    "claimSignature.missing": _c(INTEGRITY, CLAIM_SIGNATURE, SPEC),
    "claimSignature.outsideValidity": _c(INTEGRITY, SIGNER, SPEC),
    "signingCredential.invalid": _c(INTEGRITY, SIGNER, SPEC),
    "signingCredential.ocsp.revoked": _c(INTEGRITY, SIGNER, SPEC),
    "signingCredential.expired": _c(INTEGRITY, SIGNER, LIBRARY),
    # ingredient manifests this one references
    "ingredient.claimSignature.mismatch": _c(INTEGRITY, INGREDIENT, SPEC),
    "ingredient.claimSignature.missing": _c(INTEGRITY, INGREDIENT, SPEC),
    "ingredient.hashedURI.mismatch": _c(INTEGRITY, INGREDIENT, LIBRARY),
    "ingredient.manifest.mismatch": _c(INTEGRITY, INGREDIENT, SPEC),
    "ingredient.manifest.missing": _c(INTEGRITY, INGREDIENT, SPEC),
    # a CAWG identity assertion that is itself broken or forged
    "cawg.x509.signature.mismatch": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.identity.cbor.invalid": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.identity.pad.invalid": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.identity.assertion.mismatch": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.identity.assertion.duplicate": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.identity.hard_binding_missing": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.ica.invalid_cose_sign1": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.ica.invalid_content_type": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.ica.invalid_verifiable_credential": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.ica.signature_mismatch": _c(INTEGRITY, IDENTITY, CAWG),
    "cawg.ica.signer_payload.mismatch": _c(INTEGRITY, IDENTITY, CAWG),
    # -- older spellings ---------------------------------------------------------------
    "signingCredential.revoked": _c(INTEGRITY, SIGNER, LEGACY),
    "assertion.clouddata.actions": _c(INTEGRITY, MANIFEST, LEGACY),
    "assertion.clouddata.hardBinding": _c(INTEGRITY, CONTENT, LEGACY),
    "com.adobe.assertion.malformed": _c(INTEGRITY, MANIFEST, LEGACY),
    "com.adobe.other": _c(INTEGRITY, MANIFEST, LEGACY),
}

# A code the library reports against a CAWG identity assertion is about that
# assertion. c2pa-rs before the CAWG identity 1.3 codes (contentauth/c2pa-rs
# #2516) reported the identity credential with the claim signer's spellings;
# they are read as the CAWG codes that replaced them, so an identity credential
# nobody lists reads as an untrusted identity, never as an untrusted signer.
IDENTITY_URL_MARKERS = ("/c2pa.assertions/cawg.identity",)
IDENTITY_REMAP = {
    "algorithm.unsupported": "cawg.x509.algorithm.unsupported",
    "signingCredential.trusted": "cawg.x509.credential.trusted",
    "signingCredential.untrusted": "cawg.x509.credential.untrusted",
    "signingCredential.invalid": "cawg.x509.credential.invalid",
    "signingCredential.expired": "cawg.x509.signature.outside_validity",
    "claimSignature.mismatch": "cawg.x509.signature.mismatch",
}

# The library's buckets, as they appear in validation results.
BUCKETS = ("success", "informational", "failure")


def classify(code: str) -> CodeClass | None:
    """The table entry for ``code``, or ``None`` when the table does not know it."""
    return CODES.get(code)


def classify_reported(code: str, bucket: str, url: str | None = None) -> tuple[CodeClass, bool]:
    """How a code the library reported bears on the verdict, and whether the table knew it.

    The table decides the kind of problem; the library's bucket decides whether
    there is a problem at all:

    - a ``success`` entry never counts against a file;
    - a ``failure`` or ``informational`` entry counts as the table says, except
      that a *failure* the table calls success or informational is taken as an
      integrity failure (the library saw a problem the table did not expect);
    - an unknown code counts by its bucket: a failure (or any bucket other than
      success and informational) is an integrity failure, the conservative
      reading; an informational one stays informational.
    """
    if url and any(marker in url for marker in IDENTITY_URL_MARKERS):
        code = IDENTITY_REMAP.get(code, code)
    known = CODES.get(code)
    if known is None:
        kind = {"success": SUCCESS, "informational": INFORMATIONAL}.get(bucket, INTEGRITY)
        return CodeClass(kind, UNKNOWN, ""), False
    if bucket == "success":
        return CodeClass(SUCCESS, known.part, known.source), True
    if bucket != "informational" and known.kind in (SUCCESS, INFORMATIONAL):
        return CodeClass(INTEGRITY, known.part, known.source), True
    return known, True


def codes_of(kind: str) -> list[str]:
    """Every tabled code of one kind, sorted (for documentation and tests)."""
    return sorted(c for c, info in CODES.items() if info.kind == kind)
