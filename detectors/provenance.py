"""Verify C2PA Content Credentials and report integrity and trust as one provenance state.

Integrity (are the signature and the hard bindings to the media intact?) and
trust (does every credential in the file chain to a configured anchor?) are
kept apart: a valid credential from a signer we do not list is normal for real
AI providers and must never read like tampering. Every status code the C2PA
library reports is looked up in ``detectors.provenance_codes``, which sorts
each into integrity, trust or information; only integrity failures make a file
``invalid``. An untrusted credential of any kind (the claim signer, a time-stamp
authority, a CAWG identity assertion) makes it at most ``valid_untrusted``, and
the report names the untrusted parts (``untrusted: ["identity_assertion"]``).
The library's own summary (``validation_state``) is kept for review but does
not decide: c2pa-rs calls some trust-only findings "Invalid".

Trust anchors come from the caller (settings); none are loaded by default, so
nothing is "trusted" until someone configures an anchor. No CAWG identity
trust list is configured (c2pa-python 0.38.1 ignored the ``cawg_trust``
settings of a reader's context when tried), so a file carrying an X.509
identity assertion is at best ``valid_untrusted`` today. Remote manifests are
never fetched unless the caller asks. Every failure becomes a state (``error``
/ ``unsupported``) with a reason, never an exception.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from detectors import provenance_codes as pc
from detectors.base import Explanation, ModelInfo, Signal

STATES = ("absent", "trusted", "valid_untrusted", "invalid", "unsupported", "remote_only", "error")

MODEL_INFO = ModelInfo(
    model_id="c2pa-python",
    task="provenance.verify",
    licence="MIT OR Apache-2.0 (c2pa-python / c2pa-rs)",
    notes="C2PA manifest validation; no learned weights",
)

# IPTC digital source types that mean "made by a trained generative model",
# wholly or in part. ``algorithmicMedia`` (pure maths, no training data) and
# ``algorithmicallyEnhanced`` (retouching) are declared but are not generative
# AI. Compared by the term after the last "/" so http/https spellings agree.
AI_SOURCE_TERMS = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})


def _source_term(dst: str) -> str:
    return dst.rstrip("/").rsplit("/", 1)[-1]


# Creating/editing actions whose digitalSourceType says how the content began.
_SOURCE_ACTIONS = ("c2pa.created", "c2pa.edited", "c2pa.placed", "c2pa.opened")
# What the library must have seen before its "Invalid" may be overruled because
# every failure it reported is a trust finding (c2pa-rs's own test for "Valid").
_CLAIM_SIGNATURE_OK = frozenset({"claimSignature.validated", "claimSignature.insideValidity"})

DEFAULT_MAX_BYTES = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class OwnOutputMatch:
    """Evidence that a file is our own output, set by the caller from a fingerprint index."""

    clip_id: str
    method: str
    score: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProvenanceReport:
    """The verification outcome for one file; ``to_dict`` has CLI.md's keys first."""

    state: str
    integrity: str | None  # "valid" | "invalid" | None when there is nothing to check
    # "trusted" (every credential chains to an anchor) | "untrusted" (see
    # ``untrusted`` for which) | "credential_invalid" (the signer's certificate
    # is expired, revoked or malformed) | None
    trust: str | None
    codes: list[str]
    ai_generated: bool | None
    claim_generator: str | None
    signer: str | None
    ingredients: list[dict[str, Any]]
    own_output: str | None = None
    # The parts whose credential is not trusted, e.g. ["signer"],
    # ["identity_assertion"], ["timestamp"]; an ingredient's are prefixed
    # "ingredient_". Empty when trusted or when there is nothing to trust.
    untrusted: list[str] = field(default_factory=list)
    # The codes behind each verdict (see detectors.provenance_codes).
    integrity_codes: list[str] = field(default_factory=list)
    trust_codes: list[str] = field(default_factory=list)
    unknown_codes: list[str] = field(default_factory=list)
    library_state: str | None = None  # c2pa-rs's own validation_state, for review
    reason: str | None = None
    manifest_id: str | None = None
    digital_source_type: str | None = None
    signer_info: dict[str, Any] | None = None
    informational: list[str] = field(default_factory=list)
    remote_url: str | None = None
    mime: str | None = None
    generation: dict[str, Any] | None = None
    trust_anchors_configured: bool = False
    own_output_evidence: OwnOutputMatch | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_own_output(self, match: OwnOutputMatch | None) -> ProvenanceReport:
        """A copy carrying the fingerprint index's verdict (``None`` clears it)."""
        return replace(self, own_output=match.clip_id if match else None, own_output_evidence=match)

    def to_signal(self) -> Signal:
        """The ``provenance.state`` signal the policy engine reads."""
        data = {
            "state": self.state,
            "integrity": self.integrity,
            "trust": self.trust,
            "codes": list(self.codes),
            "ai_generated": self.ai_generated,
            "claim_generator": self.claim_generator,
            "signer": self.signer,
            "ingredients": len(self.ingredients),
            "own_output": self.own_output,
            "manifest_id": self.manifest_id,
            "untrusted": list(self.untrusted),
        }
        details: dict[str, Any] = {
            "reason": self.reason,
            "digital_source_type": self.digital_source_type,
            "informational": list(self.informational),
            "trust_anchors_configured": self.trust_anchors_configured,
            "ingredients": self.ingredients,
            "integrity_codes": list(self.integrity_codes),
            "trust_codes": list(self.trust_codes),
            "unknown_codes": list(self.unknown_codes),
            "library_state": self.library_state,
        }
        if self.remote_url:
            details["remote_url"] = self.remote_url
        if self.own_output_evidence is not None:
            details["own_output"] = asdict(self.own_output_evidence)
        return Signal(
            kind="provenance.state",
            model_id=MODEL_INFO.model_id,
            data=data,
            explanation=Explanation(
                model_id=MODEL_INFO.model_id,
                method="c2pa manifest validation (signature, hard bindings, trust chain)",
                score=None,
                threshold=None,
                details=details,
            ),
        )


def _empty(state: str, reason: str, **kw: Any) -> ProvenanceReport:
    return ProvenanceReport(
        state=state,
        integrity=None,
        trust=None,
        codes=[],
        ai_generated=None,
        claim_generator=None,
        signer=None,
        ingredients=[],
        reason=reason,
        **kw,
    )


def sniff_mime(head: bytes) -> str | None:
    """The media type from the first bytes (extensions lie), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"GIF8"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/avi"}.get(head[8:12])
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        if brand == b"avif":
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head[4:8] in (b"moov", b"moof", b"mdat", b"free", b"wide"):
        return "video/mp4"  # an ISO BMFF file without a leading ftyp
    if head.startswith(b"%PDF"):
        return "application/pdf"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3"):
        return "audio/mpeg"
    return None


def _context(trust_anchors_pem: str | None, fetch_remote: bool) -> Any:
    import c2pa

    settings: dict[str, Any] = {
        "verify": {
            "verify_trust": True,
            "remote_manifest_fetch": bool(fetch_remote),
            # Revocation lookups are network calls; verification stays offline.
            "ocsp_fetch": False,
        }
    }
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return c2pa.Context.from_dict(settings)


_REMOTE_URL = re.compile(r"(https?://\S+)")


def verify(
    source: Path | str | bytes,
    trust_anchors_pem: str | None = None,
    fetch_remote: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ProvenanceReport:
    """Verify the C2PA manifest of a file (path) or an in-memory asset (bytes).

    ``trust_anchors_pem`` holds the PEM certificates a signer must chain to for
    ``trusted``; ``None`` means no anchors, so the best a credential can get is
    ``valid_untrusted``. The format is sniffed from the bytes, not the name.
    """
    try:
        return _verify(source, trust_anchors_pem, fetch_remote, max_bytes)
    except Exception as exc:  # the contract is a state, never an exception
        return _empty(
            "error",
            f"verification failed ({type(exc).__name__}): {exc}",
            trust_anchors_configured=bool(trust_anchors_pem),
        )


def _isolated_worker(conn: Any, args: tuple[Any, ...]) -> None:
    conn.send(verify(*args).to_dict())
    conn.close()


def verify_isolated(
    source: Path | str | bytes,
    trust_anchors_pem: str | None = None,
    fetch_remote: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = 60.0,
    mp_context: Any = None,
) -> ProvenanceReport:
    """``verify`` in a separate process, for untrusted uploads on a long-running server.

    A manifest that makes the native parser abort or hang takes down only the
    child: the caller gets ``error`` with the reason. With the default
    ``spawn`` context this costs a process start (a second or more: the child
    imports the parent's main module), so batch tools use ``verify`` directly;
    a caller with a fork server that has this module preloaded passes it as
    ``mp_context`` and the child starts in milliseconds.
    """
    import multiprocessing as mp

    anchors = bool(trust_anchors_pem)
    if isinstance(source, str):
        source = Path(source)
    ctx = mp_context if mp_context is not None else mp.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_isolated_worker,
        args=(child_conn, (source, trust_anchors_pem, fetch_remote, max_bytes)),
        daemon=True,
    )
    proc.start()
    child_conn.close()
    try:
        if parent_conn.poll(timeout_s):
            try:
                doc = parent_conn.recv()
            except EOFError:
                doc = None
            if isinstance(doc, dict):
                doc.pop("own_output_evidence", None)
                return ProvenanceReport(**doc)
        elif proc.is_alive():
            return _empty(
                "error", f"verification did not finish within {timeout_s:g} s",
                trust_anchors_configured=anchors,
            )  # fmt: skip
        proc.join(5)
        return _empty(
            "error", f"the C2PA parser crashed on this file (exit code {proc.exitcode})",
            trust_anchors_configured=anchors,
        )  # fmt: skip
    finally:
        parent_conn.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def _verify(
    source: Path | str | bytes,
    trust_anchors_pem: str | None,
    fetch_remote: bool,
    max_bytes: int,
) -> ProvenanceReport:
    import c2pa

    anchors = bool(trust_anchors_pem and trust_anchors_pem.strip())
    if anchors and "-----BEGIN CERTIFICATE-----" not in str(trust_anchors_pem):
        return _empty(
            "error", "trust anchors hold no PEM certificate", trust_anchors_configured=True
        )

    stream: BinaryIO
    if isinstance(source, bytes):
        size = len(source)
        stream = io.BytesIO(source)
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
            if not path.is_file():
                return _empty("error", f"{path.name} is not a regular file")
            stream = open(path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            return _empty("error", f"cannot read {path.name}: {exc.strerror or exc}")
    try:
        if size == 0:
            return _empty("error", "file is empty (0 bytes)")
        if size > max_bytes:
            return _empty("error", f"file is {size} bytes; the verification limit is {max_bytes}")
        mime = sniff_mime(stream.read(32))
        stream.seek(0)
        if mime is None:
            return _empty("unsupported", "not a media format that can carry C2PA credentials")
        try:
            with c2pa.Reader(
                mime, stream, None, _context(trust_anchors_pem, fetch_remote)
            ) as reader:
                store = json.loads(reader.json())
                remote_url = None if reader.is_embedded() else reader.get_remote_url()
        except c2pa.C2paError as exc:
            return _from_error(exc, mime, anchors)
        report = report_from_store(store, mime, anchors)
        return replace(report, remote_url=remote_url) if remote_url else report
    finally:
        stream.close()


def _from_error(exc: Exception, mime: str, anchors: bool) -> ProvenanceReport:
    message = str(exc)
    kind = type(exc).__name__.lstrip("_").removeprefix("C2pa")
    if kind == "ManifestNotFound" or "ManifestNotFound" in message or "JumbfNotFound" in message:
        return _empty(
            "absent", "no C2PA manifest in the file", mime=mime, trust_anchors_configured=anchors
        )
    if message.startswith("Remote:") or kind == "RemoteManifest":
        match = _REMOTE_URL.search(message)
        url = match.group(1) if match else None
        if "must fetch" in message:
            reason = "the manifest is stored remotely and fetching remote manifests is not enabled"
            return _empty(
                "remote_only", reason, mime=mime, remote_url=url, trust_anchors_configured=anchors
            )
        return _empty(
            "error", f"remote manifest could not be fetched: {message}", mime=mime,
            remote_url=url, trust_anchors_configured=anchors,
        )  # fmt: skip
    if kind == "NotSupported" or message.startswith("NotSupported"):
        return _empty("unsupported", f"{mime} is not supported by the C2PA reader", mime=mime)
    return _empty(
        "error", f"the file or its manifest could not be parsed: {message}", mime=mime,
        trust_anchors_configured=anchors,
    )  # fmt: skip


def _codes(entries: Any) -> list[str]:
    return [str(e.get("code")) for e in entries or [] if isinstance(e, dict) and e.get("code")]


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    if manifest.get("claim_generator"):
        return str(manifest["claim_generator"])
    info = manifest.get("claim_generator_info") or []
    parts = []
    for item in info if isinstance(info, list) else [info]:
        if isinstance(item, dict) and item.get("name"):
            version = item.get("version")
            parts.append(f"{item['name']}/{version}" if version else str(item["name"]))
    return " ".join(parts) or None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", ""))
        if label == "c2pa.actions" or label.startswith("c2pa.actions.v"):
            actions = (assertion.get("data") or {}).get("actions") or []
            found.extend(a for a in actions if isinstance(a, dict))
    return found


def _ai_generated(manifest: dict[str, Any]) -> tuple[bool | None, str | None]:
    """Whether the manifest declares generative AI, and the source type it declared.

    ``None`` when no creating action states a source type: silence is not a "no".
    """
    declared: list[str] = []
    for action in _actions(manifest):
        dst = action.get("digitalSourceType")
        if dst and (
            action.get("action") in _SOURCE_ACTIONS or _source_term(str(dst)) in AI_SOURCE_TERMS
        ):
            declared.append(str(dst))
    if not declared:
        return None, None
    for dst in declared:
        if _source_term(dst) in AI_SOURCE_TERMS:
            return True, dst
    return False, declared[0]


def _ingredients(
    manifest: dict[str, Any], manifests: dict[str, Any], depth: int = 0
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for ing in manifest.get("ingredients") or []:
        if not isinstance(ing, dict):
            continue
        label = ing.get("active_manifest")
        parent = manifests.get(label) if isinstance(label, str) else None
        vr = ing.get("validation_results") or {}
        status = _codes((vr.get("activeManifest") or {}).get("failure")) or _codes(
            ing.get("validation_status")
        )
        entry: dict[str, Any] = {
            "title": ing.get("title"),
            "relationship": ing.get("relationship"),
            "format": ing.get("format"),
            "manifest_id": label,
            "failure_codes": status,
            "clip_id": (ing.get("metadata") or {}).get("com.greenroom.clip_id"),
        }
        if isinstance(parent, dict):
            entry["claim_generator"] = _claim_generator(parent)
            entry["signer"] = (parent.get("signature_info") or {}).get("issuer")
            entry["ai_generated"] = _ai_generated(parent)[0]
            # Lineage is a chain: a remix of a remix keeps going, bounded so a
            # cyclic or hostile store cannot recurse for ever.
            if depth < 16:
                entry["ingredients"] = _ingredients(parent, manifests, depth + 1)
        result.append(entry)
    return result


@dataclass(frozen=True)
class _Finding:
    """One status entry the library reported, with what it means for the verdict."""

    code: str
    bucket: str  # success | informational | failure, as the library filed it
    kind: str  # provenance_codes.INTEGRITY | TRUST | INFORMATIONAL | SUCCESS
    part: str
    scope: str  # "active" (the active manifest) or "ingredient" (an ingredient delta)
    known: bool

    @property
    def label(self) -> str:
        return self.part if self.scope == "active" else f"ingredient_{self.part}"


def _findings(results: dict[str, Any], scope: str) -> list[_Finding]:
    found = []
    for bucket in pc.BUCKETS:
        for entry in results.get(bucket) or []:
            if not isinstance(entry, dict) or not entry.get("code"):
                continue
            code = str(entry["code"])
            url = entry.get("url")
            cls, known = pc.classify_reported(code, bucket, url if isinstance(url, str) else None)
            found.append(_Finding(code, bucket, cls.kind, cls.part, scope, known))
    return found


def _all_findings(store: dict[str, Any]) -> tuple[list[_Finding], bool]:
    """Every status entry of the active manifest and the ingredient deltas.

    The second value says whether the library gave structured results; without
    them (an older library) the flat ``validation_status`` list is read as
    failures of the active manifest.
    """
    vr = store.get("validation_results") or {}
    active = vr.get("activeManifest")
    if not isinstance(active, dict):
        flat = {"failure": store.get("validation_status") or []}
        return _findings(flat, "active"), False
    found = _findings(active, "active")
    for delta in vr.get("ingredientDeltas") or []:
        if isinstance(delta, dict) and isinstance(delta.get("validationDeltas"), dict):
            found.extend(_findings(delta["validationDeltas"], "ingredient"))
    return found, True


def report_from_store(store: dict[str, Any], mime: str, anchors: bool) -> ProvenanceReport:
    manifests = store.get("manifests") or {}
    label = store.get("active_manifest")
    manifest = manifests.get(label) if isinstance(label, str) else None
    if not isinstance(manifest, dict):
        return _empty(
            "error",
            "manifest store has no active manifest",
            mime=mime,
            trust_anchors_configured=anchors,
        )

    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = _codes(results.get("failure"))
    informational = _codes(results.get("informational"))
    state_raw = str(store.get("validation_state") or "")
    findings, structured = _all_findings(store)
    counted = [f for f in findings if f.kind in (pc.INTEGRITY, pc.TRUST)]
    # validation_status also carries ingredient failures; informational codes
    # that count (an untrusted time stamp) are listed too. Each code once.
    codes = list(
        dict.fromkeys(
            failures
            + _codes(store.get("validation_status"))
            + [f.code for f in counted if f.bucket != "failure"]
        )
    )

    integrity_codes = list(dict.fromkeys(f.code for f in counted if f.kind == pc.INTEGRITY))
    trust_findings = [f for f in counted if f.kind == pc.TRUST]
    untrusted = list(dict.fromkeys(f.label for f in trust_findings))
    trust_codes = list(dict.fromkeys(f.code for f in trust_findings))
    unknown_codes = list(dict.fromkeys(f.code for f in findings if not f.known))
    active_success = {f.code for f in findings if f.scope == "active" and f.bucket == "success"}

    # Integrity is decided by the codes, not by the library's summary: c2pa-rs
    # calls a manifest "Invalid" for failures that are only about trust (an
    # identity credential's issuer it cannot resolve, say). Its "Invalid" is
    # overruled only when it also saw the claim signature validate; otherwise
    # it stands, with that as the reason.
    unexplained_invalid = False
    if state_raw == "Invalid" and not integrity_codes:
        unexplained_invalid = not (structured and _CLAIM_SIGNATURE_OK.issubset(active_success))
    integrity = "invalid" if integrity_codes or unexplained_invalid else "valid"

    signer_trusted = (
        any(
            f.code == "signingCredential.trusted" and f.part == pc.SIGNER and f.scope == "active"
            for f in findings
        )
        if structured
        else state_raw == "Trusted"
    )
    if any(f.kind == pc.INTEGRITY and f.part == pc.SIGNER and f.scope == "active" for f in counted):
        trust = "credential_invalid"  # expired, revoked, malformed certificate
    elif untrusted:
        trust = "untrusted"
    elif signer_trusted:
        trust = "trusted"
    else:
        # No code said the signer is trusted: it is not.
        trust = "untrusted"
        untrusted = [pc.SIGNER]

    if integrity == "invalid":
        state = "invalid"
    elif trust == "trusted":
        state = "trusted"
    else:
        state = "valid_untrusted"

    ai, dst = _ai_generated(manifest)
    sig = manifest.get("signature_info") or {}
    generation = None
    for assertion in manifest.get("assertions") or []:
        if assertion.get("label") == "com.greenroom.generation":
            generation = assertion.get("data")
    reason = _reason(state, untrusted, trust_findings, integrity_codes, state_raw, anchors)
    return ProvenanceReport(
        state=state,
        integrity=integrity,
        trust=trust,
        codes=codes,
        ai_generated=ai,
        claim_generator=_claim_generator(manifest),
        signer=sig.get("issuer") or sig.get("common_name"),
        ingredients=_ingredients(manifest, manifests),
        untrusted=untrusted,
        integrity_codes=integrity_codes,
        trust_codes=trust_codes,
        unknown_codes=unknown_codes,
        library_state=state_raw or None,
        reason=reason,
        manifest_id=label,
        digital_source_type=dst,
        signer_info={
            k: sig.get(k) for k in ("alg", "issuer", "common_name", "cert_serial_number", "time")
        },
        informational=informational,
        mime=mime,
        generation=generation if isinstance(generation, dict) else None,
        trust_anchors_configured=anchors,
    )


def _reason(
    state: str,
    untrusted: list[str],
    trust_findings: list[_Finding],
    integrity_codes: list[str],
    state_raw: str,
    anchors: bool,
) -> str:
    if state == "trusted":
        return "credential intact and signed by a configured trust anchor"
    if state == "invalid":
        if integrity_codes:
            return "credential failed validation: " + ", ".join(integrity_codes)
        return (
            f"credential failed validation: the C2PA library reported {state_raw or 'no state'}"
            " without a validated claim signature"
        )
    if untrusted == [pc.SIGNER]:
        return (
            "credential intact; signer not chained to a configured trust anchor"
            if anchors
            else "credential intact; no trust anchors configured"
        )
    parts = []
    for label in untrusted:
        why = list(dict.fromkeys(f.code for f in trust_findings if f.label == label))
        parts.append(f"{label} ({', '.join(why)})" if why else label)
    tail = "" if anchors else "; no trust anchors configured"
    return "credential intact; not trusted: " + "; ".join(parts) + tail
