"""The generate flow: prompt gate -> generator -> watermark + mp4 -> output scan -> sign -> fingerprint -> publish.

:class:`GenerationService` runs it for one request. A
blocked prompt makes no clip. The output scan creates the clip; an output the
policy lets through is ``pending`` until it is signed, and only the signed
file is ever published: it becomes the clip's media, its fingerprint goes into
the own-output index, and the clip goes live, in one transaction. Outputs sent
to review are signed and fingerprinted too (a moderator may publish them),
but stay queued. A prompt the policy sends to review still generates: the
output scan sees the same prompt and decides again with the media.

Every account has a daily generation quota (``PipelineConfig.quota_generate_per_day``,
``..._teen`` for teen accounts, or staff's number for that account). It is
checked before the prompt gate (an account over quota costs nothing) and a
generation is counted, in one transaction with the check, once the prompt
gate let it through and just before the generator runs: refused prompts never
count; a generator that fails gives its count back. Over quota is
:class:`QuotaExceeded`, which carries ``next_allowed_at`` and a sentence
for the person.

Signing uses ``settings.signing_cert``/``signing_key``; with none configured a
development CA and signer are created once under ``<data_dir>/certs/dev/``
and every result says a development certificate signed it.

The generator loads on first use. ``generator.video`` imports diffusers, which
needs the torchvision hook that ``import detectors`` installs; this module
imports ``detectors`` first for that reason.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import detectors  # noqa: F401  - installs the torchvision hook before diffusers is imported
from generator.certs import create_dev_certs
from generator.signing import GenerationInfo, Parent, SigningError, SigningIdentity, sign_file
from generator.video import TextToVideo, describe_text_to_video
from generator.watermark import DEFAULT_TEXT, encode_mp4, watermark_frame
from pipeline.answers import user_decision
from pipeline.executor import Executor, FramesRequest, LocalExecutor
from pipeline.models import build_generator
from store import accounts as account_rows
from store import clips as clip_rows
from store import jobs
from store.db import NotFound, now
from store.events import ClipSigned
from store.quotas import GenerationQuotas
from store.users import User, Users

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.gate import Gate
    from pipeline.provenance import ProvenanceService
    from store.blobs import BlobStore
    from store.db import Store

log = logging.getLogger("greenroom.generate")

GENERATE_JOB = "generate"
DEV_CERTS_DIR = Path("certs") / "dev"
BLOCKING = frozenset({"block", "takedown"})
MAX_SECONDS = 10.0
STAFF_ROLES = frozenset({"admin", "moderator"})


class GenerationError(ValueError):
    """The request cannot be generated; the message is safe to show."""


class QuotaExceeded(GenerationError):
    """The account used today's generations; ``next_allowed_at`` is None when its quota is 0."""

    def __init__(self, quota: dict[str, Any]) -> None:
        self.quota = quota
        self.next_allowed_at: str | None = quota.get("next_allowed_at")
        super().__init__(over_quota_sentence(quota))


def _next_utc_midnight(at: datetime) -> datetime:
    return datetime.combine(at.date() + timedelta(days=1), datetime.min.time(), at.tzinfo)


def _in_about(seconds: float) -> str:
    minutes = max(1, round(seconds / 60.0))
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60.0)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def over_quota_sentence(quota: dict[str, Any]) -> str:
    """What a person reads when they cannot generate now: how many, and when they can again."""
    per_day = int(quota["per_day"])
    if per_day <= 0:
        return (
            "Generating clips is switched off for your account for now. "
            "If you think this is a mistake, contact support."
        )
    reset = datetime.fromisoformat(str(quota["resets_at"]))
    wait = (reset - now()).total_seconds()
    noun = "generation" if per_day == 1 else "generations"
    return (
        f"You have used your {per_day} {noun} for today. You can generate again from "
        f"{reset:%H:%M} UTC (in about {_in_about(wait)})."
    )


class SigningFailed(RuntimeError):
    """A generated clip could not be signed (a server-side problem); it stays unpublished."""


@dataclass
class GenerationResult:
    """What one generate request produced; ``clip_id`` is None when the prompt was blocked."""

    clip_id: str | None
    decision: dict[str, Any]
    model: str
    manifest_id: str | None
    random_weights: bool
    status: str | None = None
    decision_id: str | None = None
    prompt_decision: dict[str, Any] | None = None
    stage: str = "prompt"
    model_info: dict[str, Any] | None = None
    signing: dict[str, Any] | None = None
    sha256: str | None = None
    seed: int | None = None
    frames: int = 0
    watermark: str | None = None
    parent_clip_id: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Where the frames were computed: "local" or "ray:<node id>" (None: no frames made),
    # and why a Ray call was not used when it failed.
    ran_on: str | None = None
    executor_fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PendingSignature:
    """A clip's media signed into a work file, waiting to be recorded in a transaction."""

    clip_id: str
    path: Path
    keyframes: list[Any]
    signed: Any
    signing: dict[str, Any]
    model_id: str
    decision_id: str | None
    parent_clip_id: str | None


def creator_view(decision: dict[str, Any], decision_id: str | None, stage: str) -> dict[str, Any]:
    """A decision as its requester sees it (:func:`pipeline.answers.user_decision`): no values."""
    doc = user_decision(decision, decision_id)
    doc["stage"] = stage
    explanation = decision.get("explanation") or {}
    doc["sources_run"] = explanation.get("sources_run", [])
    return doc


class GenerationService:
    """Generate, sign and publish clips."""

    def __init__(
        self,
        store: Store,
        users: Users,
        blobs: BlobStore,
        gate: Gate,
        provenance: ProvenanceService,
        config: PipelineConfig,
        generator: TextToVideo | None = None,
        width: int = 256,
        height: int = 256,
        fps: float = 8.0,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.users = users
        self.blobs = blobs
        self.gate = gate
        self.provenance = provenance
        self.config = config
        self._generator = generator
        self.width, self.height, self.fps = width, height, fps
        # Where the frames are computed: here, or on the scans' Ray actor pool.
        self.executor: Executor = executor if executor is not None else LocalExecutor()
        self._lock = threading.Lock()
        self.quotas = GenerationQuotas(store)

    # -- daily quota ---------------------------------------------------------------------

    def quota(self, user: User, *, staff_view: bool = False) -> dict[str, Any]:
        """An account's generation quota today: its number, what it used, when it resets.

        ``source`` says where the number comes from (``default``, ``teen_default``
        or ``account``: staff set it); staff also see who set it and why.
        """
        override = self.quotas.override(user.id)
        if override is not None:
            per_day, source = int(override["per_day"]), "account"
        elif user.is_teen:
            per_day, source = int(self.config.quota_generate_per_day_teen), "teen_default"
        else:
            per_day, source = int(self.config.quota_generate_per_day), "default"
        at = now()
        used = self.quotas.used_on(user.id, at.date())
        remaining = max(0, per_day - used)
        resets = _next_utc_midnight(at)
        doc: dict[str, Any] = {
            "per_day": per_day,
            "used_today": used,
            "remaining_today": remaining,
            "resets_at": resets.isoformat(),
            "next_allowed_at": None
            if remaining > 0
            else (resets.isoformat() if per_day > 0 else None),
            "source": source,
        }
        if staff_view:
            doc["handle"] = user.handle
            doc["account_setting"] = override
            doc["defaults"] = {
                "adult": self.config.quota_generate_per_day,
                "teen": self.config.quota_generate_per_day_teen,
            }
        return doc

    def check_quota(self, user: User) -> dict[str, Any]:
        """The quota if the account may generate now, else :class:`QuotaExceeded`.

        An account whose generation is suspended or banned is refused first
        (:class:`store.accounts.AccountRestricted`), whatever its quota.
        """
        account_rows.require(self.store, user, "generate")
        doc = self.quota(user)
        if doc["remaining_today"] <= 0:
            raise QuotaExceeded(doc)
        return doc

    def _count(self, user: User, prompt_decision_id: str | None) -> str:
        """Check and count one generation in one transaction (a race for the last slot loses)."""
        limit = int(self.quota(user)["per_day"])
        with self.store.transaction() as tx:
            usage_id = self.quotas.take(tx, user.id, limit, prompt_decision_id=prompt_decision_id)
        if usage_id is None:
            raise QuotaExceeded(self.quota(user))
        return usage_id

    def _refund(self, user: User, usage_id: str, reason: str) -> None:
        try:
            with self.store.transaction() as tx:
                self.quotas.refund(tx, user.id, usage_id, reason)
        except Exception:  # the original failure matters more than the refund
            log.exception("could not refund generation %s of %s", usage_id, user.id)

    def set_quota(
        self, target: User, per_day: int | None, reason: str, actor: User
    ) -> dict[str, Any]:
        """Staff set an account's daily number (None: back to the adult or teen default)."""
        with self.store.transaction() as tx:
            self.quotas.set(tx, target.id, per_day, reason, actor.id)
        return self.quota(target, staff_view=True)

    # -- parts -------------------------------------------------------------------------

    @property
    def generator(self) -> TextToVideo:
        with self._lock:
            if self._generator is None:
                self._generator = build_generator(self.config)
                log.info("generator loaded: %s", self._generator.info.model_id)
            return self._generator

    @property
    def model_id(self) -> str:
        """The generator's model id, without loading it."""
        if self._generator is not None:
            return self._generator.info.model_id
        return describe_text_to_video(self.config.models_dir)

    def signing_identity(self) -> tuple[SigningIdentity, dict[str, Any]]:
        """The configured identity, or the data directory's development one (created once)."""
        s = self.config
        if s.signing_cert is not None and s.signing_key is not None:
            identity = SigningIdentity.from_files(s.signing_cert, s.signing_key, s.timestamp_url)
            return identity, {"development_certificate": False, "cert": str(s.signing_cert)}
        folder = self.store.data_dir / DEV_CERTS_DIR
        with self._lock:
            signer = folder / "signer.pem"
            if not signer.exists():
                certs = create_dev_certs(folder, org="Greenroom Dev")
                log.warning(
                    "no signing identity configured: created a development CA in %s", folder
                )
                signer = certs.signer_cert
        identity = SigningIdentity.from_files(signer, folder / "signer.key", s.timestamp_url)
        return identity, {
            "development_certificate": True,
            "cert": str(signer),
            "trust_anchor": str(folder / "trust-anchors.pem"),
            "note": "signed with a DEVELOPMENT certificate (no signing identity is configured); "
            "verifiers trust it only with this data directory's dev CA as an anchor",
        }

    def _parent(self, creator: User, parent_clip_id: str) -> Path:
        """The parent's media file, if the requester may see the parent (else NotFound)."""
        path, _, _ = self.media(parent_clip_id, creator)
        return path

    # -- the flow ----------------------------------------------------------------------------

    def generate(
        self,
        creator: User,
        prompt: str,
        cameos: list[str] | None = None,
        parent_clip_id: str | None = None,
        seconds: float = 2.0,
        *,
        seed: int | None = None,
    ) -> GenerationResult:
        """Run the whole flow for one request (synchronously)."""
        if not 0 < float(seconds) <= MAX_SECONDS:
            raise GenerationError(f"seconds must be in (0, {MAX_SECONDS:g}]")
        # Over quota costs nothing: refused before the prompt gate runs.
        self.check_quota(creator)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        parent_path: Path | None = None
        if parent_clip_id is not None:
            parent_path = self._parent(creator, parent_clip_id)

        gate = self.gate
        checked = gate.check_prompt(
            creator, prompt, cameos or [], parent_clip_id=parent_clip_id, door="generate_prompt"
        )
        timings["prompt_gate"] = _ms(started)
        prompt_doc = creator_view(checked.decision, checked.decision_id, "prompt")
        base = {
            "prompt_decision": prompt_doc,
            "parent_clip_id": parent_clip_id,
            "timings_ms": timings,
        }
        if checked.decision["outcome"] in BLOCKING:
            return GenerationResult(
                clip_id=None,
                decision=prompt_doc,
                model=self.model_id,
                manifest_id=None,
                random_weights=self.model_id == _tiny_id(),
                status=None,
                decision_id=checked.decision_id,
                stage="prompt",
                **base,  # type: ignore[arg-type]
            )

        t = time.perf_counter()
        seed = secrets.randbits(31) if seed is None else int(seed)
        request = FramesRequest(prompt, float(seconds), self.fps, self.width, self.height, seed)
        # Compute is about to be spent: this generation counts (given back if the generator fails).
        usage_id = self._count(creator, checked.decision_id)
        try:
            generated = self.executor.generate(request, lambda: self.generator)
        except BaseException as exc:
            self._refund(creator, usage_id, f"the generator failed ({type(exc).__name__})")
            raise
        frames, info = generated.frames, generated.info
        timings["generate"] = _ms(t)
        common = {
            "model": info.model_id,
            "random_weights": info.random_weights,
            "model_info": info.to_dict(),
            "seed": seed,
            "frames": len(frames),
            "watermark": DEFAULT_TEXT,
            "ran_on": generated.ran_on,
            "executor_fallback": generated.fallback,
            **base,
        }

        tmp_root = self.store.data_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="generate-", dir=tmp_root) as tmp:
            t = time.perf_counter()
            # The visible mark goes in before signing, so the signature covers it.
            marked = (watermark_frame(rgb, i / self.fps) for i, rgb in enumerate(frames))
            unsigned = encode_mp4(
                marked, Path(tmp) / "unsigned.mp4", fps=self.fps, threads=self.config.threads
            )
            timings["watermark_encode"] = _ms(t)

            t = time.perf_counter()
            out = gate.scan(
                unsigned,
                creator,
                prompt=prompt,
                stage="output",
                parent_clip_id=parent_clip_id,
                origin="remix" if parent_clip_id else "generated",
                declared_name="generated.mp4",
            )
            timings["output_scan"] = _ms(t)
            clip_id = out.clip_id
            assert clip_id is not None  # an output scan always makes a clip
            decision = creator_view(out.decision, out.decision_id, "output")
            if out.decision["outcome"] in BLOCKING or out.status in ("blocked", "taken_down"):
                return GenerationResult(
                    clip_id=clip_id,
                    decision=decision,
                    manifest_id=None,
                    status=out.status,
                    decision_id=out.decision_id,
                    stage="output",
                    **common,  # type: ignore[arg-type]
                )

            t = time.perf_counter()
            signed_path = Path(tmp) / "signed.mp4"
            try:
                # Inside the try: an unreadable or broken key is a signing failure too.
                identity, signing = self.signing_identity()
                signed = sign_file(
                    unsigned,
                    signed_path,
                    identity,
                    GenerationInfo(
                        model_id=info.model_id,
                        decision_id=out.decision_id,
                        clip_id=clip_id,
                        title=f"{clip_id}.mp4",
                    ),
                    Parent(parent_path, parent_clip_id) if parent_path is not None else None,
                )
            except SigningError as exc:
                # The clip stays pending and unsigned: it is never published.
                log.error("signing clip %s failed: %s", clip_id, exc)
                raise SigningFailed(
                    f"clip {clip_id} could not be signed and was not published: {exc}"
                ) from None
            timings["sign"] = _ms(t)

            t = time.perf_counter()
            provenance = self.provenance
            keyframes = provenance.keyframes(signed_path)
            status = self._publish_signed(
                creator, clip_id, out.decision_id, signed_path, keyframes, signed, info.model_id,
                signing, parent_clip_id,
            )  # fmt: skip
            timings["fingerprint_publish"] = _ms(t)
        timings["total"] = _ms(started)
        return GenerationResult(
            clip_id=clip_id,
            decision=decision,
            manifest_id=signed.manifest_id,
            status=status,
            decision_id=out.decision_id,
            stage="output",
            signing=signing | {"alg": signed.alg},
            sha256=self._sha_of(clip_id),
            **common,  # type: ignore[arg-type]
        )

    def _publish_signed(
        self,
        creator: User,
        clip_id: str,
        decision_id: str,
        signed_path: Path,
        keyframes: list[Any],
        signed: Any,
        model_id: str,
        signing: dict[str, Any],
        parent_clip_id: str | None,
    ) -> str:
        """Signed media becomes the clip's media, fingerprinted, and the clip goes live if allowed."""
        blobs = self.blobs
        provenance = self.provenance
        staged = blobs.stage(signed_path)  # the copy and fsync happen outside the write lock
        try:
            with self.store.transaction() as tx:
                ref = blobs.record(tx, staged, "video/mp4")
                row = tx.execute(
                    "SELECT status, audience FROM clips WHERE id = ?", [clip_id]
                ).fetchone()
                if row is None:
                    raise NotFound(f"no clip {clip_id}")
                previous, audience = str(row[0]), str(row[1])
                # Only what the gate cleared ("pending": allowed, waiting for
                # signing) goes live; queued clips wait for a moderator.
                status = "published" if previous == "pending" else previous
                clip_rows.set_media(tx, clip_id, ref.sha256)
                tx.audit(
                    ClipSigned(
                        creator.id,
                        clip_id=clip_id,
                        manifest_id=signed.manifest_id,
                        sha256=ref.sha256,
                        decision_id=decision_id,
                        model_id=model_id,
                        signer=signing.get("cert"),
                        development_certificate=bool(signing.get("development_certificate")),
                        parent_clip_id=parent_clip_id,
                    )
                )
                if status != previous:
                    clip_rows.set_status(
                        tx, clip_id, status, creator.id, audience=audience, decision_id=decision_id
                    )
                provenance.record_fingerprint(
                    tx, clip_id, keyframes, signed_path, actor_id=creator.id
                )
        except BaseException:
            provenance.reload()  # the index may hold a fingerprint the rollback removed
            raise
        return status

    # -- signing a clip a moderator publishes -----------------------------------------------

    def needs_signing(self, clip_id: str) -> bool:
        """A generated clip (it had an output scan) whose media was never signed."""
        rows = self.store.query(
            "SELECT EXISTS (SELECT 1 FROM scans WHERE clip_id = ? AND stage = 'output'), "
            "EXISTS (SELECT 1 FROM audit_log WHERE event = ? AND subject_id = ?)",
            [clip_id, ClipSigned.name, clip_id],
        )
        return bool(rows and rows[0][0] and not rows[0][1])

    def sign_stored(self, clip_id: str, work_dir: Path) -> PendingSignature:
        """Sign a clip's stored (unsigned) media into ``work_dir``; nothing is recorded yet.

        The review flow calls this before its decision transaction and then
        :meth:`record_signature` inside it, so a publish and its signature
        commit together or not at all. Raises :class:`SigningFailed`.
        """
        rows = self.store.query_dicts(
            "SELECT c.media_sha256, c.parent_clip_id, p.media_sha256 AS parent_sha, "
            "(SELECT d.id FROM decisions d JOIN scans s ON s.id = d.scan_id WHERE "
            " s.clip_id = c.id AND s.stage = 'output' ORDER BY d.created_at DESC LIMIT 1) "
            "AS decision_id FROM clips c LEFT JOIN clips p ON p.id = c.parent_clip_id "
            "WHERE c.id = ?",
            [clip_id],
        )
        if not rows:
            raise NotFound(f"no clip {clip_id}")
        row = rows[0]
        blobs = self.blobs
        if not row["media_sha256"] or not blobs.path(row["media_sha256"]).is_file():
            raise SigningFailed(f"clip {clip_id} has no stored media to sign")
        parent = None
        if row["parent_sha"] and blobs.path(row["parent_sha"]).is_file():
            parent = Parent(blobs.path(row["parent_sha"]), row["parent_clip_id"])
        model_id = self.model_id
        out = Path(work_dir) / f"{clip_id}-signed.mp4"
        try:
            identity, signing = self.signing_identity()
            signed = sign_file(
                blobs.path(row["media_sha256"]),
                out,
                identity,
                GenerationInfo(
                    model_id=model_id,
                    decision_id=row["decision_id"],
                    clip_id=clip_id,
                    title=f"{clip_id}.mp4",
                ),
                parent,
            )
        except SigningError as exc:
            log.error("signing clip %s for publication failed: %s", clip_id, exc)
            raise SigningFailed(f"clip {clip_id} could not be signed: {exc}") from None
        keyframes = self.provenance.keyframes(out)
        return PendingSignature(
            clip_id, out, keyframes, signed, signing, model_id, row["decision_id"],
            row["parent_clip_id"],
        )  # fmt: skip

    def record_signature(self, tx: Any, pending: PendingSignature, actor_id: str | None) -> str:
        """In the caller's transaction: the signed file becomes the clip's media, fingerprinted.

        On a rollback the caller must call ``provenance.reload()`` (the
        in-memory own-output index may hold the removed fingerprint).
        """
        ref = self.blobs.put_file(tx, pending.path, "video/mp4")
        clip_rows.set_media(tx, pending.clip_id, ref.sha256)
        tx.audit(
            ClipSigned(
                actor_id,
                clip_id=pending.clip_id,
                manifest_id=pending.signed.manifest_id,
                sha256=ref.sha256,
                decision_id=pending.decision_id,
                model_id=pending.model_id,
                signer=pending.signing.get("cert"),
                development_certificate=bool(pending.signing.get("development_certificate")),
                parent_clip_id=pending.parent_clip_id,
            )
        )
        self.provenance.record_fingerprint(
            tx, pending.clip_id, pending.keyframes, pending.path, actor_id=actor_id
        )
        return ref.sha256

    def _sha_of(self, clip_id: str) -> str | None:
        rows = self.store.query("SELECT media_sha256 FROM clips WHERE id = ?", [clip_id])
        return str(rows[0][0]) if rows and rows[0][0] else None

    # -- media ------------------------------------------------------------------------------

    def media(self, clip_id: str, viewer: User) -> tuple[Path, str, dict[str, Any]]:
        """A clip's media file for a viewer: the creator, staff, or anyone once it is published."""
        rows = self.store.query_dicts(
            "SELECT c.id, c.creator_id, c.status, c.audience, c.media_sha256, b.media_type "
            "FROM clips c "
            "LEFT JOIN blobs b ON b.sha256 = c.media_sha256 WHERE c.id = ?",
            [str(clip_id)[:64]],
        )
        if not rows:
            raise NotFound(f"no clip {str(clip_id)[:64]}")
        row = rows[0]
        own_or_staff = row["creator_id"] == viewer.id or viewer.role in STAFF_ROLES
        # Age-restricted clips are not served to teen accounts, even by direct link.
        visible = row["status"] == "published" and not (
            row["audience"] == "adults" and viewer.is_teen
        )
        if not (own_or_staff or visible):
            raise NotFound(f"no clip {row['id']}")
        if not row["media_sha256"]:
            raise NotFound(f"clip {row['id']} has no media")
        path = self.blobs.path(row["media_sha256"])
        if not path.is_file():
            raise NotFound(f"the media of clip {row['id']} is missing")
        return path, row["media_type"] or "application/octet-stream", row

    # -- durable jobs ------------------------------------------------------------------------

    def submit(
        self,
        creator: User,
        prompt: str,
        cameos: list[str] | None = None,
        parent_clip_id: str | None = None,
        seconds: float = 2.0,
    ) -> str:
        """Queue a ``generate`` job (the server's worker runs it); returns the job id.

        An account over quota is refused here (:class:`QuotaExceeded`); the job
        checks and counts again when it runs.
        """
        self.check_quota(creator)
        payload = {
            "request_id": secrets.token_hex(8),
            "creator_id": creator.id,
            "prompt": prompt,
            "cameos": list(cameos or []),
            "parent_clip_id": parent_clip_id,
            "seconds": float(seconds),
        }
        with self.store.transaction() as tx:
            return jobs.enqueue(tx, GENERATE_JOB, payload, actor_id=creator.id)

    def run_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The ``generate`` job handler (at-least-once: a crash after publishing can repeat it)."""
        creator = self.users.get(str(payload["creator_id"]))
        try:
            result = self.generate(
                creator,
                str(payload["prompt"]),
                [str(c) for c in payload.get("cameos") or []],
                parent_clip_id=payload.get("parent_clip_id"),
                seconds=float(payload.get("seconds") or 2.0),
            )
        except QuotaExceeded as exc:
            # Retrying cannot help before the quota resets: the job ends with the refusal.
            return {
                "clip_id": None,
                "quota_exceeded": True,
                "error": str(exc),
                "next_allowed_at": exc.next_allowed_at,
            }
        return {
            "clip_id": result.clip_id,
            "outcome": result.decision.get("outcome"),
            "status": result.status,
            "manifest_id": result.manifest_id,
        }


def _tiny_id() -> str:
    from generator.video import TINY_MODEL_ID

    return TINY_MODEL_ID


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 1)
