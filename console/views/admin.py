"""Admin pages: the audit log, and people (accounts, suspension)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from console.api import Api, ApiError
from console.views import common
from console.views.common import ALL, md

_FLASH = "people_flash"


_AUDIT_CURSORS = "audit_cursors"  # the before_seq of every page shown so far; last: this page
_AUDIT_FILTER = "audit_filter"
_AUDIT_PAGE = 100
_AUDIT_COLUMNS = ("seq", "at", "event", "actor_id", "subject_type", "subject_id", "payload")


def _audit_params() -> dict[str, Any]:
    """The filter form's values as ``GET /audit`` parameters (empty ones left out)."""
    cols = st.columns(3)
    actor = cols[0].text_input("Actor handle", key="audit_actor").strip().lstrip("@")
    subject = cols[1].text_input("Subject id", key="audit_subject").strip()
    event = (
        cols[2]
        .text_input(
            "Event or family", key="audit_event", placeholder='e.g. "account." or "review.decided"'
        )
        .strip()
    )
    cols = st.columns(3)
    since = cols[0].date_input("Since", value=None, key="audit_since")
    until = cols[1].date_input("Until (exclusive)", value=None, key="audit_until")
    words = cols[2].text_input("Words in payload", key="audit_q").strip()
    params: dict[str, Any] = {
        "actor": actor,
        "subject_id": subject,
        "event": event,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "q": words,
    }
    return {k: v for k, v in params.items() if v}


def _chain_status(api: Api) -> None:
    """The hash chain's state: new rows checked on each visit, every row on request."""
    full = st.button("Check every row", help="Recompute the whole chain (slow on a long log)")
    # The server keeps where the chain was last intact, so the routine check on every visit
    # reads only the rows written since (milliseconds); the first one after a start reads all.
    check = {
        **api.get("/audit/verify", params={"mode": "full" if full else "incremental"}),
        "checked": datetime.now(UTC).isoformat(),
    }
    how = (
        "every row recomputed"
        if check.get("mode", "full") == "full"
        else f"rows from {check.get('checked_from')} recomputed; older rows at the last full check"
    )
    if check["ok"]:
        st.success(
            f"Hash chain intact: {check['rows']} rows ({how}; {common.when(check['checked'])})"
        )
    else:
        st.error(
            f"Hash chain broken at row {check['first_bad']} of {check['rows']}: "
            f"{md(check['reason'])} ({how}; {common.when(check['checked'])})"
        )


def audit_log(api: Api, user: dict[str, Any]) -> None:
    st.header("Audit log")
    _chain_status(api)
    params = _audit_params()
    if st.session_state.get(_AUDIT_FILTER) != params:
        # A new filter starts again at the newest page.
        st.session_state[_AUDIT_FILTER] = params
        st.session_state[_AUDIT_CURSORS] = [None]
    cursors: list[int | None] = st.session_state.setdefault(_AUDIT_CURSORS, [None])
    try:
        cursor = {} if cursors[-1] is None else {"before_seq": cursors[-1]}
        page = api.get("/audit", params={**params, **cursor, "limit": _AUDIT_PAGE})
    except ApiError as exc:
        st.error(md(exc.message))
        return
    events = page["events"]
    shown = len(cursors) - 1
    start = shown * _AUDIT_PAGE
    if events:
        st.caption(
            f"{page['total']} matching events; showing {start + 1}–{start + len(events)}, newest first"
        )
    else:
        st.caption(f"{page['total']} matching events")
    nav = st.columns(4)
    if nav[0].button("Newest", disabled=shown == 0):
        st.session_state[_AUDIT_CURSORS] = [None]
        st.rerun()
    if nav[1].button("Newer", disabled=shown == 0):
        cursors.pop()
        st.rerun()
    if nav[2].button("Older", disabled=page["next_before_seq"] is None):
        cursors.append(page["next_before_seq"])
        st.rerun()
    if nav[3].button("Prepare CSV"):
        data, _ = api.get_bytes("/audit/export", params={**params, "format": "csv"})
        st.download_button("Download CSV", data, file_name="greenroom-audit.csv", mime="text/csv")
    st.dataframe(
        [
            {
                k: (json.dumps(e.get(k), sort_keys=True) if k == "payload" else e.get(k))
                for k in _AUDIT_COLUMNS
            }
            for e in events
        ],
        hide_index=True,
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


_PEOPLE_OFFSET = "people_offset"
_PEOPLE_QUERY = "people_query"
_PEOPLE_PAGE = 100


def _people_page(api: Api) -> list[dict[str, Any]]:
    """One server-side page of accounts, filtered by role and handle; returns the rows shown."""
    cols = st.columns(2)
    text = cols[0].text_input("Handle contains", key="people_q").strip().lstrip("@")
    role = cols[1].selectbox("Role", ["any", *ALL], key="people_role")
    query = {"q": text, "role": "" if role == "any" else role}
    if st.session_state.get(_PEOPLE_QUERY) != query:
        # A new filter starts again at the first page.
        st.session_state[_PEOPLE_QUERY] = query
        st.session_state[_PEOPLE_OFFSET] = 0
    offset = int(st.session_state.get(_PEOPLE_OFFSET, 0))
    params = {k: v for k, v in query.items() if v}
    page = api.get("/users", params={**params, "offset": offset, "limit": _PEOPLE_PAGE})
    users: list[dict[str, Any]] = page["users"]
    st.caption(f"Accounts {offset + 1}–{offset + len(users)}" if users else "No account matches.")
    st.dataframe(users, use_container_width=True)
    prev, nxt = st.columns(2)
    if prev.button("Previous accounts", disabled=offset == 0):
        st.session_state[_PEOPLE_OFFSET] = max(0, offset - _PEOPLE_PAGE)
        st.rerun()
    if nxt.button("Next accounts", disabled=page.get("next_offset") is None):
        st.session_state[_PEOPLE_OFFSET] = page["next_offset"]
        st.rerun()
    return users


def people(api: Api, user: dict[str, Any]) -> None:
    st.header("People")
    common.flash(_FLASH)
    users = _people_page(api)
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
