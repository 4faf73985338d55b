"""Admin pages: the audit log, and people (accounts, suspension)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common
from console.views.common import ALL, md

_FLASH = "people_flash"


def audit_log(api: Api, user: dict[str, Any]) -> None:
    st.header("Audit log")
    check = api.get("/audit/verify")
    if check["ok"]:
        st.success(f"Hash chain intact: {check['rows']} rows")
    else:
        st.error(f"Hash chain broken at row {check['first_bad']}: {md(check['reason'])}")
    events = api.get("/audit", params={"limit": 200})["events"]
    st.dataframe(
        [
            {k: e[k] for k in ("seq", "at", "event", "actor_id", "subject_type", "subject_id")}
            for e in events
        ],
        use_container_width=True,
    )


def _suspension(api: Api, users: list[dict[str, Any]]) -> None:
    """Suspend an account (tokens and password stop at once) or reinstate it, with a reason."""
    st.subheader("Suspend or reinstate")
    if not api.offers("POST", "/users/{handle}/suspend"):
        st.info("Suspension is not available on this server yet.")
        return
    handles = [u["handle"] for u in users]
    state = {u["handle"]: bool(u.get("suspended", u.get("disabled"))) for u in users}
    with st.form("suspension", clear_on_submit=True):
        handle = st.selectbox(
            "Account",
            handles,
            format_func=lambda h: f"@{h}" + (" (suspended)" if state.get(h) else ""),
        )
        reason = st.text_input("Reason (required, kept in the audit log)")
        revoke = st.checkbox("Also revoke every token (they stay dead after reinstatement)")
        cols = st.columns(2)
        suspend = cols[0].form_submit_button("Suspend", type="primary")
        reinstate = cols[1].form_submit_button("Reinstate")
    if not (suspend or reinstate) or handle is None:
        return
    if not reason.strip():
        st.error("A suspension or a reinstatement needs a reason.")
        return
    if suspend:
        api.post(
            f"/users/{handle}/suspend", json={"reason": reason.strip(), "revoke_tokens": revoke}
        )
        common.set_flash("success", f"Suspended @{handle}: {reason.strip()}", _FLASH)
    else:
        api.post(f"/users/{handle}/unsuspend", json={"reason": reason.strip()})
        common.set_flash("success", f"Reinstated @{handle}: {reason.strip()}", _FLASH)
    st.rerun()


def people(api: Api, user: dict[str, Any]) -> None:
    st.header("People")
    common.flash(_FLASH)
    users = api.get("/users")["users"]
    st.dataframe(users, use_container_width=True)
    st.caption("An account's strikes and account actions (and lifting one): **Account standing**.")
    with common.panel():
        _suspension(api, users)
    with st.form("new-user"):
        st.subheader("Add an account")
        handle = st.text_input("Handle")
        role = st.selectbox("Role", ALL)
        birth_date = st.text_input(
            "Birth date (YYYY-MM-DD; empty: unknown, which counts as a teen for user accounts)"
        )
        password = st.text_input("Password (optional, for console sign-in)", type="password")
        if st.form_submit_button("Create"):
            created = api.post(
                "/users",
                json={
                    "handle": handle,
                    "role": role,
                    "birth_date": birth_date.strip() or None,
                    "password": password or None,
                },
            )
            st.success(
                f"Created @{md(created['handle'])}. API token (shown once, expires "
                f"{md(common.when(created.get('token_expires_at')))}):"
            )
            st.code(created["token"], language=None)
