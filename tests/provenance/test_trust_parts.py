"""Issue 15: trust findings never make a file invalid, and the untrusted part is named.

The bug: a file whose signature and hashes are intact and whose signer is
trusted, but which carries a CAWG identity assertion whose credential is on no
trust list, was reported ``invalid``. The real file here is made with
c2pa-python's native library: the claim is signed by the dev signer, and an
X.509 identity assertion is signed by a second dev CA that nobody lists.
c2pa-python 0.38.1 has no Python API for identity signing, so the signer is
built through the library's exported ``c2pa_identity_signer_create`` (ctypes).

The state computation is also driven code by code over the real validation
results of that file, with each tabled code added the way the library reports it.
"""

from __future__ import annotations

import copy
import ctypes
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from detectors import provenance_codes as pc
from detectors.provenance import ProvenanceReport, _context, report_from_store, verify
from generator.certs import DevCerts, create_dev_certs

CLI_KEYS = {
    "state", "integrity", "trust", "codes", "ai_generated", "claim_generator",
    "signer", "ingredients", "own_output",
}  # fmt: skip
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _identity_signer(claim: DevCerts, identity: DevCerts) -> Any:
    """A c2pa.Signer that signs the claim with ``claim`` and adds an X.509 identity assertion."""
    import c2pa
    from c2pa.c2pa import C2paSigner, _lib

    if not hasattr(_lib, "c2pa_identity_signer_create"):
        pytest.skip("this c2pa library exports no c2pa_identity_signer_create")
    ptr_t = ctypes.POINTER(C2paSigner)
    _lib.c2pa_signer_from_info.restype = ptr_t
    create = _lib.c2pa_identity_signer_create
    create.restype = ptr_t
    create.argtypes = [
        ptr_t,
        ptr_t,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_char_p),
    ]

    def raw(certs: DevCerts) -> Any:
        info = c2pa.C2paSignerInfo(
            b"es256", certs.signer_cert.read_bytes(), certs.signer_key.read_bytes(), None
        )
        ptr = _lib.c2pa_signer_from_info(ctypes.byref(info))
        assert ptr, "c2pa_signer_from_info failed"
        return ptr

    def strings(items: list[str]) -> Any:
        return (ctypes.c_char_p * (len(items) + 1))(*[s.encode() for s in items], None)

    # Both signers are consumed by the call; the result is owned by the c2pa.Signer.
    ptr = create(raw(claim), raw(identity), strings(["c2pa.actions"]), strings([]))
    assert ptr, "c2pa_identity_signer_create failed"
    return c2pa.Signer(ptr)


def sign_with_identity(src: Path, out: Path, claim: DevCerts, identity: DevCerts) -> Path:
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "greenroom-test", "version": "1"}],
        "title": "identity assertion test",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": TRAINED}]},
            }
        ],
    }
    signer = _identity_signer(claim, identity)
    try:
        with c2pa.Builder(manifest) as builder, open(out, "w+b") as dest:
            builder.sign(signer, "image/png", io.BytesIO(src.read_bytes()), dest)
    finally:
        signer.close()
    return out


@pytest.fixture(scope="module")
def stranger_certs(tmp_path_factory: pytest.TempPathFactory) -> DevCerts:
    """A second development CA: its certificates chain to no configured anchor."""
    return create_dev_certs(tmp_path_factory.mktemp("identity") / "certs")


@pytest.fixture(scope="module")
def identity_png(
    fixtures_dir: Path, dev_certs: DevCerts, stranger_certs: DevCerts, work: Path
) -> Path:
    src = fixtures_dir / "c2pa" / "assets" / "libpng-test.png"
    return sign_with_identity(src, work / "identity.png", dev_certs, stranger_certs)


def _store(path: Path, anchors: str | None) -> dict[str, Any]:
    import c2pa

    with open(path, "rb") as fh, c2pa.Reader("image/png", fh, None, _context(anchors, False)) as r:
        doc: dict[str, Any] = json.loads(r.json())
    return doc


# -- the real file ------------------------------------------------------------------


def test_untrusted_identity_assertion_is_valid_untrusted_not_invalid(
    identity_png: Path, dev_anchors: str
) -> None:
    report = verify(identity_png, dev_anchors)
    # The library itself calls it intact; the signer chains to the dev anchor.
    assert report.library_state == "Valid"
    assert report.signer == "Greenroom Dev"
    assert (report.state, report.integrity, report.trust) == (
        "valid_untrusted",
        "valid",
        "untrusted",
    )
    assert report.untrusted == ["identity_assertion"]
    assert report.codes == ["cawg.x509.credential.untrusted"]
    assert report.trust_codes == ["cawg.x509.credential.untrusted"]
    assert report.integrity_codes == [] and report.unknown_codes == []
    assert report.reason and "identity_assertion" in report.reason
    assert report.ai_generated is True
    signal = report.to_signal()
    assert signal.data["state"] == "valid_untrusted"
    assert signal.data["untrusted"] == ["identity_assertion"]


def test_without_anchors_both_credentials_are_named(identity_png: Path) -> None:
    report = verify(identity_png)
    assert (report.state, report.integrity) == ("valid_untrusted", "valid")
    assert report.untrusted == ["signer", "identity_assertion"]
    assert "no trust anchors configured" in (report.reason or "")


def test_tampering_still_wins_over_trust(
    identity_png: Path, dev_anchors: str, tmp_path: Path
) -> None:
    data = bytearray(identity_png.read_bytes())
    at = data.rfind(b"IDAT")  # the image's own pixels (the manifest's thumbnail comes first)
    assert at > data.find(b"caBX") > 0
    data[at + 40] ^= 0xFF
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(bytes(data))
    report = verify(tampered, dev_anchors)
    assert (report.state, report.integrity) == ("invalid", "invalid")
    assert report.integrity_codes == ["assertion.dataHash.mismatch"]
    assert report.untrusted == ["identity_assertion"]
    assert "dataHash" in (report.reason or "")


def test_cli_keeps_its_keys_and_names_the_untrusted_part(
    identity_png: Path, dev_certs: DevCerts
) -> None:
    from greenroom.cli.main import app

    result = CliRunner().invoke(
        app,
        ["provenance", "verify", str(identity_png), "--trust-anchors", str(dev_certs.trust_anchors), "--json"],
    )  # fmt: skip
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert result.exit_code == 0 and len(lines) == 1, result.stdout
    doc = json.loads(lines[0])
    assert set(doc) >= CLI_KEYS | {"untrusted"}
    assert doc["state"] == "valid_untrusted" and doc["integrity"] == "valid"
    assert doc["untrusted"] == ["identity_assertion"]


def test_report_round_trips_through_its_dict(identity_png: Path, dev_anchors: str) -> None:
    # verify_isolated rebuilds the report from to_dict() in the parent process.
    report = verify(identity_png, dev_anchors)
    assert ProvenanceReport(**report.to_dict()) == report


# -- every code, over the real results structure --------------------------------------


@pytest.fixture(scope="module")
def trusted_store(identity_png: Path, dev_anchors: str) -> dict[str, Any]:
    """The real store with the identity credential trusted, as the library reports that.

    Moves the file's one failure (``cawg.x509.credential.untrusted``) to the
    success ``cawg.x509.credential.trusted`` and sets ``Trusted``: what c2pa-rs
    gives when the identity credential chains to a CAWG anchor.
    """
    store = _store(identity_png, dev_anchors)
    active = store["validation_results"]["activeManifest"]
    (failure,) = active["failure"]
    assert failure["code"] == "cawg.x509.credential.untrusted"
    active["failure"] = []
    active["success"].append({**failure, "code": "cawg.x509.credential.trusted"})
    store["validation_status"] = []
    store["validation_state"] = "Trusted"
    assert report_from_store(store, "image/png", True).state == "trusted"
    return store


def _urls(store: dict[str, Any]) -> dict[str, str]:
    label = store["active_manifest"]
    return {
        pc.IDENTITY: f"self#jumbf=/c2pa/{label}/c2pa.assertions/cawg.identity",
        "signature": f"self#jumbf=/c2pa/{label}/c2pa.signature",
    }


def _with(
    store: dict[str, Any],
    code: str,
    bucket: str,
    state: str | None = None,
    ingredient: bool = False,
) -> dict[str, Any]:
    out = copy.deepcopy(store)
    info = pc.CODES.get(code)
    urls = _urls(out)
    url = urls[pc.IDENTITY] if info and info.part == pc.IDENTITY else urls["signature"]
    entry = {"code": code, "url": url, "explanation": "added by the test"}
    vr = out["validation_results"]
    if ingredient:
        delta: dict[str, list[dict[str, str]]] = {"success": [], "informational": [], "failure": []}
        delta[bucket].append(entry)
        vr["ingredientDeltas"] = [
            {"ingredientAssertionURI": "self#jumbf=c2pa.assertions/c2pa.ingredient", "validationDeltas": delta}
        ]  # fmt: skip
    else:
        vr["activeManifest"].setdefault(bucket, []).append(entry)
    if bucket == "failure":
        out["validation_status"] = [*out.get("validation_status", []), entry]
    if state:
        out["validation_state"] = state
    return out


@pytest.mark.parametrize("code", sorted(pc.codes_of(pc.TRUST)))
def test_a_trust_code_never_makes_a_file_invalid(code: str, trusted_store: dict[str, Any]) -> None:
    part = pc.CODES[code].part
    for bucket in ("failure", "informational"):
        # c2pa-rs calls some of these "Invalid" (cawg.ica.* failures): it must not matter.
        for library_state in ("Valid", "Invalid"):
            report = report_from_store(
                _with(trusted_store, code, bucket, library_state), "image/png", True
            )
            assert (report.state, report.integrity) == ("valid_untrusted", "valid"), (
                bucket,
                report,
            )
            assert report.untrusted == [part] and report.trust_codes == [code]
            assert code in report.codes and report.integrity_codes == []
        delta = report_from_store(
            _with(trusted_store, code, bucket, "Valid", ingredient=True), "image/png", True
        )
        assert delta.state == "valid_untrusted" and delta.untrusted == [f"ingredient_{part}"]


@pytest.mark.parametrize("code", sorted(pc.codes_of(pc.INTEGRITY)))
def test_an_integrity_code_makes_a_file_invalid(code: str, trusted_store: dict[str, Any]) -> None:
    # Whatever the library's summary says (it tolerates some cawg.x509 failures).
    for library_state in ("Invalid", "Valid", "Trusted"):
        report = report_from_store(
            _with(trusted_store, code, "failure", library_state), "image/png", True
        )
        assert (report.state, report.integrity) == ("invalid", "invalid"), report
        assert report.integrity_codes == [code] and code in (report.reason or "")
        if pc.CODES[code].part == pc.SIGNER:
            assert report.trust == "credential_invalid"
    delta = report_from_store(
        _with(trusted_store, code, "failure", "Invalid", ingredient=True), "image/png", True
    )
    assert delta.state == "invalid"


@pytest.mark.parametrize("code", sorted(pc.codes_of(pc.INFORMATIONAL) + pc.codes_of(pc.SUCCESS)))
def test_information_and_success_change_nothing(code: str, trusted_store: dict[str, Any]) -> None:
    bucket = "success" if pc.CODES[code].kind == pc.SUCCESS else "informational"
    report = report_from_store(_with(trusted_store, code, bucket), "image/png", True)
    assert report.state == "trusted" and report.untrusted == [] and report.unknown_codes == []


def test_unknown_codes_are_conservative_and_reported(trusted_store: dict[str, Any]) -> None:
    failed = report_from_store(
        _with(trusted_store, "cawg.future.thing", "failure", "Invalid"), "image/png", True
    )
    assert failed.state == "invalid" and failed.unknown_codes == ["cawg.future.thing"]
    noted = report_from_store(
        _with(trusted_store, "cawg.future.note", "informational"), "image/png", True
    )
    assert noted.state == "trusted" and noted.unknown_codes == ["cawg.future.note"]
    assert noted.to_signal().explanation.details["unknown_codes"] == ["cawg.future.note"]


def test_library_invalid_stands_without_a_validated_claim_signature(
    trusted_store: dict[str, Any],
) -> None:
    store = _with(trusted_store, "cawg.ica.did_unavailable", "failure", "Invalid")
    assert report_from_store(store, "image/png", True).state == "valid_untrusted"
    active = store["validation_results"]["activeManifest"]
    active["success"] = [s for s in active["success"] if s["code"] != "claimSignature.validated"]
    report = report_from_store(store, "image/png", True)
    assert (report.state, report.integrity) == ("invalid", "invalid")
    assert "claim signature" in (report.reason or "")


def test_an_identity_credential_in_the_signers_spelling_is_still_the_identity(
    trusted_store: dict[str, Any],
) -> None:
    # c2pa-rs before the CAWG 1.3 codes reported the identity credential as
    # signingCredential.untrusted against the cawg.identity assertion.
    store = copy.deepcopy(trusted_store)
    entry = {"code": "signingCredential.untrusted", "url": _urls(store)[pc.IDENTITY]}
    store["validation_results"]["activeManifest"]["failure"].append(entry)
    store["validation_state"] = "Valid"
    report = report_from_store(store, "image/png", True)
    assert report.state == "valid_untrusted" and report.untrusted == ["identity_assertion"]


def test_no_trusted_code_means_an_untrusted_signer(trusted_store: dict[str, Any]) -> None:
    store = copy.deepcopy(trusted_store)
    active = store["validation_results"]["activeManifest"]
    active["success"] = [s for s in active["success"] if s["code"] != "signingCredential.trusted"]
    store["validation_state"] = "Valid"
    report = report_from_store(store, "image/png", True)
    assert report.state == "valid_untrusted" and report.untrusted == ["signer"]
    # An ingredient's trusted signer says nothing about this manifest's signer.
    ingredient = _with(store, "signingCredential.trusted", "success", ingredient=True)
    assert report_from_store(ingredient, "image/png", True).untrusted == ["signer"]
