"""Account standing: my strikes and account actions, each with its sentence, and an appeal of an
action in force; for staff, an account's standing by handle (every strike, voided ones too) and
lifting an action in force with a reason.

Actions (suspended generation or uploads, a ban) are taken by the policy's account rules on upheld
strikes; the server words each one as the sentence its holder reads (``sentence``) and answers the
doors it stops with ``403`` and that sentence. An appeal goes to ``POST /decisions/{id}/appeal``
with the action's account decision; an overturned appeal lifts the action.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api, ApiError
from console.views import common
from console.views.common import code, md

_FLASH = "standing_flash"
_LOOKUP = "standing_lookup"

KIND_LABELS = {
    "suspend_generation": "Generation suspended",
    "suspend_uploads": "Posting and remixing suspended",
    "ban": "Account banned",
}


def appealed(result: dict[str, Any]) -> str:
    """The line an appellant reads once an appeal is in the appeals queue."""
    kind = result.get("kind") or "decision"
    return (
        f"Appeal sent (the {kind} decision {result.get('decision_id')}); a moderator answers "
        f"by {common.when(result.get('due_at'))}."
    )


def appeal_form(api: Api, decision_id: str, *, key: str, label: str) -> dict[str, Any] | None:
    """An appeal form for one decision; the server's answer once sent, else None.

    An empty message is refused here; the server's refusal (already appealed,
    not appealable) is shown under the form in its own words.
    """
    with st.form(f"appeal-{key}", clear_on_submit=True):
        message = st.text_area(label, height=68)
        sent = st.form_submit_button("Appeal")
    if not sent:
        return None
    if not message.strip():
        common.error("An appeal needs a message: say why the decision is wrong.")
        return None
    try:
        result: dict[str, Any] = api.post(
            f"/decisions/{decision_id}/appeal", json={"message": message.strip()}
        )
    except ApiError as exc:
        if exc.status == 401:
            raise
        common.error(exc.message)
        return None
    return result


def _strikes(doc: dict[str, Any]) -> None:
    st.subheader("Strikes")
    st.markdown(
        f"Upheld strikes: **{md(doc.get('strikes', 0))}** all time · "
        f"**{md(doc.get('strikes_90d', 0))}** in the last 90 days"
    )
    categories = doc.get("strike_categories") or {}
    if categories:
        st.markdown(
            "By category (last 90 days): "
            + " · ".join(
                f"{md(name)} **{md(count)}**" for name, count in sorted(categories.items())
            )
        )
    elif not doc.get("strikes"):
        st.caption("No strikes.")


def _period(action: dict[str, Any]) -> str:
    line = f"from {md(common.when(action.get('starts_at')))}"
    if action.get("ends_at"):
        line += f" until {md(common.when(action['ends_at']))}"
    else:
        line += " with no end date"
    return line


def _action(action: dict[str, Any]) -> None:
    """One action: what it stops, in force or ended (lifted, with why), and its sentence."""
    kind = str(action.get("kind"))
    state = "in force" if action.get("active") else "ended"
    st.markdown(
        f"**{md(KIND_LABELS.get(kind, kind))}** · {state} · {_period(action)} · rule "
        f"{code(action.get('rule_id'))} · decision {code(action.get('decision_id'))}"
    )
    if action.get("active"):
        st.warning(md(action.get("sentence")))
        return
    if action.get("lifted_at"):
        st.caption(
            f"Lifted {md(common.when(action['lifted_at']))}: {md(action.get('lift_reason'))}"
        )
    st.caption(f"Was: {md(action.get('sentence'))}")


def my_standing(api: Api, user: dict[str, Any]) -> None:
    st.header("My standing")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/me/standing", "Account standing"):
        return
    doc = api.get("/me/standing")
    restricted = doc.get("restricted") or []
    if restricted:
        st.warning(
            "In force on your account: "
            + md(", ".join(KIND_LABELS.get(k, k).lower() for k in restricted))
            + ". You can appeal each below."
        )
    _strikes(doc)
    st.subheader("Account actions")
    actions = doc.get("actions") or []
    if not actions:
        st.caption("No action has been taken on your account.")
    for action in actions:
        with st.container(border=True), common.panel():
            _action(action)
            if action.get("active") and action.get("decision_id"):
                result = appeal_form(
                    api,
                    str(action["decision_id"]),
                    key=f"action-{action['id']}",
                    label="Appeal: why is this action wrong?",
                )
                if result is not None:
                    common.set_flash("success", appealed(result), _FLASH)
                    st.rerun()


# -- staff ------------------------------------------------------------------------------------


def _strike_list(strikes: list[dict[str, Any]]) -> None:
    if not strikes:
        st.caption("This account has no strikes.")
        return
    st.dataframe(
        [
            {
                "strike": s.get("id"),
                "category": s.get("category"),
                "reason": s.get("reason"),
                "decision": s.get("decision_id"),
                "clip": s.get("clip_id"),
                "counted": common.when(s.get("created_at")),
                "voided on appeal": common.when(s.get("voided_at")) if s.get("voided_at") else "",
            }
            for s in strikes
        ],
        hide_index=True,
        use_container_width=True,
    )


def _lift(api: Api, action: dict[str, Any]) -> None:
    """Lift an action in force now, with a reason (required; audited)."""
    with st.form(f"lift-{action['id']}", clear_on_submit=True):
        reason = st.text_input("Reason for lifting (required, kept in the audit log)")
        lift = st.form_submit_button("Lift this action", type="primary")
    if not lift:
        return
    if not reason.strip():
        common.error("Lifting an action needs a reason.")
        return
    api.post(f"/account-actions/{action['id']}/lift", json={"reason": reason.strip()})
    label = KIND_LABELS.get(str(action.get("kind")), str(action.get("kind")))
    common.set_flash("success", f"Lifted: {label} ({action['id']}): {reason.strip()}", _FLASH)
    st.rerun()


def staff(api: Api, user: dict[str, Any]) -> None:
    st.header("Account standing")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/users/{handle}/standing", "Account standing"):
        return
    with st.form("standing-lookup"):
        handle = st.text_input("Account (handle)", value=st.session_state.get(_LOOKUP, ""))
        if st.form_submit_button("Show"):
            st.session_state[_LOOKUP] = handle.strip().lstrip("@")
    target = st.session_state.get(_LOOKUP)
    if not target:
        st.caption("Look up an account to see its strikes and account actions.")
        return
    with common.panel():
        doc = api.get(f"/users/{target}/standing")
        st.markdown(f"**@{md(doc.get('handle'))}**")
        _strikes(doc)
        _strike_list(doc.get("strike_list") or [])
        st.subheader("Account actions")
        actions = doc.get("actions") or []
        if not actions:
            st.caption("No action has been taken on this account.")
        can_lift = api.offers("POST", "/account-actions/{action_id}/lift")
        for action in actions:
            with st.container(border=True), common.panel():
                _action(action)
                if action.get("active") and can_lift:
                    _lift(api, action)
