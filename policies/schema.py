"""The policy file schema and the signal view: what a policy may say and what its conditions may see.

Policy files (YAML) hold named ``thresholds`` and ``rules``; both are validated
by the pydantic models below (unknown keys are errors, so a typo never turns a
rule off silently).

The **signal view** is the typed document every condition sees. It has the
roots ``likeness``, ``character``, ``minor``, ``nudity``, ``provenance``,
``prompt``, ``hash``, ``unknown_face`` (signals), ``context`` (who, where, for whom) and
``thresholds`` (named thresholds resolved for the decision's audience), plus
the function ``threshold(name, model)`` for per-model thresholds. Every field
has a neutral default, so a missing signal reads as "nothing found" and a rule
never errors on absent data:

- ``likeness``: list of ``{kind: "cameo"|"protected", cameo_id, owner, name,
  similarity, threshold, consent: "granted"|"denied"|"revoked"|"not_applicable",
  start_s, end_s, model}``; default ``[]``.
- ``character``: list of ``{character_id, name, policy: "block"|"allow"|
  "allow_with_attribution"|"review", score, threshold, source: "prompt"|"image",
  backend}``; default ``[]``.
- ``minor``: ``{faces: [{age, band}], min_age, worst_band}`` with band
  ``"likely_minor"|"possible_minor"|"adult"``; with no faces ``min_age`` is
  ``NO_FACE_AGE`` (200.0) and ``worst_band`` is ``"none"``. When ``faces`` is
  given without ``min_age``/``worst_band`` they are derived from it.
- ``nudity``: ``{max_score, classes: {NUDENET_CLASS: score}}``; every NudeNet
  class is present (0.0 when not detected).
- ``provenance``: ``{state, ai_generated, claim_generator, own_output, signer,
  codes}``; state as ``greenroom provenance verify`` reports it, default
  ``"absent"``; ``own_output`` is our clip id or ``""``.
- ``prompt``: ``{categories: {CATEGORY: score}, findings: [{name, score,
  evidence}]}``; every declared category is present (0.0 when not found).
- ``hash``: list of ``{bank, distance, severity, category}``; default ``[]``.
- ``unknown_face``: list of ``{track, score, flat_fraction, photorealistic,
  nearest_similarity, start_s, end_s, detector}``: a face track in the media
  that matched no cameo or protected likeness (so neither the uploader's own
  cameo nor a consenting one); ``photorealistic`` is the detector's
  confidence plus a not-a-flat-colour-drawing check
  (``detectors.faces.realism``); default ``[]``.
- ``context``: ``{creator: {id, role, is_teen, verified, strikes, strikes_90d,
  strike_categories: {CATEGORY: count}}, audience:
  "teen"|"adult", stage: "prompt"|"output"|"upload"|"remix"|"report"|"account",
  consent: {required, granted, missing, revoked}, report: {reason, count,
  reasons}, published, is_remix, parent_id}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# --- policy files --------------------------------------------------------------

Outcome = Literal["allow", "label", "age_restrict", "review", "block", "takedown"]
# Most restrictive first; the combined outcome is the earliest that fired.
OUTCOME_ORDER: tuple[str, ...] = ("takedown", "block", "review", "age_restrict", "label", "allow")
OUTCOME_RANK: dict[str, int] = {
    name: len(OUTCOME_ORDER) - i for i, name in enumerate(OUTCOME_ORDER)
}
Severity = Literal["low", "medium", "high", "critical"]
Audience = Literal["teen", "adult"]
# The one reason code no rule can override (see engine.py).
UNOVERRIDABLE_REASON = "sexual_minors"

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_CONDITION_CHARS = 4000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelThreshold(_Strict):
    """A threshold for one model id, where a signal's scale depends on the model."""

    value: float
    audience: dict[Audience, float] = Field(default_factory=dict)


class ThresholdSpec(_Strict):
    """A named threshold: a base value, audience overrides and per-model values.

    ``stricter`` says which direction is stricter (``lower`` for score cut-offs
    such as ``nudity >= t``, ``higher`` for age cut-offs such as ``age < t``);
    a teen override that is looser than the adult value is rejected.
    """

    value: float
    description: str = ""
    stricter: Literal["lower", "higher"] = "lower"
    audience: dict[Audience, float] = Field(default_factory=dict)
    models: dict[str, float | ModelThreshold] = Field(default_factory=dict)


AccountActionKind = Literal["suspend_generation", "suspend_uploads", "ban"]
MAX_ACTION_DAYS = 3650


class AccountActionSpec(_Strict):
    """What an account rule does to the account when it fires (``stage == "account"``).

    A suspension lasts ``days``; a ban lasts until an appeal or staff lift it.
    """

    kind: AccountActionKind
    days: Annotated[int, Field(ge=1, le=MAX_ACTION_DAYS)] | None = None

    @field_validator("days")
    @classmethod
    def _days_for_kind(cls, value: int | None, info: Any) -> int | None:
        kind = info.data.get("kind")
        if kind == "ban" and value is not None:
            raise ValueError("a ban has no days: it lasts until an appeal or staff lift it")
        if kind != "ban" and value is None:
            raise ValueError(f"{kind} needs days (how long it lasts)")
        return value


class RuleSpec(_Strict):
    """One rule: when ``condition`` (CEL) is true, propose ``outcome``."""

    id: Annotated[str, Field(pattern=NAME_PATTERN.pattern)]
    description: str = ""
    condition: Annotated[str, Field(min_length=1, max_length=MAX_CONDITION_CHARS)]
    outcome: Outcome
    severity: Severity = "medium"
    reason: Annotated[str, Field(pattern=NAME_PATTERN.pattern)]
    queue: str | None = None
    # 0..100, higher is more urgent; only meaningful with a queue.
    priority: Annotated[int, Field(ge=0, le=100)] = 0
    status: Literal["active", "shadow"] = "active"
    # Rules this one waives when it fires (an exception); never sexual_minors.
    overrides: list[str] = Field(default_factory=list)
    # Keep media and signals beyond normal retention (legal hold / reporting).
    preserve_evidence: bool = False
    # An account rule: what happens to the account (acted on only at the account door).
    account_action: AccountActionSpec | None = None

    @field_validator("condition")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("condition is empty")
        return value


class PolicyFileSpec(_Strict):
    """One YAML file of a policy set."""

    name: str = ""
    description: str = ""
    thresholds: dict[str, ThresholdSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)


# --- the signal view -------------------------------------------------------------

NO_FACE_AGE = 200.0

NUDENET_CLASSES: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)

# Exactly the categories detectors/prompt_safety.py emits (its data files);
# a declared category no detector produces would make a rule that can never fire.
PROMPT_CATEGORIES: tuple[str, ...] = (
    "sexual",
    "sexual_minors",
    "minors",
    "violence",
    "self_harm",
    "hate",
    "real_person",
)


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LikenessMatch(_View):
    kind: Literal["cameo", "protected"] = "cameo"
    cameo_id: str = ""
    owner: str = ""
    name: str = ""
    similarity: float = 0.0
    threshold: float = 1.0
    consent: Literal["granted", "denied", "revoked", "not_applicable"] = "not_applicable"
    start_s: float = 0.0
    end_s: float = 0.0
    model: str = ""


class CharacterMatch(_View):
    character_id: str = ""
    name: str = ""
    policy: Literal["block", "allow", "allow_with_attribution", "review"] = "review"
    score: float = 0.0
    threshold: float = 1.0
    source: Literal["prompt", "image"] = "prompt"
    backend: str = ""


class FaceAge(_View):
    age: float = NO_FACE_AGE
    band: Literal["likely_minor", "possible_minor", "adult"] = "adult"


class MinorSignal(_View):
    faces: list[FaceAge] = Field(default_factory=list)
    min_age: float = NO_FACE_AGE
    worst_band: Literal["likely_minor", "possible_minor", "adult", "none"] = "none"


class NuditySignal(_View):
    max_score: float = 0.0
    classes: dict[str, float] = Field(
        default_factory=dict, json_schema_extra={"keys": list(NUDENET_CLASSES)}
    )


class ProvenanceSignal(_View):
    state: Literal[
        "absent", "trusted", "valid_untrusted", "invalid", "unsupported", "remote_only", "error"
    ] = "absent"
    ai_generated: bool = False
    claim_generator: str = ""
    own_output: str = ""
    signer: str = ""
    codes: list[str] = Field(default_factory=list)


class PromptFinding(_View):
    name: str = ""
    score: float = 0.0
    evidence: str = ""


class PromptSignal(_View):
    categories: dict[str, float] = Field(
        default_factory=dict, json_schema_extra={"keys": list(PROMPT_CATEGORIES)}
    )
    findings: list[PromptFinding] = Field(default_factory=list)


class HashMatch(_View):
    bank: str = ""
    distance: float = 0.0
    severity: Literal["low", "medium", "high", "critical"] = "high"
    category: str = ""


class UnknownFace(_View):
    """A face track that matched no cameo or protected likeness (``likeness.unknown_face``)."""

    track: int = 0
    score: float = 0.0  # the detector's best confidence over the track
    flat_fraction: float = 0.0  # share of the face in flat colour fills (a drawing: high)
    photorealistic: bool = False
    nearest_similarity: float = 0.0  # the closest likeness, below the match threshold
    start_s: float = 0.0
    end_s: float = 0.0
    detector: str = ""


# Moderators file decisions (and so strikes) under these reason categories.
STRIKE_CATEGORIES: tuple[str, ...] = (
    "sexual_minors",
    "sexual",
    "violence",
    "hate",
    "self_harm",
    "likeness",
    "character",
    "spam",
    "other",
)


class Creator(_View):
    id: str = ""
    role: str = "user"
    is_teen: bool = False
    verified: bool = False
    strikes: int = 0  # upheld (not voided on appeal), all time
    strikes_90d: int = 0
    # Upheld strikes in the last 90 days by category; every category is present (0: none).
    strike_categories: dict[str, int] = Field(
        default_factory=dict, json_schema_extra={"keys": list(STRIKE_CATEGORIES)}
    )


class ConsentSummary(_View):
    required: int = 0
    granted: int = 0
    missing: list[str] = Field(default_factory=list)
    revoked: list[str] = Field(default_factory=list)


class ReportContext(_View):
    reason: str = ""
    count: int = 0
    reasons: list[str] = Field(default_factory=list)


class DecisionContext(_View):
    creator: Creator = Field(default_factory=Creator)
    audience: Audience = "adult"
    stage: Literal["prompt", "output", "upload", "remix", "report", "account"] = "output"
    consent: ConsentSummary = Field(default_factory=ConsentSummary)
    report: ReportContext = Field(default_factory=ReportContext)
    # The clip is live: harms found now call for a takedown, not a block.
    published: bool = False
    is_remix: bool = False
    parent_id: str = ""


class SignalView(_View):
    """Every root a condition can name, except ``thresholds`` (resolved by the engine)."""

    likeness: list[LikenessMatch] = Field(default_factory=list)
    character: list[CharacterMatch] = Field(default_factory=list)
    minor: MinorSignal = Field(default_factory=MinorSignal)
    nudity: NuditySignal = Field(default_factory=NuditySignal)
    provenance: ProvenanceSignal = Field(default_factory=ProvenanceSignal)
    prompt: PromptSignal = Field(default_factory=PromptSignal)
    hash: list[HashMatch] = Field(default_factory=list)
    unknown_face: list[UnknownFace] = Field(default_factory=list)
    context: DecisionContext = Field(default_factory=DecisionContext)


SIGNAL_ROOTS: tuple[str, ...] = (
    "likeness",
    "character",
    "minor",
    "nudity",
    "provenance",
    "prompt",
    "hash",
    "unknown_face",
)
