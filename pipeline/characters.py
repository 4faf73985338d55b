"""The characters registry in the product: register/edit/remove characters, check prompts and frames, feed the gate.

:class:`CharacterService` joins the registry's
rows (:mod:`store.characters`) and blobs with the detectors
(:mod:`detectors.characters`). The detectors are built once, on first use,
from every live character; after that each register/update/remove is applied
to them incrementally under a lock, so the next check sees it without a
restart. It is also the gate's :class:`~pipeline.sources.SignalSource`:
``character.match`` signals from the prompt (any stage with one) and from
keyframes (media stages), each carrying the character's current policy.

Who may see what: a rights holder sees and manages only their own characters
(anyone else's is "not found", so existence is not revealed); admins manage
all; moderators read all. Matches shown to a rights holder carry the evidence
but not the clip creator's identity.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectors.base import DetectorError, Signal
from detectors.characters import (
    SIGNAL_KIND,
    CharacterDetectors,
    CharacterMatch,
    CharacterRef,
    build_character_detectors,
)
from detectors.text_normalise import BudgetedResult
from pipeline.media import Frame, iter_frames, load_image, sniff
from pipeline.sources import ScanInput
from store.blobs import BlobStore
from store.characters import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_REFS,
    CharacterInputError,
    CharacterRecord,
    Characters,
    check_policy,
    clean_aliases,
    clean_attribution,
    clean_text,
)
from store.db import NotFound, now
from store.events import CharacterDisputed
from store.queue import QueueRequest, open_or_escalate
from store.users import User

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from store.db import Store

log = logging.getLogger("greenroom.characters")

MEDIA_STAGES = ("output", "upload", "remix", "report")
DISPUTE_QUEUE = "rights_disputes"
DISPUTE_PRIORITY = 40  # due within 24 hours (store.queue.due_in)
MAX_DISPUTE_CHARS = 2000
STAFF_ROLES = ("admin", "moderator")
MANAGER_ROLES = ("admin", "rights_holder")
# Keyframes of a clip checked per scan; copy detection costs ~0.5 s a frame.
MAX_FRAMES = 24
VIDEO_EVERY_S = 1.0


@dataclass(frozen=True)
class RefUpload:
    """One reference image as received (bytes and the name the client gave it)."""

    data: bytes
    filename: str | None = None


def _policy_view(m: CharacterMatch, policy: str) -> dict[str, Any]:
    return {
        "character_id": m.character_id,
        "name": m.name,
        "policy": policy,
        "score": m.score,
        "threshold": m.threshold,
        "source": "image" if m.backend.startswith("image.") else "prompt",
        "backend": m.backend,
    }


def _strength(m: CharacterMatch) -> float:
    return m.score / max(m.threshold, 1e-9)


@dataclass(frozen=True)
class KeyframeCharacterFeatures:
    """Each checked keyframe's image-backend features, and the backends that made them."""

    signature: tuple[str, ...]
    frames: list[list[Any]]

    @classmethod
    def of(cls, det: CharacterDetectors, frames: Sequence[Frame]) -> KeyframeCharacterFeatures:
        """``det``'s features of the first :data:`MAX_FRAMES` of ``frames`` (the ones checked)."""
        return cls(det.image_signature, [det.image_features(f.rgb) for f in frames[:MAX_FRAMES]])


class CharacterFeatures:
    """The characters source's store-free step (:class:`pipeline.sources.FeatureStep`).

    The copy detector's window hashes and ORB keypoints and CLIP's embedding
    of a keyframe depend on the keyframe and the backends' settings, not on
    the registry: a Ray actor computes them with backends that hold no
    character, and the server matches them against the registry (the
    ``signature`` says which backends made them; a mismatch is computed again
    here). Only the first :data:`MAX_FRAMES` keyframes, as the check reads.
    """

    name = "keyframe_characters"

    def __init__(self, detectors: Callable[[], CharacterDetectors]) -> None:
        self._detectors = detectors

    def compute(self, scan: ScanInput) -> KeyframeCharacterFeatures:
        return KeyframeCharacterFeatures.of(self._detectors(), scan.frames)


def character_features_for(config: PipelineConfig) -> CharacterFeatures:
    """The step as a process without a store runs it: image backends with no character, built once."""
    lock = threading.Lock()
    built: list[CharacterDetectors] = []

    def detectors() -> CharacterDetectors:
        with lock:
            if not built:
                built.append(
                    build_character_detectors(
                        [],
                        config.models_dir,
                        semantic=False,  # the prompt matcher is not part of the step
                        use_clip=config.image_text_model != "none",
                        threads=config.threads,
                    )
                )
            return built[0]

    return CharacterFeatures(detectors)


class CharacterService:
    """The registry's operations, the detectors built from it, and the gate's character source."""

    name = "characters"

    def __init__(self, store: Store, blobs: BlobStore, config: PipelineConfig) -> None:
        self.store = store
        self.blobs = blobs
        self.config = config
        self.repo = Characters(store)
        self._lock = threading.RLock()
        self._detectors: CharacterDetectors | None = None
        # character id -> (owner id, policy) for the live characters the detectors hold.
        self._live: dict[str, tuple[str, str]] = {}
        # True once the registry was read empty and nothing was registered since (every
        # registration goes through this service, in the one process that owns the store):
        # until the first character, a check answers from memory, not with a query apiece.
        self._none_registered = False
        self.feature_step = CharacterFeatures(lambda: self.detectors)

    # -- detectors -------------------------------------------------------------------------

    def _ref_of(self, rec: CharacterRecord) -> CharacterRef:
        images = []
        for r in rec.refs:
            # Already validated on upload; decoded again because only the bytes are stored.
            images.append(load_image(self.blobs.read_bytes(r.sha256), self.config.media))
        return CharacterRef(rec.id, rec.name, rec.aliases, rec.description, tuple(images))

    @property
    def detectors(self) -> CharacterDetectors:
        """Built on first use from every live character (models load here, once per process)."""
        with self._lock:
            if self._detectors is None:
                s = self.config
                records = self.repo.records()
                self._detectors = build_character_detectors(
                    [self._ref_of(r) for r in records],
                    s.models_dir,
                    semantic=s.text_embedder != "none",
                    use_clip=s.image_text_model != "none",
                    threads=s.threads,
                )
                self._detectors.prompt.max_prompt_chars = s.max_prompt_chars
                self._live = {r.id: (r.owner_id, r.policy) for r in records}
            return self._detectors

    def _apply(self, rec: CharacterRecord | None, removed_id: str | None = None) -> None:
        """Mirror one committed change into the detectors, if they are built (else the build reads it)."""
        with self._lock:
            if rec is not None:
                self._none_registered = False
            if self._detectors is None:
                return
            if removed_id is not None:
                self._detectors.remove(removed_id)
                self._live.pop(removed_id, None)
            if rec is not None:
                self._detectors.add(self._ref_of(rec))
                self._live[rec.id] = (rec.owner_id, rec.policy)

    # -- access ----------------------------------------------------------------------------

    def visible(
        self, character_id: str, user: User | None, *, manage: bool = False
    ) -> CharacterRecord:
        """The character if ``user`` may see it (``manage``: change it); NotFound otherwise.

        ``user`` None is the system (CLI direct mode, seeders). Another rights
        holder's character is reported as not found, like a missing one.
        """
        rec = self.repo.get(character_id)
        if user is None or user.role == "admin" or rec.owner_id == user.id:
            return rec
        if not manage and user.role == "moderator":
            return rec
        raise NotFound(f"no character {str(character_id)[:64]}")

    def listing(
        self,
        user: User | None,
        owner_id: str | None = None,
        *,
        limit: int = 10_000,
        offset: int = 0,
    ) -> list[CharacterRecord]:
        """Staff (and the system) see all, optionally one owner's; a rights holder only their own."""
        if user is not None and user.role not in STAFF_ROLES:
            owner_id = user.id
        return self.repo.records(owner_id, limit=limit, offset=offset)

    # -- writing ---------------------------------------------------------------------------

    def _decode_refs(self, refs: Sequence[RefUpload]) -> list[tuple[RefUpload, int, int, str]]:
        """Validate every image before anything is written: one bad file refuses them all."""
        if len(refs) > MAX_REFS:
            raise CharacterInputError(f"{len(refs)} reference images; the limit is {MAX_REFS}")
        out = []
        for i, ref in enumerate(refs):
            label = f"reference image {i + 1}" + (f" ({ref.filename[:80]})" if ref.filename else "")
            sniffed = sniff(ref.data)
            if sniffed.kind != "image":
                raise CharacterInputError(f"{label} is not an image (PNG, JPEG, GIF, WebP, ...)")
            try:
                rgb = load_image(ref.data, self.config.media)
                CharacterRef("check", "check", reference_images=(rgb,))
            except DetectorError as exc:
                raise CharacterInputError(f"{label}: {exc}") from None
            out.append((ref, int(rgb.shape[1]), int(rgb.shape[0]), sniffed.media_type))
        return out

    def register(
        self,
        actor: User | None,
        owner: User,
        *,
        name: str,
        aliases: Sequence[str] = (),
        description: str | None = None,
        policy: str | None = None,
        refs: Sequence[RefUpload] = (),
        attribution: str | None = None,
    ) -> CharacterRecord:
        """Register a character for ``owner`` (a rights holder); policy ``block`` unless given.

        ``attribution``: the text shown on clips when the policy is
        ``allow_with_attribution`` (None or empty: the default sentence).
        """
        if owner.role != "rights_holder":
            raise CharacterInputError(
                f"{owner.handle} is not a rights holder; characters belong to rights holders"
            )
        if actor is not None and actor.role != "admin" and actor.id != owner.id:
            raise NotFound(f"no rights holder {owner.handle}")
        clean_name = clean_text(name, "name", MAX_NAME_CHARS, required=True)
        clean_al = clean_aliases(aliases, clean_name)
        desc = clean_text(description, "description", MAX_DESCRIPTION_CHARS, required=False)
        pol = check_policy(policy if policy is not None else "block")
        credit = clean_attribution(attribution)
        decoded = self._decode_refs(refs)
        with self.store.transaction() as tx:
            cid = self.repo.create(
                tx,
                owner_id=owner.id,
                name=clean_name,
                aliases=clean_al,
                description=desc,
                policy=pol,
                actor_id=actor.id if actor else None,
                refs=len(decoded),
                attribution=credit,
            )
            self._store_refs(tx, cid, decoded, actor)
        rec = self.repo.get(cid)
        self._apply(rec)
        return rec

    def _store_refs(
        self, tx: Any, cid: str, decoded: list[tuple[RefUpload, int, int, str]], actor: User | None
    ) -> list[str]:
        added = []
        for ref, width, height, media_type in decoded:
            blob = self.blobs.put(tx, ref.data, media_type)
            rid = self.repo.add_ref(
                tx, cid, blob, width=width, height=height, actor_id=actor.id if actor else None
            )
            if rid is not None:
                added.append(rid)
        return added

    def add_refs(
        self, actor: User | None, character_id: str, refs: Sequence[RefUpload]
    ) -> tuple[CharacterRecord, list[str]]:
        """Attach reference images (all or none); returns the character and the new ref ids."""
        rec = self.visible(character_id, actor, manage=True)
        if not refs:
            raise CharacterInputError("no reference images given")
        decoded = self._decode_refs(refs)
        with self.store.transaction() as tx:
            added = self._store_refs(tx, rec.id, decoded, actor)
        rec = self.repo.get(rec.id)
        if added:
            self._apply(rec, removed_id=rec.id)
        return rec, added

    def update(
        self, actor: User | None, character_id: str, changes: dict[str, Any]
    ) -> tuple[CharacterRecord, dict[str, Any]]:
        """Change name, aliases, description, policy and/or attribution (empty: the default).

        Returns the character and field -> [old, new].
        """
        rec = self.visible(character_id, actor, manage=True)
        unknown = set(changes) - {"name", "aliases", "description", "policy", "attribution"}
        if unknown:
            raise CharacterInputError(f"cannot change {', '.join(sorted(unknown))}")
        clean: dict[str, Any] = {}
        if changes.get("name") is not None:
            clean["name"] = clean_text(changes["name"], "name", MAX_NAME_CHARS, required=True)
        name = clean.get("name", rec.name)
        if changes.get("aliases") is not None:
            clean["aliases"] = clean_aliases(changes["aliases"], name)
        elif "name" in clean:
            clean["aliases"] = clean_aliases(rec.aliases, name)
        if changes.get("description") is not None:
            clean["description"] = clean_text(
                changes["description"], "description", MAX_DESCRIPTION_CHARS, required=False
            )
        if changes.get("policy") is not None:
            clean["policy"] = check_policy(changes["policy"])
        if changes.get("attribution") is not None:
            clean["attribution"] = clean_attribution(changes["attribution"])
        with self.store.transaction() as tx:
            diff = self.repo.update(tx, rec, clean, actor.id if actor else None)
        rec = self.repo.get(rec.id)
        if diff:
            with self._lock:
                if set(diff) <= {"policy", "attribution"} and self._detectors is not None:
                    # Policy is read at signal time, attribution at display; no matcher rebuild.
                    self._live[rec.id] = (rec.owner_id, rec.policy)
                else:
                    self._apply(rec, removed_id=rec.id)
        return rec, diff

    def remove(self, actor: User | None, character_id: str) -> CharacterRecord:
        """Soft-delete: no longer matched from the next check on; history keeps its evidence."""
        rec = self.visible(character_id, actor, manage=True)
        with self.store.transaction() as tx:
            self.repo.remove(tx, rec.id, actor.id if actor else None)
        self._apply(None, removed_id=rec.id)
        return rec

    # -- checking --------------------------------------------------------------------------

    def check(
        self,
        prompt: str | None = None,
        frames: Sequence[Frame] = (),
        features: KeyframeCharacterFeatures | None = None,
    ) -> list[CharacterMatch]:
        """Registered characters in a prompt and/or frames; per character and source the best match.

        ``features``: the frames' :class:`CharacterFeatures`, when computed
        elsewhere (used if the same backends made them, else computed here).
        """
        if prompt is None and not frames:
            raise DetectorError("nothing to check: give a prompt, an image, or both")
        det = self.detectors
        found: dict[tuple[str, str], tuple[CharacterMatch, list[float]]] = {}
        with self._lock:
            prompt_matches = det.prompt.check(prompt) if prompt is not None else []
        if isinstance(prompt_matches, BudgetedResult):
            # A name check cut short by its work budget fails loudly (the gate forces review).
            prompt_matches.raise_if_exhausted("character name check")
        # Outside the lock, so two scans' keyframes are checked at once: each image backend
        # is safe beside another check and beside a registration (the copy detector reads a
        # snapshot of its references and makes its own ORB; CLIP locks its forward pass and
        # index), and a character registered meanwhile is seen whole or not at all.
        checked = frames[:MAX_FRAMES]
        if (
            features is None
            or features.signature != det.image_signature
            or len(features.frames) != len(checked)
        ):
            if features is not None:
                log.warning(
                    "keyframe character features from other backends (%s, here %s): computed here",
                    features.signature,
                    det.image_signature,
                )
            features = KeyframeCharacterFeatures.of(det, checked)
        image_matches = [
            m for f, feats in zip(checked, features.frames, strict=True)
            for m in det.match_image(feats, f.t)
        ]  # fmt: skip
        for m in prompt_matches + image_matches:
            key = (m.character_id, "image" if m.backend.startswith("image.") else "prompt")
            t = m.evidence.get("t")
            prev = found.get(key)
            times = (prev[1] if prev else []) + ([t] if isinstance(t, int | float) else [])
            best = m if prev is None or _strength(m) > _strength(prev[0]) else prev[0]
            found[key] = (best, times)
        out = []
        for (_, source), (m, times) in found.items():
            if source == "image" and len(times) > 1:
                m = CharacterMatch(
                    m.character_id,
                    m.name,
                    m.score,
                    m.threshold,
                    m.backend,
                    {**m.evidence, "frames_matched": sorted(times)},
                    m.explanation,
                )
            out.append(m)
        out.sort(key=lambda m: (-_strength(m), m.character_id))
        return out

    def check_media(self, source: Path | bytes) -> list[Frame]:
        """Decode an image (or sample a video file) into frames for :meth:`check`."""
        kind = sniff(source).kind
        limits = self.config.media
        if kind == "image":
            return [Frame(t=0.0, rgb=load_image(source, limits))]
        if kind == "video" and isinstance(source, Path):
            frames = list(
                iter_frames(
                    source,
                    every_s=VIDEO_EVERY_S,
                    max_frames=MAX_FRAMES,
                    limits=limits,
                    max_side=1280,
                )
            )
            if frames:
                return frames
            raise CharacterInputError("the video has no decodable frames")
        raise CharacterInputError(
            "not an image" + (" or a video" if isinstance(source, Path) else "")
        )

    def policy_of(self, character_id: str) -> str:
        with self._lock:
            live = self._live.get(character_id)
        return live[1] if live else "block"

    def match_dict(self, m: CharacterMatch) -> dict[str, Any]:
        """The CLI/API shape of a match (CLI.md keys) plus the policy and source."""
        view = _policy_view(m, self.policy_of(m.character_id))
        return {**m.to_dict(), "policy": view["policy"], "source": view["source"]}

    # -- the gate's source -------------------------------------------------------------------------

    def signals(self, scan: ScanInput) -> list[Signal]:
        frames = scan.frames if scan.stage in MEDIA_STAGES else []
        if not scan.prompt and not frames:
            return []
        if not self._any_registered():
            return []  # no reason to load the models
        out = []
        features = scan.feature(self.feature_step) if frames else None
        for m in self.check(scan.prompt or None, frames, features):
            sig = m.to_signal()
            view = _policy_view(m, self.policy_of(m.character_id))
            # "found_in", not "source": the gate stamps each stored signal's "source" with ours.
            data = {**sig.data, "policy": view["policy"], "found_in": view["source"]}
            out.append(Signal(sig.kind, sig.model_id, data, sig.explanation))
        return out

    @property
    def needs(self) -> tuple[str, ...]:
        """The feature step, while any character is registered (else no keyframe is read)."""
        return (CharacterFeatures.name,) if self._any_registered() else ()

    def _any_registered(self) -> bool:
        if self._detectors is None:
            return not self._nothing_registered()
        return bool(self._live)

    def _nothing_registered(self) -> bool:
        with self._lock:
            if self._none_registered:
                return True
            # Read under the lock: a registration's _apply waits, so it cannot be lost between
            # this read and setting the flag.
            self._none_registered = not self.repo.records(limit=1)
            return self._none_registered

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        keys = ("character_id", "name", "policy", "score", "threshold", "backend")
        return {
            "character": [
                {**{k: s.data[k] for k in keys}, "source": s.data["found_in"]}
                for s in signals
                if s.kind == SIGNAL_KIND
            ]
        }

    # -- attribution on clips ---------------------------------------------------------------------

    def attribution(self, clip_id: str) -> list[dict[str, str]]:
        """``[{character_id, name, text}]`` when the clip's latest decision attributed characters."""
        return self.repo.attributions([clip_id]).get(clip_id, [])

    # -- matches and disputes ---------------------------------------------------------------------

    def matches_for(
        self, user: User | None, character_id: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Stored matches of the user's characters (staff: any), newest first, with evidence.

        Each row: the signal (score, threshold, backend, source, policy at the
        time, evidence, explanation), the scan's stage and time, the clip id
        and the policy engine's decision outcome. Not the clip's creator.
        """
        if character_id is not None:
            ids = [self.visible(character_id, user).id]
        elif user is None or user.role in STAFF_ROLES:
            ids = None
        else:
            ids = self.repo.ids_of(user.id)
            if not ids:
                return []
        sql = (
            "SELECT s.id AS signal_id, s.scan_id, s.data, sc.clip_id, sc.stage, sc.created_at, "
            "d.id AS decision_id, d.outcome FROM signals s JOIN scans sc ON sc.id = s.scan_id "
            "LEFT JOIN decisions d ON d.scan_id = s.scan_id AND d.decided_by IS NULL "
            "WHERE s.kind = ?"
        )
        params: list[Any] = [SIGNAL_KIND]
        if ids is not None:
            sql += " AND list_contains(?, json_extract_string(s.data, '$.character_id'))"
            params.append(ids)
        rows = self.store.query_dicts(
            sql + " ORDER BY sc.created_at DESC, s.id LIMIT ?", [*params, max(1, min(limit, 1000))]
        )
        out = []
        for r in rows:
            data = json.loads(r.pop("data")) if isinstance(r["data"], str) else r.pop("data")
            out.append(
                {
                    **r,
                    "character_id": data.get("character_id"),
                    "name": data.get("name"),
                    "score": data.get("score"),
                    "threshold": data.get("threshold"),
                    "backend": data.get("backend"),
                    "source": data.get("found_in"),
                    "policy": data.get("policy"),
                    "model": data.get("model"),
                    "evidence": data.get("evidence"),
                    "explanation": data.get("explanation"),
                }
            )
        return out

    def dispute(
        self,
        user: User | None,
        character_id: str,
        message: str,
        *,
        decision_id: str | None = None,
        clip_id: str | None = None,
    ) -> dict[str, Any]:
        """A rights holder contests a decision (or a clip's outcome) involving their character.

        Opens a ``rights_disputes`` queue item due in 24 hours, linked to the
        clip and decision so the moderator sees the evidence. ``matched``
        says whether the character was among the decision's signals (a
        dispute may also be about a miss).
        """
        from store.queue import due_in

        rec = self.visible(character_id, user, manage=True)
        text = clean_text(message, "message", MAX_DISPUTE_CHARS, required=True)
        if decision_id is None and clip_id is None:
            raise CharacterInputError("a dispute names a decision_id or a clip_id")
        scan_ids: list[str] = []
        if decision_id is not None:
            rows = self.store.query(
                "SELECT clip_id, scan_id FROM decisions WHERE id = ?", [str(decision_id)[:64]]
            )
            if not rows:
                raise NotFound(f"no decision {str(decision_id)[:64]}")
            if clip_id is not None and rows[0][0] not in (None, clip_id):
                raise CharacterInputError("that decision is not about that clip")
            clip_id = rows[0][0]
            scan_ids = [rows[0][1]] if rows[0][1] else []
        else:
            rows = self.store.query(
                "SELECT d.id, d.scan_id FROM decisions d WHERE d.clip_id = ? "
                "ORDER BY d.created_at DESC, d.id DESC LIMIT 1",
                [str(clip_id)[:64]],
            )
            if not rows and not self.store.query(
                "SELECT 1 FROM clips WHERE id = ?", [str(clip_id)[:64]]
            ):
                raise NotFound(f"no clip {str(clip_id)[:64]}")
            if rows:
                decision_id, scan_ids = rows[0][0], [rows[0][1]] if rows[0][1] else []
        matched = bool(
            scan_ids
            and self.store.query(
                "SELECT 1 FROM signals WHERE kind = ? AND list_contains(?, scan_id) "
                "AND json_extract_string(data, '$.character_id') = ? LIMIT 1",
                [SIGNAL_KIND, scan_ids, rec.id],
            )
        )
        at = now()
        reason = f"character dispute: {rec.name} ({'matched' if matched else 'not matched'})"
        with self.store.transaction() as tx:
            actor_id = user.id if user else None
            item_id = open_or_escalate(
                tx,
                clip_id,
                decision_id,
                QueueRequest(
                    DISPUTE_QUEUE,
                    DISPUTE_PRIORITY,
                    reason,
                    one_per_clip=False,
                ),
                actor_id,
            ).item_id
            dispute_id = self.repo.insert_dispute(
                tx,
                character_id=rec.id,
                owner_id=rec.owner_id,
                decision_id=decision_id,
                clip_id=clip_id,
                message=text,
                queue_item_id=item_id,
            )
            tx.audit(
                CharacterDisputed(
                    actor_id,
                    dispute_id=dispute_id,
                    character_id=rec.id,
                    decision_id=decision_id,
                    clip_id=clip_id,
                    queue_item_id=item_id,
                )
            )
        return {
            "id": dispute_id,
            "character_id": rec.id,
            "decision_id": decision_id,
            "clip_id": clip_id,
            "matched": matched,
            "queue": DISPUTE_QUEUE,
            "queue_item_id": item_id,
            "due_at": (at + due_in(DISPUTE_PRIORITY)).isoformat(),
            "status": "open",
        }

    def disputes(
        self, user: User | None, *, limit: int = 10_000, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Every dispute for staff (and the system); a rights holder only their own."""
        owner_id = None if user is None or user.role in STAFF_ROLES else user.id
        return self.repo.disputes(owner_id, limit=limit, offset=offset)
