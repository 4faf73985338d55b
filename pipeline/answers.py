"""Answers shaped for who asks: one function turns a decision into what the viewer may see.

Staff (admins and moderators) see everything: signals with their evidence,
rules with the values that made them true, the shadow comparison, the
audience check. Anyone else -- the uploader, the requester of a generation,
the reporter -- sees the outcome, the reasons in words a user understands,
and what they can do next (appeal). Never another person's identity, handle
or id, a bank's label or hash, a threshold, a score or a filter term: the
answer is built from an allow-list of fields, so a new signal or rule value
cannot leak by being forgotten here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store.users import User

STAFF_ROLES = frozenset({"admin", "moderator"})
APPEALABLE = frozenset({"block", "takedown", "age_restrict", "label"})

# Policy reason codes -> a sentence for the person whose content it is.
REASON_TEXT: dict[str, str] = {
    "cameo_no_consent": "It shows or asks for a person's likeness without their permission.",
    "cameo_revoked": "A person whose likeness appears here has withdrawn their permission.",
    "own_cameo": "It uses your own cameo.",
    "public_figure_no_cameo": "It shows a real, protected person who has not given permission.",
    "character_blocked": "It uses a character whose rights holder does not allow it.",
    "character_review": "It uses a character whose rights holder asks for a review first.",
    "character_attribution": "It uses a character that is allowed with attribution.",
    "nudity_teen": "It contains nudity, which is not allowed for teen accounts.",
    "nudity": "It may contain nudity.",
    "explicit_nudity": "It contains explicit nudity, which is not allowed.",
    "hash_bank_match": "It matches content that was removed from the platform before.",
    "provenance_invalid": "Its content credentials are broken or were tampered with.",
    "provenance_other_generator": "Its content credentials say another AI tool made it.",
    "user_reports": "People reported it; a moderator will look at it.",
    "report_child_safety": "It was reported for child safety; a specialist will look at it.",
    "prompt_violence": "It asks for graphic violence; a moderator will look at it first.",
    "prompt_violence_teen": "It asks for graphic violence, which is not allowed for teen accounts.",
    "prompt_violence_minors": "It asks for violence involving children, which is not allowed.",
    "prompt_hate": "It asks for hateful content about people or groups, which is not allowed.",
    "prompt_self_harm": (
        "It asks for suicide or self-harm content, which is not allowed. If you are going "
        "through something hard, you do not have to face it alone: in the US you can call or "
        "text 988, and findahelpline.com lists free, confidential support near you."
    ),
    "prompt_real_person": "It names a real person who has not given permission through a cameo.",
    "prompt_sexual_explicit": "It asks for explicit sexual content, which is not allowed.",
    "prompt_sexual_teen": "It asks for sexual content, which is not allowed for teen accounts.",
    "prompt_sexual": "It asks for suggestive content, so it is shown to adults only.",
    "unknown_real_person": (
        "It shows a real person who is neither you nor someone who gave permission "
        "through a cameo; a moderator will check it."
    ),
}
OUTCOME_TEXT: dict[str, str] = {
    "allow": "Allowed.",
    "label": "Allowed with a label.",
    "age_restrict": "Allowed for adults only.",
    "review": "Waiting for a moderator's review.",
    "block": "Not allowed.",
    "takedown": "Taken down.",
}
GENERIC_REASON = "It breaks the community guidelines."


def is_staff(viewer: User | None) -> bool:
    return viewer is not None and viewer.role in STAFF_ROLES


def plain_reasons(decision: Mapping[str, Any]) -> list[str]:
    """The decision's reasons in plain words (codes without a sentence say so generically)."""
    codes = [str(r) for r in decision.get("reasons") or []]
    if not codes:
        codes = [str(r.get("reason")) for r in decision.get("rules") or [] if isinstance(r, dict)]
    out: list[str] = []
    for code in codes:
        text = REASON_TEXT.get(code)
        if text is None and code.startswith("prompt_"):
            text = "The prompt asks for something that is not allowed."
        text = text or GENERIC_REASON
        if text not in out:
            out.append(text)
    if not out and decision.get("explanation", {}).get("forced_review"):
        out.append("An automatic check could not finish; a moderator will look at it.")
    return out


def user_decision(decision: Mapping[str, Any], decision_id: str | None) -> dict[str, Any]:
    """A decision as an ordinary user may see it."""
    outcome = str(decision.get("outcome"))
    codes = [str(r) for r in decision.get("reasons") or []]
    return {
        "id": decision_id,
        "outcome": outcome,
        "summary": OUTCOME_TEXT.get(outcome, outcome),
        "reasons": plain_reasons(decision),
        "reason_codes": [c for c in codes if c in REASON_TEXT],
        # Rule ids and reason codes are the policy's own names, never a matched value.
        "rules": [
            {"id": r.get("id"), "outcome": r.get("outcome"), "reason": r.get("reason")}
            for r in decision.get("rules") or []
            if isinstance(r, dict)
        ],
        "version": decision.get("version"),
        "next": next_steps(outcome, decision_id),
    }


def next_steps(outcome: str, decision_id: str | None) -> dict[str, Any]:
    if outcome in APPEALABLE and decision_id:
        return {
            "appeal": {
                "allowed": True,
                "how": f"POST /decisions/{decision_id}/appeal with a message",
            }
        }
    if outcome == "review":
        return {"appeal": {"allowed": False, "why": "a moderator will decide; you can appeal then"}}
    return {"appeal": {"allowed": False}}


def answer(result: Mapping[str, Any], viewer: User | None) -> dict[str, Any]:
    """A decision path result (``Decided.to_dict()``) shaped for ``viewer``."""
    if is_staff(viewer):
        return dict(result)
    decision = result.get("decision") or {}
    return {
        "clip_id": result.get("clip_id"),
        "decision_id": result.get("decision_id"),
        "status": result.get("status"),
        "audience": result.get("audience"),
        "stage": result.get("stage"),
        "queued": bool(result.get("queue_item_id")),
        "queue_item_id": result.get("queue_item_id"),
        "decision": user_decision(decision, result.get("decision_id")),
        "media": _media(result.get("media")),
    }


def _media(media: Any) -> dict[str, Any] | None:
    if not isinstance(media, Mapping):
        return None
    keys = ("kind", "size", "width", "height", "duration_s")
    return {k: media.get(k) for k in keys}


def stored_decision_for_user(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored decision row (``store.decisions``) as its clip's creator may see it."""
    details = row.get("details") or {}
    doc = {
        "outcome": row.get("outcome"),
        "reasons": details.get("reasons") or [],
        "rules": row.get("rules") or [],
        "version": row.get("policy_version"),
        "explanation": details.get("explanation") or {},
    }
    out = user_decision(doc, str(row.get("id")))
    out["by"] = "moderator" if row.get("decided_by") else "policy"
    out["created_at"] = row.get("created_at")
    # A moderator writes the reason for the person decided about; it names no one else.
    out["moderator_reason"] = row.get("reason") if row.get("decided_by") else None
    return out


def clip_for_user(clip: Mapping[str, Any]) -> dict[str, Any]:
    """A clip row (with ``latest_decision``) as its creator may see it: no moderator's identity."""
    out = dict(clip)
    latest = out.get("latest_decision")
    if isinstance(latest, Mapping):
        shown = {k: v for k, v in latest.items() if k != "decided_by"}
        shown["by"] = "moderator" if latest.get("decided_by") else "policy"
        out["latest_decision"] = shown
    return out
