"""Admin pages: the overview every role sees, the audit log, and people (accounts)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views.common import ALL


def overview(api: Api, user: dict[str, Any]) -> None:
    st.header("Overview")
    me = api.get("/me")
    ready = api.get("/readyz")
    cols = st.columns(3)
    cols[0].metric("Signed in as", f"@{me['handle']}")
    cols[1].metric("Role", me["role"])
    cols[2].metric("Schema version", ready["schema_version"])


def audit_log(api: Api, user: dict[str, Any]) -> None:
    st.header("Audit log")
    check = api.get("/audit/verify")
    if check["ok"]:
        st.success(f"Hash chain intact: {check['rows']} rows")
    else:
        st.error(f"Hash chain broken at row {check['first_bad']}: {check['reason']}")
    events = api.get("/audit", params={"limit": 200})["events"]
    st.dataframe(
        [
            {k: e[k] for k in ("seq", "at", "event", "actor_id", "subject_type", "subject_id")}
            for e in events
        ],
        use_container_width=True,
    )


def people(api: Api, user: dict[str, Any]) -> None:
    st.header("People")
    st.dataframe(api.get("/users")["users"], use_container_width=True)
    with st.form("new-user"):
        st.subheader("Add an account")
        handle = st.text_input("Handle")
        role = st.selectbox("Role", ALL)
        birth_year = st.number_input(
            "Birth year (0: unknown)", min_value=0, max_value=2100, value=0
        )
        password = st.text_input("Password (optional, for console sign-in)", type="password")
        if st.form_submit_button("Create"):
            created = api.post(
                "/users",
                json={
                    "handle": handle,
                    "role": role,
                    "birth_year": int(birth_year) or None,
                    "password": password or None,
                },
            )
            st.success(f"Created @{created['handle']}. API token (shown once): {created['token']}")
