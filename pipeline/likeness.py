"""Likeness in the product: cameo enrolment, consent, revocation, protected likenesses, matching.

``LikenessService`` joins the face detectors, the
live check (:mod:`pipeline.liveness`), the cameo repository
(:mod:`store.cameos`) and the vector catalog (:mod:`store.vector_catalog`), and is the
gate's ``likeness`` :class:`~pipeline.sources.SignalSource`.

Matching is per face *track*: a clip's faces are tracked over sampled frames
and each track embedded on a few good frames (``detectors.faces.tracking``).
The faiss index of the embedder's model proposes candidate owners for each
track embedding; each candidate is then scored as the cosine of the track's
mean embedding and the owner's mean stored embedding, against
:func:`match_threshold` (``detectors.faces.thresholds.TRACK_THRESHOLDS``). Revoked cameos keep their vectors (so their use is
still found and blocked) until the owner deletes their likeness data.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.base import DetectorError, Explanation, MediaError, Signal
from detectors.faces import (
    FaceDetector,
    FaceEmbedder,
    NoFaceFound,
    Threshold,
    embed_largest,
)
from detectors.faces.realism import METHOD as REALISM_METHOD
from detectors.faces.realism import flat_fraction
from detectors.faces.realism import judge as judge_realism
from detectors.faces.thresholds import track_threshold_for
from detectors.faces.tracking import FaceTrack, track_faces
from pipeline.intake import MediaIntake, keyframes
from pipeline.liveness import (
    SAMPLE_EVERY_S,
    LivenessReport,
    check_recording,
)
from pipeline.media import Frame, iter_frames, load_image
from pipeline.sources import FrameMemo, ScanInput
from store import clips as clip_rows
from store import jobs
from store.cameos import Cameo, Cameos, Challenge, ProtectedLikeness, random_challenge
from store.db import Conflict, NotFound
from store.queue import QueueRequest, open_or_escalate
from store.users import User, Users
from store.vector_catalog import VectorCatalog, add_likeness_vectors
from store.vector_index import BruteForceIndex

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.models import Models
    from pipeline.teens import TeenService
    from store.blobs import BlobStore
    from store.db import Store

log = logging.getLogger("greenroom.likeness")

OWNER_KINDS = ("cameo", "protected")
TAKEDOWN_JOB = "takedown"
TAKEDOWN_QUEUE = "takedowns"
TAKEDOWN_PRIORITY = 80
# A clip in one of these states is (or is about to be) visible: revocation takes it down.
LIVE_STATUSES = ("published", "pending", "queued")
CONSENT_MODEL = "greenroom-cameo-consent-v1"
ENROL_MAX_SIDE = 640
CANDIDATES_PER_EMBEDDING = 20
DEFAULT_PERMISSION = {"teen": "only_me", "adult": "mutuals"}
UNKNOWN_FACE_KIND = "likeness.unknown_face"
# Sampled frames of a track measured for the flat-colour check (spread over the track).
UNKNOWN_FACE_SAMPLES = 8


def match_threshold(model_id: str) -> Threshold:
    """The likeness-match threshold for an embedder model (track-level where measured)."""
    return track_threshold_for(model_id)


@dataclass
class EnrollResult:
    id: str
    status: str  # active | refused
    reason: str | None
    code: str | None = None
    permission: str | None = None
    embeddings: int = 0
    check: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "code": self.code,
            "permission": self.permission,
            "embeddings": self.embeddings,
            "check": self.check,
        }


@dataclass(frozen=True)
class ConsentResult:
    allowed: bool
    consent: str  # granted | denied | revoked | not_applicable
    reason: str
    cameo_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "consent": self.consent,
            "reason": self.reason,
            "cameo_id": self.cameo_id,
        }


@dataclass
class LikenessMatch:
    kind: str  # cameo | protected
    id: str
    name: str
    owner: str  # the cameo owner's user id; "" for a protected likeness
    similarity: float
    threshold: float
    start_s: float
    end_s: float
    model: str
    tracks: list[dict[str, Any]] = field(default_factory=list)
    explanation: Explanation | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "similarity": round(self.similarity, 4),
            "threshold": self.threshold,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "model": self.model,
            "tracks": self.tracks,
            "explanation": self.explanation.to_dict() if self.explanation else None,
        }


@dataclass
class FaceMatches:
    """One matching pass: the likenesses found and every face track they were looked for in."""

    matches: list[LikenessMatch]
    tracks: list[FaceTrack]
    nearest: dict[int, float]  # track id -> best similarity to any candidate likeness
    detector: str
    threshold: float

    def unmatched(self) -> list[FaceTrack]:
        """Tracks that matched no cameo or protected likeness at or above the threshold."""
        matched = {seg["track"] for m in self.matches for seg in m.tracks}
        return [t for t in self.tracks if t.id not in matched]


def unknown_face_signals(found: FaceMatches, frames: Sequence[Frame]) -> list[Signal]:
    """A ``likeness.unknown_face`` signal per face track that matched no likeness.

    Each says whether the face looks photorealistic (the detector's best
    confidence over the track and the median flat-colour share of up to
    :data:`UNKNOWN_FACE_SAMPLES` of its frames; :mod:`detectors.faces.realism`)
    and how close the nearest likeness came. A track that matched the
    uploader's own cameo, or any other cameo or protected likeness, is not
    unknown: the consent rules judge it.
    """
    by_t = {float(f.t): f.rgb for f in frames}
    out = []
    for track in found.unmatched():
        samples = track.samples
        if len(samples) > UNKNOWN_FACE_SAMPLES:
            step = len(samples) / UNKNOWN_FACE_SAMPLES
            samples = [samples[int(i * step)] for i in range(UNKNOWN_FACE_SAMPLES)]
        flats = [flat_fraction(by_t[s.t], s.face) for s in samples if s.t in by_t]
        best = max(track.samples, key=lambda s: s.face.score)
        verdict = judge_realism(float(best.face.score), flats, found.detector)
        nearest = found.nearest.get(track.id)
        box = [round(float(v), 1) for v in best.face.box]
        data = {
            "track": track.id,
            "start_s": round(track.start_s, 3),
            "end_s": round(track.end_s, 3),
            "samples": len(track.samples),
            **verdict.to_dict(),
            "nearest_similarity": None if nearest is None else round(nearest, 4),
            "threshold": found.threshold,
            "box": box,
            "best_t": round(best.t, 3),
            "detector": found.detector,
        }
        out.append(
            Signal(
                kind=UNKNOWN_FACE_KIND,
                model_id=found.detector,
                data=data,
                explanation=Explanation(
                    model_id=found.detector,
                    method=(
                        "a face track that matched no cameo or protected likeness at the "
                        f"match threshold; photorealistic: {REALISM_METHOD}"
                    ),
                    score=verdict.score,
                    threshold=verdict.min_score,
                    details={
                        "why": verdict.why,
                        "flat_fraction": data["flat_fraction"],
                        "flat_limit": verdict.flat_limit,
                        "nearest_similarity": data["nearest_similarity"],
                        "match_threshold": found.threshold,
                        "box": box,
                    },
                ),
            )
        )
    return out


def _unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class FaceTracks:
    """The likeness source's store-free step: face tracks, with embeddings, over a scan's frames.

    The heavy part of likeness matching (detection, tracking, embedding), kept
    apart from the match against the store's likenesses so a Ray actor can
    compute it (:class:`pipeline.sources.FeatureStep`).
    """

    name = "face_tracks"

    def __init__(self, models: Models) -> None:
        self.models = models

    def detector(self, frames: Sequence[Frame]) -> FaceDetector:
        """Stills get the stills detector; sampled video frames the video one."""
        return self.models.face_detector if len(frames) == 1 else self.models.video_face_detector

    def track(self, frames: Sequence[Frame], memo: FrameMemo | None = None) -> list[FaceTrack]:
        detector = self.detector(frames)
        if memo is not None:
            detector = memo.detector(detector)
        return track_faces(frames, detector, self.models.face_embedder, per_track=3)

    def compute(self, scan: ScanInput) -> list[FaceTrack]:
        return self.track(scan.frames, scan.memo) if scan.frames else []


class LikenessService:
    """Cameos, consent, revocation, protected likenesses and matching."""

    name = "likeness"

    def __init__(
        self,
        store: Store,
        users: Users,
        models: Models,
        intake: MediaIntake,
        blobs: BlobStore,
        teens: TeenService,
        config: PipelineConfig,
    ) -> None:
        self.store = store
        self.users = users
        self.models = models
        self.intake = intake
        self.blobs = blobs
        self.teens = teens
        self.config = config
        self.cameos = Cameos(store)
        self.catalog = VectorCatalog.in_data_dir(store, threads=config.threads)
        self.face_tracks = FaceTracks(models)
        # What signals() reads through scan.feature: an executor may compute it elsewhere.
        self.needs = (FaceTracks.name,)

    # -- helpers ------------------------------------------------------------------------

    @property
    def embedder(self) -> FaceEmbedder:
        return self.models.face_embedder

    def _user(self, who: User | str) -> User:
        if isinstance(who, User):
            return who
        handle = str(who).strip().lstrip("@").lower()
        return self.users.by_handle(handle)

    def cameo_of(self, owner: User | str) -> Cameo:
        user = self._user(owner)
        cameo = self.cameos.current(user.id)
        if cameo is None:
            raise NotFound(f"@{user.handle} has no cameo")
        return cameo

    # -- enrolment ---------------------------------------------------------------------

    def new_challenge(self, user: User, steps: int = 3) -> Challenge:
        """A random head-movement challenge the next recording must perform (expires in minutes)."""
        with self.store.transaction() as tx:
            return self.cameos.issue_challenge(tx, user.id, random_challenge(steps))

    def enroll(
        self,
        user: User,
        recording: Path | bytes,
        challenge: Sequence[str] | None = None,
        *,
        declared_name: str | None = None,
    ) -> EnrollResult:
        """Check a verification recording and enrol the cameo, or record a refusal with its reason.

        Without ``challenge`` the user's pending server-issued challenge is
        used (and spent); an explicit one is for operators and tests.
        """
        from store.cameos import check_steps

        pending: Challenge | None = None
        if challenge is None:
            pending = self.cameos.pending_challenge(user.id)
            if pending is None:
                raise ValueError(
                    "no open challenge: ask for one first (POST /cameos/challenge) and record "
                    "within its time limit"
                )
            steps = pending.steps
        else:
            steps = check_steps(challenge)
        current = self.cameos.current(user.id)
        if current is not None and current.status == "active":
            raise Conflict("you already have an active cameo; revoke it before enrolling again")
        item = self.intake.ingest(recording, declared_name)
        model = self.embedder.info.model_id
        threshold = match_threshold(model)
        if item.kind != "video":
            report = LivenessReport(
                code="not_a_video",
                reason="a still image is not a live recording; record a short video of yourself",
                challenge=list(steps),
            )
        else:
            frames = iter_frames(
                item.path,
                every_s=SAMPLE_EVERY_S,
                max_frames=int(self.config.media.max_video_seconds / SAMPLE_EVERY_S) + 1,
                limits=self.config.media,
                max_side=ENROL_MAX_SIDE,
            )
            report = check_recording(
                frames, self.models.liveness_face_detector, self.embedder, steps, threshold.value
            )
        permission = DEFAULT_PERMISSION["teen" if user.is_teen else "adult"]
        blobs = self.blobs
        check = {
            **report.to_dict(),
            "model": model,
            "detector": self.models.liveness_face_detector.info.model_id,
            "threshold_source": threshold.source,
        }
        with self.store.transaction() as tx:
            cameo = self.cameos.create(
                tx,
                user.id,
                status="active" if report.passed else "refused",
                permission=permission,
                reason=None if report.passed else report.reason,
                recording_sha256=item.sha256,
                challenge=steps,
            )
            if pending is not None:
                self.cameos.use_challenge(tx, pending.id, cameo.id)
            count = 0
            if report.passed:
                shas = [blobs.put(tx, _png(f.crop), "image/png").sha256 for f in report.frames]
                vectors = np.stack([f.embedding for f in report.frames])
                count = len(
                    add_likeness_vectors(
                        tx,
                        "cameo",
                        cameo.id,
                        model,
                        vectors,
                        source_sha256=shas,
                        source_t=[f.t for f in report.frames],
                        actor_id=user.id,
                    )
                )
        return EnrollResult(
            id=cameo.id,
            status=cameo.status,
            reason=cameo.reason,
            code=report.code,
            permission=permission if report.passed else None,
            embeddings=count,
            check=check,
        )

    def reembed(self, model: str | None = None) -> dict[str, Any]:
        """Embed every stored enrolment frame and photo with ``model`` (an embedder name).

        For a change of embedder: owners that already have vectors of the target
        model are skipped, so it is safe to run again. Old vectors stay (their
        own index) until their owner's data is deleted.
        """
        from detectors.faces import build_embedder

        config = self.config
        embedder = (
            self.embedder
            if model is None
            else build_embedder(model, config.models_dir, config.threads)
        )
        target = embedder.info.model_id
        blobs = self.blobs
        rows = self.store.query(
            "SELECT owner_kind, owner_id, source_sha256, source_t FROM likeness_vectors v "
            "WHERE source_sha256 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM likeness_vectors w "
            "WHERE w.owner_kind = v.owner_kind AND w.owner_id = v.owner_id AND w.model_id = ?) "
            "ORDER BY owner_kind, owner_id, source_t",
            [target],
        )
        grouped: dict[tuple[str, str], dict[str, float | None]] = {}
        for kind, owner, sha, t in rows:
            grouped.setdefault((str(kind), str(owner)), {})[str(sha)] = t
        done, failed = 0, []
        for (kind, owner), sources in grouped.items():
            vectors, shas, times = [], [], []
            for sha, t in sources.items():
                try:
                    rgb = load_image(blobs.path(sha), self.config.media)
                    _, vec = embed_largest(rgb, self.models.face_detector, embedder, "stored frame")
                except (DetectorError, OSError) as exc:
                    failed.append({"owner": owner, "source": sha[:12], "error": str(exc)})
                    continue
                vectors.append(vec)
                shas.append(sha)
                times.append(t)
            if vectors:
                with self.store.transaction() as tx:
                    add_likeness_vectors(
                        tx,
                        kind,
                        owner,
                        target,
                        np.stack(vectors),
                        source_sha256=shas,
                        source_t=times,
                    )
                done += 1
        return {"model": target, "owners": done, "failed": failed}

    # -- permissions and consent ---------------------------------------------------------

    def set_permission(self, owner: User, permission: str) -> Cameo:
        cameo = self.cameo_of(owner)
        with self.store.transaction() as tx:
            self.cameos.set_permission(
                tx, cameo, permission, is_teen=owner.is_teen, actor_id=owner.id
            )
        return self.cameos.get(cameo.id)

    def grant(self, owner: User, grantee: User | str) -> Cameo:
        return self._grant(owner, grantee, True)

    def ungrant(self, owner: User, grantee: User | str) -> Cameo:
        return self._grant(owner, grantee, False)

    def _grant(self, owner: User, grantee: User | str, granted: bool) -> Cameo:
        cameo = self.cameo_of(owner)
        other = self._user(grantee)
        with self.store.transaction() as tx:
            self.cameos.set_grant(tx, cameo, other.id, granted, actor_id=owner.id)
        return self.cameos.get(cameo.id)

    def consent(self, creator: User | None, cameo: Cameo | str) -> ConsentResult:
        """May ``creator`` put this cameo in a clip? Always with the reason."""
        if isinstance(cameo, str):
            cameo = self.cameos.get(cameo)
        cid = cameo.id
        if cameo.status == "revoked":
            return ConsentResult(False, "revoked", "the owner revoked this cameo", cid)
        if cameo.status == "deleted":
            return ConsentResult(False, "revoked", "the owner deleted this cameo", cid)
        if cameo.status != "active":
            return ConsentResult(False, "denied", "this cameo was never enrolled", cid)
        if creator is None:
            return ConsentResult(False, "denied", "an anonymous creator has no consent", cid)
        if creator.id == cameo.user_id:
            return ConsentResult(True, "granted", "your own cameo", cid)
        owner = self.users.get(cameo.user_id)
        permission = cameo.permission
        if owner.is_teen:
            # The teen rule (adults who are not mutuals, a guardian's cap) lives in one
            # place, the teen service; its reason names the owner's age, which is theirs to
            # share, so the creator gets the same rule in words that do not.
            from pipeline.teens import stricter

            allowed, _ = self.teens.cameo_use_allowed(owner, creator)
            cap = self.teens.effective(owner)["cameo_permission"]
            if not allowed:
                why = (
                    "the owner keeps this cameo to themselves"
                    if cap == "only_me"
                    else "this cameo is limited to mutual followers"
                )
                return ConsentResult(False, "denied", why, cid)
            permission = stricter("cameo_permission", permission, cap)
        mutual = self.users.are_mutuals(creator.id, owner.id)
        if permission == "only_me":
            return ConsentResult(False, "denied", "the owner keeps this cameo to themselves", cid)
        if creator.id in cameo.grants:
            return ConsentResult(True, "granted", "the owner approved you", cid)
        if permission == "everyone":
            return ConsentResult(True, "granted", "the owner allows everyone", cid)
        if permission == "mutuals" and mutual:
            return ConsentResult(True, "granted", "you and the owner follow each other", cid)
        if permission == "mutuals":
            return ConsentResult(False, "denied", "only mutual followers may use this cameo", cid)
        return ConsentResult(False, "denied", "only people the owner approved may use it", cid)

    def consent_for_handle(self, creator: User, handle: str) -> ConsentResult:
        user = self._user(handle)
        cameo = self.cameos.current(user.id)
        if cameo is None:
            return ConsentResult(False, "denied", f"@{user.handle} has no cameo")
        return self.consent(creator, cameo)

    # -- revocation -----------------------------------------------------------------------

    def matched_clips(self, cameo_id: str) -> list[dict[str, Any]]:
        return self.store.query_dicts(
            "SELECT s.id AS signal_id, sc.id AS scan_id, sc.stage, sc.created_at, sc.clip_id, "
            "c.status, c.creator_id, u.handle AS creator, s.data "
            "FROM signals s JOIN scans sc ON s.scan_id = sc.id "
            "LEFT JOIN clips c ON c.id = sc.clip_id LEFT JOIN users u ON u.id = "
            "coalesce(c.creator_id, json_extract_string(sc.context, '$.creator.id')) "
            "WHERE s.kind = 'likeness.match' AND json_extract_string(s.data, '$.cameo_id') = ? "
            "ORDER BY sc.created_at",
            [cameo_id],
        )

    def revoke(self, owner: User) -> dict[str, Any]:
        """Revoke at once; every live clip that matched goes to the takedown queue and a job."""
        cameo = self.cameo_of(owner)
        live = sorted(
            {
                str(r["clip_id"])
                for r in self.matched_clips(cameo.id)
                if r["clip_id"] and r["status"] in LIVE_STATUSES
            }
        )
        items: list[str] = []
        with self.store.transaction() as tx:
            job_id = jobs.enqueue(
                tx,
                TAKEDOWN_JOB,
                {"cameo_id": cameo.id, "clip_ids": live},
                idempotency_key=f"takedown:{cameo.id}",
                actor_id=owner.id,
            )
            for clip_id in live:
                # Out of every feed now, in this transaction; the job decides the rest.
                current = tx.execute("SELECT status FROM clips WHERE id = ?", [clip_id]).fetchone()
                if current is not None and current[0] == "published":
                    clip_rows.set_status(tx, clip_id, "queued", owner.id)
                opened = open_or_escalate(
                    tx,
                    clip_id,
                    None,
                    QueueRequest(TAKEDOWN_QUEUE, TAKEDOWN_PRIORITY, "cameo_revoked"),
                    owner.id,
                )
                items.append(opened.item_id)
            self.cameos.revoke(
                tx, cameo, actor_id=owner.id, takedown_job_id=job_id, live_clips=len(live)
            )
        return {
            "cameo_id": cameo.id,
            "status": "revoked",
            "takedown_job_id": job_id,
            "live_clips": live,
            "queue_items": items,
        }

    def delete_likeness_data(self, owner: User) -> dict[str, Any]:
        """Remove the owner's face vectors, enrolment frames and recordings (a separate, explicit act).

        Afterwards their cameos are ``deleted`` and no longer matched at all.
        """
        with self.store.transaction() as tx:
            return self.cameos.delete_likeness_data(tx, owner.id, self.blobs, actor_id=owner.id)

    def clips_using(self, owner: User) -> list[dict[str, Any]]:
        """Every scan that found or requested the owner's cameo: others' drafts and blocked attempts too."""
        out: list[dict[str, Any]] = []
        for cameo in self.cameos.history(owner.id):
            if cameo.status == "refused":
                continue
            for row in self.matched_clips(cameo.id):
                data = _loads(row["data"]) or {}
                decision = self.store.query(
                    "SELECT outcome FROM decisions WHERE scan_id = ? ORDER BY created_at DESC "
                    "LIMIT 1",
                    [row["scan_id"]],
                )
                out.append(
                    {
                        "cameo_id": cameo.id,
                        "clip_id": row["clip_id"],
                        "scan_id": row["scan_id"],
                        "stage": row["stage"],
                        "creator": row["creator"],
                        "status": row["status"],
                        "outcome": decision[0][0] if decision else None,
                        "consent": data.get("consent"),
                        "similarity": data.get("similarity"),
                        "start_s": data.get("start_s"),
                        "end_s": data.get("end_s"),
                        "requested": bool(data.get("requested")),
                        "at": row["created_at"].isoformat() if row["created_at"] else None,
                    }
                )
        return out

    # -- protected likenesses ------------------------------------------------------------------

    def protect(
        self, admin: User | None, name: str, images: Sequence[Path | bytes]
    ) -> ProtectedLikeness:
        """Register a protected likeness from photos (no live check); every photo needs a face."""
        if not images:
            raise ValueError("give at least one photo")
        if len(images) > 20:
            raise ValueError("at most 20 photos per protected likeness")
        blobs = self.blobs
        vectors: list[np.ndarray] = []
        raw: list[bytes] = []
        for n, image in enumerate(images, 1):
            data = Path(image).read_bytes() if isinstance(image, Path) else bytes(image)
            rgb = load_image(data, self.config.media)
            try:
                _, vec = embed_largest(rgb, self.models.face_detector, self.embedder, f"photo {n}")
            except NoFaceFound as exc:
                raise MediaError(str(exc)) from None
            vectors.append(vec)
            raw.append(data)
        model = self.embedder.info.model_id
        with self.store.transaction() as tx:
            likeness_id = self.cameos.add_protected(
                tx, name, len(raw), actor_id=admin.id if admin else None
            )
            shas = [blobs.put(tx, data, None).sha256 for data in raw]
            add_likeness_vectors(
                tx,
                "protected",
                likeness_id,
                model,
                np.stack(vectors),
                source_sha256=shas,
                actor_id=admin.id if admin else None,
            )
        return self.cameos.protected(likeness_id)

    # -- matching ---------------------------------------------------------------------------

    def _owner_mean(self, kind: str, owner_id: str, model: str) -> np.ndarray | None:
        rows = self.store.query(
            "SELECT vector FROM likeness_vectors WHERE owner_kind = ? AND owner_id = ? "
            "AND model_id = ?",
            [kind, owner_id, model],
        )
        if not rows:
            return None
        return _unit(np.asarray([r[0] for r in rows], dtype=np.float32).mean(axis=0))

    def candidates(
        self, embeddings: np.ndarray, model: str, *, reference: bool = False
    ) -> set[tuple[str, str]]:
        """Owners (kind, id) near any of ``embeddings``: the faiss index, or brute force."""
        if embeddings.size == 0:
            return set()
        if not reference:
            hits = self.catalog.search(OWNER_KINDS, model, embeddings, CANDIDATES_PER_EMBEDDING)
            return {(h.owner_kind, h.owner_id) for row in hits for h in row}
        rows = self.store.query(
            "SELECT id, owner_kind, owner_id, vector FROM likeness_vectors WHERE model_id = ? "
            "ORDER BY id",
            [model],
        )
        if not rows:
            return set()
        index = BruteForceIndex(len(rows[0][3]))
        index.add([str(r[0]) for r in rows], np.asarray([r[3] for r in rows], np.float32))
        owner_of = {str(r[0]): (str(r[1]), str(r[2])) for r in rows}
        return {
            owner_of[vid]
            for row in index.search(embeddings, CANDIDATES_PER_EMBEDDING)
            for vid, _ in row
        }

    def match_media(
        self, frames: Sequence[Frame], *, reference: bool = False
    ) -> list[LikenessMatch]:
        """Cameos and protected likenesses in these frames, one match per person with time range."""
        return self.match_faces(frames, reference=reference).matches

    def match_faces(
        self,
        frames: Sequence[Frame],
        *,
        reference: bool = False,
        memo: FrameMemo | None = None,
        tracks: list[FaceTrack] | None = None,
    ) -> FaceMatches:
        """:meth:`match_media` plus the face tracks it matched on and their nearest likeness.

        ``memo`` (a scan's): face detections shared with the scan's other sources.
        ``tracks``: the frames' face tracks when already computed (:class:`FaceTracks`,
        perhaps on a Ray actor); else they are computed here.
        """
        if not frames:
            return FaceMatches([], [], {}, "", 1.0)
        detector = self.face_tracks.detector(frames)
        if tracks is None:
            tracks = self.face_tracks.track(frames, memo)
        model = self.embedder.info.model_id
        threshold = match_threshold(model)
        found: dict[tuple[str, str], LikenessMatch] = {}
        nearest: dict[int, float] = {}
        for track in tracks:
            if track.embeddings.size == 0:
                continue
            mean = _unit(track.embeddings.mean(axis=0))
            for kind, owner_id in sorted(
                self.candidates(track.embeddings, model, reference=reference)
            ):
                owner_mean = self._owner_mean(kind, owner_id, model)
                if owner_mean is None:
                    continue
                sim = float(np.clip(mean @ owner_mean, -1.0, 1.0))
                nearest[track.id] = max(nearest.get(track.id, -1.0), sim)
                if sim < threshold.value:
                    continue
                segment = {
                    "track": track.id,
                    "start_s": round(track.start_s, 3),
                    "end_s": round(track.end_s, 3),
                    "similarity": round(sim, 4),
                    "box": track.explanation().details.get("best_box"),
                }
                match = found.get((kind, owner_id))
                if match is None:
                    found[(kind, owner_id)] = LikenessMatch(
                        kind,
                        owner_id,
                        "",
                        "",
                        sim,
                        threshold.value,
                        track.start_s,
                        track.end_s,
                        model,
                        [segment],
                    )
                else:
                    match.similarity = max(match.similarity, sim)
                    match.start_s = min(match.start_s, track.start_s)
                    match.end_s = max(match.end_s, track.end_s)
                    match.tracks.append(segment)
        out = []
        for (kind, owner_id), match in found.items():
            try:
                if kind == "cameo":
                    cameo = self.cameos.get(owner_id)
                    match.owner = cameo.user_id
                    match.name = "@" + self.users.get(cameo.user_id).handle
                else:
                    match.name = self.cameos.protected(owner_id).name
            except NotFound:
                continue  # removed since the index was built
            match.explanation = Explanation(
                model_id=model,
                method=(
                    "face tracks over sampled frames; faiss candidates; cosine of the track's "
                    "mean embedding and the likeness's mean stored embedding"
                ),
                score=match.similarity,
                threshold=threshold.value,
                details={
                    "detector": detector.info.model_id,
                    "threshold_source": threshold.source,
                    "tracks": match.tracks,
                },
            )
            out.append(match)
        out.sort(key=lambda m: (m.start_s, -m.similarity))
        return FaceMatches(out, tracks, nearest, detector.info.model_id, threshold.value)

    def match_file(
        self, media: Path | bytes, declared_name: str | None = None
    ) -> list[LikenessMatch]:
        """Match an uploaded image or video (validated and stored like any upload)."""

        item = self.intake.ingest(media, declared_name)
        return self.match_media(keyframes(item, limits=self.config.media))

    # -- the gate's SignalSource -----------------------------------------------------------------

    def signals(self, scan: ScanInput) -> list[Signal]:
        if scan.stage == "prompt":
            return [self._request_signal(scan.creator, handle) for handle in scan.requested_cameos]
        if not scan.frames:
            return []
        out = []
        tracks = scan.feature(self.face_tracks)
        found = self.match_faces(scan.frames, memo=scan.memo, tracks=tracks)
        for match in found.matches:
            if match.kind == "cameo":
                consent = self.consent(scan.creator, match.id)
            else:
                consent = ConsentResult(
                    False, "not_applicable", "a protected likeness is never usable in a clip"
                )
            assert match.explanation is not None
            out.append(
                Signal(
                    kind="likeness.match",
                    model_id=match.model,
                    data={
                        "match_kind": match.kind,
                        "cameo_id": match.id,
                        "owner": match.owner,
                        "name": match.name,
                        "similarity": round(match.similarity, 4),
                        "threshold": match.threshold,
                        "consent": consent.consent,
                        "consent_reason": consent.reason,
                        "start_s": round(match.start_s, 3),
                        "end_s": round(match.end_s, 3),
                        "tracks": match.tracks,
                    },
                    explanation=match.explanation,
                )
            )
        # Faces nobody's likeness accounts for: the policy decides what a real one means.
        return out + unknown_face_signals(found, scan.frames)

    def _request_signal(self, creator: User | None, handle: str) -> Signal:
        cameo: Cameo | None = None
        owner_id, name = "", "@" + str(handle).lstrip("@")
        try:
            user = self._user(handle)
            owner_id, name = user.id, "@" + user.handle
            cameo = self.cameos.current(user.id)
        except NotFound:
            pass
        if cameo is None:
            consent = ConsentResult(False, "denied", f"{name} has no cameo")
        else:
            consent = self.consent(creator, cameo)
        return Signal(
            kind="likeness.match",
            model_id=CONSENT_MODEL,
            data={
                "match_kind": "cameo",
                "cameo_id": cameo.id if cameo else "",
                "owner": owner_id,
                "name": name,
                "similarity": 1.0,
                "threshold": 1.0,
                "consent": consent.consent,
                "consent_reason": consent.reason,
                "requested": True,
                "start_s": 0.0,
                "end_s": 0.0,
            },
            explanation=Explanation(
                model_id=CONSENT_MODEL,
                method="the creator asked for this cameo by handle; consent checked",
                score=1.0,
                threshold=1.0,
                details={"consent": consent.consent, "reason": consent.reason},
            ),
        )

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        likeness = []
        unknown = []
        required, granted = 0, 0
        missing: list[str] = []
        revoked: list[str] = []
        for s in signals:
            d = s.data
            if s.kind == UNKNOWN_FACE_KIND:
                unknown.append(
                    {
                        "track": d["track"],
                        "score": d["score"],
                        "flat_fraction": d["flat_fraction"] or 0.0,
                        "photorealistic": d["photorealistic"],
                        "nearest_similarity": d["nearest_similarity"] or 0.0,
                        "start_s": d["start_s"],
                        "end_s": d["end_s"],
                        "detector": d["detector"],
                    }
                )
                continue
            likeness.append(
                {
                    "kind": d["match_kind"],
                    "cameo_id": d["cameo_id"],
                    "owner": d["owner"],
                    "name": d["name"],
                    "similarity": d["similarity"],
                    "threshold": d["threshold"],
                    "consent": d["consent"],
                    "start_s": d["start_s"],
                    "end_s": d["end_s"],
                    "model": s.model_id,
                }
            )
            if d["match_kind"] != "cameo":
                continue
            required += 1
            key = d["cameo_id"] or d["name"]
            if d["consent"] == "granted":
                granted += 1
            elif d["consent"] == "revoked":
                revoked.append(key)
            else:
                missing.append(key)
        part: dict[str, Any] = {"likeness": likeness}
        if unknown:
            part["unknown_face"] = unknown
        return {
            **part,
            "context": {
                "consent": {
                    "required": required,
                    "granted": granted,
                    "missing": missing,
                    "revoked": revoked,
                }
            },
        }
