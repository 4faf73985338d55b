"""Invites: my codes (make one, shown once; withdraw an unused one), and for staff the invite tree,
stopping and resuming invites for a branch, and an account's daily generation quota."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common
from console.views.common import code, md

_FLASH = "invites_flash"
_NEW = "invites_new_code"
_LOOKUP = "invites_lookup"


def _new_code(api: Api, doc: dict[str, Any]) -> None:
    made = st.session_state.pop(_NEW, None)
    if made:
        st.success("Your new invite code. It is shown this once: copy it now.")
        st.code(made["code"], language=None)
    if not doc.get("can_invite"):
        st.info("Invites are paused for your account.")
        return
    st.caption(f"{md(doc['remaining'])} of {md(doc['per_user'])} invites left.")
    if doc["remaining"] > 0 and st.button("Make an invite code", type="primary"):
        st.session_state[_NEW] = api.post("/me/invites")
        st.rerun()


def _codes(api: Api, codes: list[dict[str, Any]]) -> None:
    if not codes:
        st.caption("You have not made any invite codes yet.")
        return
    for item in codes:
        cols = st.columns([4, 1])
        line = f"{code(item['hint'])} · **{md(item['state'])}** · made {md(common.when(item['created_at']))}"
        if item["state"] == "used":
            line += f" · used by @{md(item.get('used_by'))} {md(common.when(item.get('used_at')))}"
        elif item["state"] == "void":
            cause = "withdrawn" if item.get("void_cause") == "owner" else "invites paused"
            line += f" · {md(cause)}"
        cols[0].markdown(line)
        if item["state"] == "unused" and cols[1].button("Withdraw", key=f"withdraw-{item['id']}"):
            api.delete(f"/me/invites/{item['id']}")
            common.set_flash("success", "Withdrawn: that code no longer works.", _FLASH)
            st.rerun()


def my_invites(api: Api, user: dict[str, Any]) -> None:
    st.header("Invites")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/me/invites", "Invites"):
        return
    doc = api.get("/me/invites")
    if doc.get("invited_by"):
        st.caption(f"You were invited by @{md(doc['invited_by'])}.")
    with common.panel():
        _new_code(api, doc)
    with common.panel():
        _codes(api, doc.get("invites") or [])


# -- staff ------------------------------------------------------------------------------------


def _tree_lines(node: dict[str, Any], depth: int, out: list[str]) -> None:
    codes = node.get("codes") or {}
    mark = ""
    if node.get("stop"):
        mark = f" · **invites stopped here**: {md(node['stop'].get('reason'))}"
    elif node.get("invites_stopped"):
        mark = " · invites stopped"
    if node.get("suspended"):
        mark += " · suspended"
    out.append(
        f"{'  ' * depth}- @{md(node['handle'])} · {md(codes.get('used', 0))} used, "
        f"{md(codes.get('unused', 0))} unused, {md(codes.get('void', 0))} void{mark}"
    )
    for child in node.get("children") or []:
        _tree_lines(child, depth + 1, out)


def _tree(api: Api, handle: str) -> None:
    doc = api.get(f"/users/{handle}/invite-tree")
    if doc.get("ancestors"):
        st.caption("Invited by: " + " ← ".join(f"@{md(h)}" for h in doc["ancestors"]))
    if doc.get("stopped_above"):
        above = doc["stopped_above"]
        st.warning(f"Invites are stopped higher up, at @{md(above['at'])}: {md(above['reason'])}")
    lines: list[str] = []
    _tree_lines(doc["tree"], 0, lines)
    st.markdown("\n".join(lines))
    if doc.get("truncated"):
        st.caption(f"Only the first {md(doc['members'])} accounts are shown.")


def _stop_resume(api: Api, handle: str) -> None:
    with st.form("invites-stop", clear_on_submit=True):
        reason = st.text_input("Reason (required, kept in the audit log)")
        cols = st.columns(2)
        stop = cols[0].form_submit_button("Stop invites for this branch", type="primary")
        resume = cols[1].form_submit_button("Resume invites")
    if not (stop or resume):
        return
    if not reason.strip():
        st.error("Stopping or resuming invites needs a reason.")
        return
    if stop:
        done = api.post(f"/users/{handle}/invites/stop", json={"reason": reason.strip()})
        common.set_flash(
            "success",
            f"Stopped invites for @{handle}'s branch: {done['members']} accounts, "
            f"{done['codes_voided']} codes voided.",
            _FLASH,
        )
    else:
        api.post(f"/users/{handle}/invites/resume", json={"reason": reason.strip()})
        common.set_flash("success", f"Resumed invites for @{handle}'s branch.", _FLASH)
    st.rerun()


def _quota(api: Api, handle: str) -> None:
    if not api.offers("GET", "/users/{handle}/quota"):
        return
    quota = api.get(f"/users/{handle}/quota")
    setting = quota.get("account_setting")
    line = (
        f"Generations today: **{md(quota['used_today'])}** of {md(quota['per_day'])} "
        f"({md(quota['source'])})"
    )
    if setting:
        line += f" · set by @{md(setting.get('set_by'))}: {md(setting.get('reason'))}"
    st.markdown(line)
    with st.form("quota-set", clear_on_submit=True):
        per_day = st.number_input("Generations per day for this account", 0, 10_000, 10)
        reason = st.text_input("Reason for the quota (required)")
        cols = st.columns(2)
        save = cols[0].form_submit_button("Set quota")
        default = cols[1].form_submit_button("Back to the default")
    if not (save or default):
        return
    if not reason.strip():
        st.error("A quota change needs a reason.")
        return
    api.put(
        f"/users/{handle}/quota",
        json={"per_day": int(per_day) if save else None, "reason": reason.strip()},
    )
    common.set_flash("success", f"Saved @{handle}'s generation quota.", _FLASH)
    st.rerun()


def staff(api: Api, user: dict[str, Any]) -> None:
    st.header("Invites and quotas")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/users/{handle}/invite-tree", "The invite tree"):
        return
    with st.form("invites-lookup"):
        handle = st.text_input("Account (handle)", value=st.session_state.get(_LOOKUP, ""))
        if st.form_submit_button("Show"):
            st.session_state[_LOOKUP] = handle.strip().lstrip("@")
    target = st.session_state.get(_LOOKUP)
    if not target:
        st.caption("Look up an account to see who invited it, whom it invited, and its quota.")
        return
    with common.panel():
        _tree(api, target)
        _stop_resume(api, target)
    with common.panel():
        _quota(api, target)
