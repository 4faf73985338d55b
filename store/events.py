"""Typed audit events: every state change is one of these, written in the same transaction.

Modelled on datasette's ``events.py``: an event is a small dataclass with a
stable ``name`` and the facts worth keeping. Add a subclass for each new kind
of change; the audit log stores ``name`` and :meth:`AuditEvent.payload`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class AuditEvent:
    """Base class. ``actor_id`` is the user who caused it (None: the system)."""

    name: ClassVar[str] = "event"
    subject_type: ClassVar[str | None] = None
    # The field naming the subject (``subject_id``); None: the event has no subject.
    subject_field: ClassVar[str | None] = None

    actor_id: str | None

    @property
    def subject_id(self) -> str | None:
        return getattr(self, self.subject_field) if self.subject_field else None

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("actor_id", None)
        return data


@dataclass(frozen=True)
class SchemaMigrated(AuditEvent):
    name: ClassVar[str] = "schema.migrated"
    version: int = 0
    migration: str = ""


@dataclass(frozen=True)
class UserCreated(AuditEvent):
    name: ClassVar[str] = "user.created"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    handle: str = ""
    role: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class UserUpdated(AuditEvent):
    name: ClassVar[str] = "user.updated"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class TokenIssued(AuditEvent):
    name: ClassVar[str] = "token.issued"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    token_id: str = ""
    label: str | None = None
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class TokenRevoked(AuditEvent):
    name: ClassVar[str] = "token.revoked"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    token_id: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class FollowChanged(AuditEvent):
    name: ClassVar[str] = "follow.changed"
    subject_type: ClassVar[str | None] = "user"
    follower_id: str = ""
    followee_id: str = ""
    following: bool = True
    subject_field: ClassVar[str | None] = "followee_id"


@dataclass(frozen=True)
class GuardianLinked(AuditEvent):
    name: ClassVar[str] = "guardian.linked"
    subject_type: ClassVar[str | None] = "user"
    guardian_id: str = ""
    teen_id: str = ""
    subject_field: ClassVar[str | None] = "teen_id"


@dataclass(frozen=True)
class BlobStored(AuditEvent):
    name: ClassVar[str] = "blob.stored"
    subject_type: ClassVar[str | None] = "blob"
    sha256: str = ""
    size: int = 0
    media_type: str | None = None
    subject_field: ClassVar[str | None] = "sha256"


@dataclass(frozen=True)
class JobEvent(AuditEvent):
    """A job changed state: enqueued, claimed, completed, failed, dead, reclaimed."""

    name: ClassVar[str] = "job.changed"
    subject_type: ClassVar[str | None] = "job"
    job_id: str = ""
    kind: str = ""
    transition: str = ""
    attempt: int = 0
    worker: str | None = None
    detail: str | None = None
    subject_field: ClassVar[str | None] = "job_id"


@dataclass(frozen=True)
class GenericEvent(AuditEvent):
    """For state changes whose typed class has not been written yet; prefer a subclass."""

    name: ClassVar[str] = "generic"
    event: str = ""
    subject: str | None = None
    kind: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    subject_field: ClassVar[str | None] = "subject"


@dataclass(frozen=True)
class LikenessVectorsAdded(AuditEvent):
    """Face vectors stored for a cameo or protected likeness (the faiss indexes follow)."""

    name: ClassVar[str] = "likeness.vectors_added"
    subject_type: ClassVar[str | None] = "likeness"
    owner_kind: str = ""
    owner_id: str = ""
    model_id: str = ""
    count: int = 0
    dim: int = 0
    subject_field: ClassVar[str | None] = "owner_id"


@dataclass(frozen=True)
class LikenessVectorsRemoved(AuditEvent):
    """Face vectors deleted for an owner (``model_id`` None: every model's)."""

    name: ClassVar[str] = "likeness.vectors_removed"
    subject_type: ClassVar[str | None] = "likeness"
    owner_kind: str = ""
    owner_id: str = ""
    model_id: str | None = None
    count: int = 0
    subject_field: ClassVar[str | None] = "owner_id"


# -- the gate: scans, decisions, clips, review queues, policy versions ---------------


@dataclass(frozen=True)
class ScanRecorded(AuditEvent):
    """The gate recorded a scan with its signals and the policy engine's decision."""

    name: ClassVar[str] = "scan.recorded"
    subject_type: ClassVar[str | None] = "clip"
    scan_id: str = ""
    clip_id: str | None = None
    stage: str = ""
    decision_id: str = ""
    outcome: str = ""
    policy_version: str = ""
    signals: int = 0

    @property
    def subject_id(self) -> str | None:
        return self.clip_id or self.scan_id


@dataclass(frozen=True)
class ClipStatusChanged(AuditEvent):
    """A clip was created or moved between draft/pending/queued/published/blocked/taken_down."""

    name: ClassVar[str] = "clip.status_changed"
    subject_type: ClassVar[str | None] = "clip"
    clip_id: str = ""
    previous: str | None = None
    status: str = ""
    audience: str = ""
    decision_id: str | None = None
    subject_field: ClassVar[str | None] = "clip_id"


@dataclass(frozen=True)
class QueueItemChanged(AuditEvent):
    """A review queue item was opened, claimed or resolved."""

    name: ClassVar[str] = "queue_item.changed"
    subject_type: ClassVar[str | None] = "queue_item"
    item_id: str = ""
    queue: str = ""
    transition: str = ""
    clip_id: str | None = None
    decision_id: str | None = None
    detail: str | None = None
    subject_field: ClassVar[str | None] = "item_id"


@dataclass(frozen=True)
class HumanDecisionRecorded(AuditEvent):
    """A moderator decided a queue item, with a reason."""

    name: ClassVar[str] = "decision.human"
    subject_type: ClassVar[str | None] = "clip"
    decision_id: str = ""
    clip_id: str | None = None
    outcome: str = ""
    reason: str = ""
    item_id: str | None = None
    subject_field: ClassVar[str | None] = "clip_id"


@dataclass(frozen=True)
class PolicyVersionSaved(AuditEvent):
    """A policy set was saved as a new immutable version."""

    name: ClassVar[str] = "policy.version_saved"
    subject_type: ClassVar[str | None] = "policy_version"
    version_id: str = ""
    seq: int = 0
    message: str = ""
    rules: int = 0
    subject_field: ClassVar[str | None] = "version_id"


@dataclass(frozen=True)
class PolicyStateChanged(AuditEvent):
    """The active or shadow policy version changed (activation, rollback, shadow on/off)."""

    name: ClassVar[str] = "policy.state_changed"
    subject_type: ClassVar[str | None] = "policy_version"
    key: str = ""
    version_id: str | None = None
    previous: str | None = None
    subject_field: ClassVar[str | None] = "version_id"


@dataclass(frozen=True)
class ClipFingerprinted(AuditEvent):
    """Own-output fingerprints (file sha256 + keyframe PDQ hashes) stored for one of our clips."""

    name: ClassVar[str] = "clip.fingerprinted"
    subject_type: ClassVar[str | None] = "clip"
    clip_id: str = ""
    sha256: str | None = None
    keyframes: int = 0
    model_id: str = ""
    subject_field: ClassVar[str | None] = "clip_id"


@dataclass(frozen=True)
class ClipSigned(AuditEvent):
    """A generated clip was watermarked and signed with a C2PA manifest; its media now is the signed file."""

    name: ClassVar[str] = "clip.signed"
    subject_type: ClassVar[str | None] = "clip"
    clip_id: str = ""
    manifest_id: str = ""
    sha256: str = ""
    decision_id: str | None = None
    model_id: str = ""
    signer: str | None = None
    development_certificate: bool = False
    parent_clip_id: str | None = None
    subject_field: ClassVar[str | None] = "clip_id"


@dataclass(frozen=True)
class CharacterRegistered(AuditEvent):
    """A rights holder (or an admin for them) registered a character."""

    name: ClassVar[str] = "character.registered"
    subject_type: ClassVar[str | None] = "character"
    character_id: str = ""
    owner_id: str = ""
    character_name: str = ""
    policy: str = ""
    aliases: int = 0
    refs: int = 0
    subject_field: ClassVar[str | None] = "character_id"


@dataclass(frozen=True)
class CharacterUpdated(AuditEvent):
    """A character's name, aliases, description or policy changed (``changes``: field -> [old, new])."""

    name: ClassVar[str] = "character.updated"
    subject_type: ClassVar[str | None] = "character"
    character_id: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    subject_field: ClassVar[str | None] = "character_id"


@dataclass(frozen=True)
class CharacterRemoved(AuditEvent):
    """A character was soft-deleted: no longer matched; its rows and reference images are kept."""

    name: ClassVar[str] = "character.removed"
    subject_type: ClassVar[str | None] = "character"
    character_id: str = ""
    subject_field: ClassVar[str | None] = "character_id"


@dataclass(frozen=True)
class CharacterRefAdded(AuditEvent):
    """A reference image (a stored blob) was attached to a character."""

    name: ClassVar[str] = "character.ref_added"
    subject_type: ClassVar[str | None] = "character"
    character_id: str = ""
    ref_id: str = ""
    sha256: str = ""
    subject_field: ClassVar[str | None] = "character_id"


@dataclass(frozen=True)
class CharacterDisputed(AuditEvent):
    """A rights holder disputed a decision involving their character; a queue item was opened."""

    name: ClassVar[str] = "character.disputed"
    subject_type: ClassVar[str | None] = "character"
    dispute_id: str = ""
    character_id: str = ""
    decision_id: str | None = None
    clip_id: str | None = None
    queue_item_id: str = ""
    subject_field: ClassVar[str | None] = "character_id"


# -- the feed: reports and appeals ---------------------------------------------------------


@dataclass(frozen=True)
class ClipReported(AuditEvent):
    """A user reported a clip; the report queue item was opened or escalated."""

    name: ClassVar[str] = "clip.reported"
    subject_type: ClassVar[str | None] = "clip"
    report_id: str = ""
    clip_id: str = ""
    reason: str = ""
    count: int = 0
    queue_item_id: str = ""
    decision_id: str | None = None
    subject_field: ClassVar[str | None] = "clip_id"


@dataclass(frozen=True)
class DecisionAppealed(AuditEvent):
    """A creator appealed a decision on their clip; an appeals queue item was opened."""

    name: ClassVar[str] = "decision.appealed"
    subject_type: ClassVar[str | None] = "clip"
    appeal_id: str = ""
    decision_id: str = ""
    clip_id: str | None = None
    queue_item_id: str = ""
    subject_field: ClassVar[str | None] = "clip_id"


@dataclass(frozen=True)
class HashBankCreated(AuditEvent):
    """A named known-bad hash bank was created (by hand or by an import)."""

    name: ClassVar[str] = "hash_bank.created"
    subject_type: ClassVar[str | None] = "hash_bank"
    bank_id: str = ""
    bank: str = ""
    category: str = ""
    subject_field: ClassVar[str | None] = "bank_id"


@dataclass(frozen=True)
class HashBankEntriesAdded(AuditEvent):
    """Hashes went into a bank: ``source`` is manual, clip (a moderator's removal) or import."""

    name: ClassVar[str] = "hash_bank.entries_added"
    subject_type: ClassVar[str | None] = "hash_bank"
    bank_id: str = ""
    bank: str = ""
    source: str = ""
    added: int = 0
    skipped: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    clip_id: str | None = None
    reason: str | None = None
    file_bank: str | None = None
    subject_field: ClassVar[str | None] = "bank_id"


@dataclass(frozen=True)
class UserSettingsChanged(AuditEvent):
    """A user's safety settings changed (``changes``: field -> [old, new]); ``by``: self, guardian, admin."""

    name: ClassVar[str] = "user_settings.changed"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    by: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class FeedViewsRecorded(AuditEvent):
    """Feed items were counted against a user's daily limit (one event per feed page, not per clip)."""

    name: ClassVar[str] = "feed.views_recorded"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    day: str = ""
    added: int = 0
    subject_field: ClassVar[str | None] = "user_id"


# -- cameos and protected likenesses ----------------------------------------------------


@dataclass(frozen=True)
class CameoChallengeIssued(AuditEvent):
    """The server issued a head-movement challenge for a cameo recording."""

    name: ClassVar[str] = "cameo.challenge_issued"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    challenge_id: str = ""
    steps: tuple[str, ...] = ()
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class CameoEnrolled(AuditEvent):
    """An enrolment attempt ended: ``status`` active (accepted) or refused, with the reason."""

    name: ClassVar[str] = "cameo.enrolled"
    subject_type: ClassVar[str | None] = "cameo"
    cameo_id: str = ""
    user_id: str = ""
    status: str = ""
    permission: str = ""
    reason: str | None = None
    recording_sha256: str | None = None
    challenge: tuple[str, ...] = ()
    subject_field: ClassVar[str | None] = "cameo_id"


@dataclass(frozen=True)
class CameoPermissionChanged(AuditEvent):
    name: ClassVar[str] = "cameo.permission_changed"
    subject_type: ClassVar[str | None] = "cameo"
    cameo_id: str = ""
    previous: str = ""
    permission: str = ""
    subject_field: ClassVar[str | None] = "cameo_id"


@dataclass(frozen=True)
class CameoGrantChanged(AuditEvent):
    """A user was added to (granted=True) or removed from a cameo's approved list."""

    name: ClassVar[str] = "cameo.grant_changed"
    subject_type: ClassVar[str | None] = "cameo"
    cameo_id: str = ""
    grantee_id: str = ""
    granted: bool = True
    subject_field: ClassVar[str | None] = "cameo_id"


@dataclass(frozen=True)
class CameoRevoked(AuditEvent):
    """The owner revoked their cameo: new uses are blocked, live clips go to takedown."""

    name: ClassVar[str] = "cameo.revoked"
    subject_type: ClassVar[str | None] = "cameo"
    cameo_id: str = ""
    user_id: str = ""
    takedown_job_id: str | None = None
    live_clips: int = 0
    subject_field: ClassVar[str | None] = "cameo_id"


@dataclass(frozen=True)
class LikenessDataDeleted(AuditEvent):
    """The owner deleted their likeness data (vectors and enrolment frames)."""

    name: ClassVar[str] = "cameo.likeness_data_deleted"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    cameo_ids: tuple[str, ...] = ()
    vectors: int = 0
    frames: int = 0
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class ProtectedLikenessAdded(AuditEvent):
    """An admin registered a protected likeness (never usable in a clip) from photos."""

    name: ClassVar[str] = "likeness.protected_added"
    subject_type: ClassVar[str | None] = "protected_likeness"
    likeness_id: str = ""
    likeness_name: str = ""
    photos: int = 0
    subject_field: ClassVar[str | None] = "likeness_id"


@dataclass(frozen=True)
class CameoTakedownApplied(AuditEvent):
    """The takedown job re-decided a live clip after its cameo was revoked."""

    name: ClassVar[str] = "cameo.takedown_applied"
    subject_type: ClassVar[str | None] = "clip"
    clip_id: str = ""
    cameo_id: str = ""
    outcome: str = ""
    decision_id: str | None = None
    subject_field: ClassVar[str | None] = "clip_id"


@dataclass(frozen=True)
class StrikeAdded(AuditEvent):
    """A moderator's block or takedown for a severe reason counted a strike against the creator."""

    name: ClassVar[str] = "user.strike_added"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    strike_id: str = ""
    decision_id: str = ""
    clip_id: str | None = None
    reason: str = ""
    category: str | None = None
    strikes: int = 0
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class PreferencesChanged(AuditEvent):
    """A person changed their own console preferences."""

    name: ClassVar[str] = "user.preferences_changed"
    subject_type: ClassVar[str | None] = "user"
    subject_field: ClassVar[str | None] = "user_id"
    user_id: str = ""
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DecisionUndone(AuditEvent):
    """A moderator undid their own decision in the undo window; what it had closed is open again."""

    name: ClassVar[str] = "decision.undone"
    subject_type: ClassVar[str | None] = "decision"
    decision_id: str = ""
    undo_decision_id: str = ""
    clip_id: str | None = None
    reopened: dict[str, Any] = field(default_factory=dict)
    subject_field: ClassVar[str | None] = "decision_id"


@dataclass(frozen=True)
class StrikesVoided(AuditEvent):
    """An appeal overturned the decision that counted these strikes: they no longer count."""

    name: ClassVar[str] = "user.strikes_voided"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    decision_id: str = ""
    strike_ids: list[str] = field(default_factory=list)
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class AccountActionTaken(AuditEvent):
    """A policy rule on the account's strikes suspended generation or uploads, or banned it."""

    name: ClassVar[str] = "account.action_taken"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    action_id: str = ""
    kind: str = ""
    rule_id: str = ""
    decision_id: str = ""
    trigger_decision_id: str | None = None
    ends_at: str | None = None
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class AccountActionLifted(AuditEvent):
    """An account action ended early: an appeal overturned it or staff lifted it."""

    name: ClassVar[str] = "account.action_lifted"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    action_id: str = ""
    kind: str = ""
    reason: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class AppealDecided(AuditEvent):
    """A moderator upheld or overturned an appeal; ``decision_id`` is the human decision."""

    name: ClassVar[str] = "appeal.decided"
    subject_type: ClassVar[str | None] = "appeal"
    appeal_id: str = ""
    appealed_decision_id: str = ""
    decision_id: str = ""
    clip_id: str | None = None
    status: str = ""
    subject_field: ClassVar[str | None] = "appeal_id"


@dataclass(frozen=True)
class DisputeDecided(AuditEvent):
    """A moderator resolved a rights holder's character dispute (uphold or overturn)."""

    name: ClassVar[str] = "character.dispute_decided"
    subject_type: ClassVar[str | None] = "character_dispute"
    dispute_id: str = ""
    character_id: str = ""
    disputed_decision_id: str | None = None
    decision_id: str = ""
    clip_id: str | None = None
    outcome: str = ""
    subject_field: ClassVar[str | None] = "dispute_id"


@dataclass(frozen=True)
class ReportsResolved(AuditEvent):
    """A moderator's decision closed the open user reports of a clip (a new round starts at zero)."""

    name: ClassVar[str] = "clip.reports_resolved"
    subject_type: ClassVar[str | None] = "clip"
    clip_id: str = ""
    decision_id: str = ""
    reports: int = 0
    subject_field: ClassVar[str | None] = "clip_id"


# -- accounts: sign-out, suspension, birth dates, guardian links (issue 11) ---------------


@dataclass(frozen=True)
class UserLoggedOut(AuditEvent):
    """A person signed out: the token they called with is revoked."""

    name: ClassVar[str] = "auth.logged_out"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    token_id: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class UserSuspended(AuditEvent):
    """An admin suspended an account: its tokens and password stop working at once."""

    name: ClassVar[str] = "user.suspended"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    reason: str = ""
    tokens_revoked: int = 0
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class UserReinstated(AuditEvent):
    """An admin lifted a suspension."""

    name: ClassVar[str] = "user.reinstated"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    reason: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class GuardianLinkRequested(AuditEvent):
    """A guardian asked to be linked to an account; the link is pending until the teen confirms."""

    name: ClassVar[str] = "guardian.requested"
    subject_type: ClassVar[str | None] = "user"
    guardian_id: str = ""
    teen_id: str = ""
    subject_field: ClassVar[str | None] = "teen_id"


@dataclass(frozen=True)
class GuardianLinkConfirmed(AuditEvent):
    """The teen confirmed a guardian's pending link."""

    name: ClassVar[str] = "guardian.confirmed"
    subject_type: ClassVar[str | None] = "user"
    guardian_id: str = ""
    teen_id: str = ""
    subject_field: ClassVar[str | None] = "teen_id"


@dataclass(frozen=True)
class GuardianUnlinked(AuditEvent):
    """A guardian link (pending or confirmed) was removed; ``by``: guardian, teen or admin."""

    name: ClassVar[str] = "guardian.unlinked"
    subject_type: ClassVar[str | None] = "user"
    guardian_id: str = ""
    teen_id: str = ""
    by: str = ""
    was: str = ""
    subject_field: ClassVar[str | None] = "teen_id"


# -- invites and generation quotas (issue 13) ---------------------------------------------


@dataclass(frozen=True)
class InviteCodeCreated(AuditEvent):
    """An account made an invite code (the code itself is never logged, only its id)."""

    name: ClassVar[str] = "invite.created"
    subject_type: ClassVar[str | None] = "user"
    owner_id: str = ""
    code_id: str = ""
    subject_field: ClassVar[str | None] = "owner_id"


@dataclass(frozen=True)
class InviteCodeVoided(AuditEvent):
    """An unused invite code was voided; ``cause``: owner (withdrawn) or stop (branch stopped)."""

    name: ClassVar[str] = "invite.voided"
    subject_type: ClassVar[str | None] = "user"
    owner_id: str = ""
    code_id: str = ""
    cause: str = ""
    subject_field: ClassVar[str | None] = "owner_id"


@dataclass(frozen=True)
class InviteRedeemed(AuditEvent):
    """Someone signed up with an invite code: ``user_id`` joined, invited by ``inviter_id``."""

    name: ClassVar[str] = "invite.redeemed"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    inviter_id: str = ""
    code_id: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class InvitesStopped(AuditEvent):
    """Staff stopped invites for a branch: ``user_id`` and everyone they invited, recursively."""

    name: ClassVar[str] = "invite.branch_stopped"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    reason: str = ""
    members: int = 0
    codes_voided: int = 0
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class InvitesResumed(AuditEvent):
    """Staff reinstated invites for a branch they had stopped."""

    name: ClassVar[str] = "invite.branch_resumed"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    reason: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class GenerationCounted(AuditEvent):
    """A generation spent compute and counts against its requester's daily quota."""

    name: ClassVar[str] = "quota.generation_counted"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    usage_id: str = ""
    day: str = ""
    prompt_decision_id: str | None = None
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class GenerationRefunded(AuditEvent):
    """A counted generation was given back (the generator failed before producing anything)."""

    name: ClassVar[str] = "quota.generation_refunded"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    usage_id: str = ""
    reason: str = ""
    subject_field: ClassVar[str | None] = "user_id"


@dataclass(frozen=True)
class GenerationQuotaSet(AuditEvent):
    """Staff set an account's daily generation quota (``per_day`` None: back to the default)."""

    name: ClassVar[str] = "quota.set"
    subject_type: ClassVar[str | None] = "user"
    user_id: str = ""
    per_day: int | None = None
    previous: int | None = None
    reason: str = ""
    subject_field: ClassVar[str | None] = "user_id"
