"""Policy versions: list, read, edit + validate, save, activate / roll back, shadow, backtest.

Admins and policy authors see this page. Policy authors do everything here but
activate (or roll back): the server refuses them that, so the page offers
them a note instead of the button.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api, ApiError
from console.views import common
from console.views.common import code, md

_FLASH = "policy_flash"
_CHECK = "policy_check"
_BACKTEST = "policy_backtest"
ROLES = ("admin", "policy_author")
ACTIVATE_NOTE = "An admin activates versions."


def _authors(api: Api, user: dict[str, Any]) -> dict[str, str]:
    """Author ids to handles: the account list is admin-only, so others see their own handle."""
    own = {str(user.get("id")): f"@{user.get('handle')}"} if user.get("id") else {}
    if user.get("role") != "admin":
        return own
    try:
        # Only admins and policy authors write versions; ask for those accounts alone.
        found = [
            u
            for role in ROLES
            for u in api.get("/users", params={"role": role, "limit": 500})["users"]
        ]
        return {**own, **{u["id"]: f"@{u['handle']}" for u in found}}
    except ApiError:
        return own


def _label(v: dict[str, Any]) -> str:
    flags = " · ACTIVE" if v.get("active") else ""
    flags += " · shadow" if v.get("shadow") else ""
    return f"v{v['seq']} · {v['id']} · {v.get('message', '')}{flags}"


def _versions_table(versions: list[dict[str, Any]], authors: dict[str, str]) -> None:
    st.dataframe(
        [
            {
                "seq": v["seq"],
                "version": v["id"],
                "state": "active" if v["active"] else "shadow" if v["shadow"] else "",
                "message": v.get("message"),
                "author": authors.get(v["author_id"], v["author_id"])
                if v.get("author_id")
                else "shipped",
                "created": common.when(v.get("created_at")),
            }
            for v in versions
        ],
        hide_index=True,
        use_container_width=True,
    )


def _actions(api: Api, doc: dict[str, Any], active_seq: int, can_activate: bool) -> None:
    cols = st.columns(3)
    if not doc["active"] and not can_activate:
        cols[0].info(ACTIVATE_NOTE)
    elif not doc["active"]:
        label = "Roll back to this version" if doc["seq"] < active_seq else "Activate"
        if cols[0].button(label, type="primary"):
            result = api.post(f"/policies/{doc['id']}/activate")
            common.set_flash("success", f"Active version is now {result['active']}.", _FLASH)
            st.rerun()
    else:
        cols[0].markdown("**This version is active.**")
    if doc["shadow"]:
        if cols[1].button("Stop shadow"):
            api.post("/policies/shadow", json={"version_id": None})
            common.set_flash("success", "Shadow evaluation turned off.", _FLASH)
            st.rerun()
    elif not doc["active"] and cols[1].button("Run in shadow"):
        api.post("/policies/shadow", json={"version_id": doc["id"]})
        common.set_flash("success", f"Version {doc['id']} now runs in shadow.", _FLASH)
        st.rerun()
    if cols[2].button("Backtest this version"):
        st.session_state[_BACKTEST] = api.post(
            "/policies/backtest", json={"version_id": doc["id"], "last": 500}
        )


def _files(doc: dict[str, Any]) -> dict[str, str]:
    return dict((doc.get("bundle") or {}).get("files") or {})


def _editor(api: Api, doc: dict[str, Any], can_activate: bool) -> None:
    """Edit the chosen version's files; validation issues appear beside the file they are in."""
    files = _files(doc)
    check = st.session_state.get(_CHECK)
    if check and check.get("base") != doc["id"]:
        check = None
    with st.form(f"policy-edit-{doc['id']}"):
        top = st.empty()
        texts: dict[str, str] = {}
        slots: dict[str, Any] = {}
        for name, text in files.items():
            left, right = st.columns([3, 2])
            texts[name] = left.text_area(
                name, value=text, height=300, key=f"policy-text-{doc['id']}-{name}"
            )
            slots[name] = right.container()
        message = st.text_input("What changed (message for the new version)")
        cols = st.columns([1, 1, 1, 1, 2])
        last = cols[4].number_input("Backtest over the last N scans", 1, 100_000, 500)
        activate = cols[3].checkbox("Activate on save") if can_activate else False
        if not can_activate:
            cols[3].caption(ACTIVATE_NOTE)
        validate = cols[0].form_submit_button("Validate")
        save = cols[1].form_submit_button("Save as new version", type="primary")
        backtest = cols[2].form_submit_button("Backtest edits")
    if validate or save or backtest:
        result = api.post("/policies/validate", json={"files": texts})
        check = {"base": doc["id"], **result}
        st.session_state[_CHECK] = check
        if result["ok"] and save:
            if not message.strip():
                check["note"] = "Say what changed before saving."
            else:
                try:
                    saved = api.post(
                        "/policies",
                        json={"files": texts, "message": message.strip(), "activate": activate},
                    )
                except ApiError as exc:
                    check.update(ok=False, errors=(exc.body or {}).get("errors") or [])
                    check["note"] = exc.message
                else:
                    state = "saved and activated" if saved.get("active") else "saved"
                    already = "" if saved.get("created", True) else " (same content as before)"
                    common.set_flash(
                        "success",
                        f"Version v{saved['seq']} {saved['id']} {state}{already}.",
                        _FLASH,
                    )
                    st.session_state.pop(_CHECK, None)
                    st.rerun()
        if result["ok"] and backtest:
            st.session_state[_BACKTEST] = api.post(
                "/policies/backtest", json={"files": texts, "last": int(last)}
            )
    if not check:
        return
    if check.get("note"):
        top.warning(md(check["note"]))
    if check["ok"]:
        top.success(
            f"Valid: {md(check.get('rules'))} rules, would be version {md(check.get('version'))}."
        )
        return
    errors = check.get("errors") or []
    top.error(f"Not valid: {len(errors)} issue(s). Nothing was saved; the active version decides.")
    for issue in errors:
        where = f"rule {code(issue.get('rule') or '—')} · field {code(issue.get('field') or '—')}"
        text = f"**{md(issue.get('file') or 'policy')}** · {where}: {md(issue.get('message'))}"
        slot = slots.get(issue.get("file") or "")
        (slot or top).error(text)


def _backtest_report(report: dict[str, Any]) -> None:
    st.subheader("Backtest")
    st.markdown(
        f"candidate {code(report.get('candidate_version'))} against baseline "
        f"{code(report.get('baseline_version'))} over "
        f"**{md(report.get('scans', report.get('records')))}** "
        f"scans: **{md(report.get('outcome_changed'))}** outcomes change, "
        f"{md(report.get('changed'))} records differ, {md(report.get('errors'))} errors. "
        "Nothing was written."
    )
    cols = st.columns(2)
    cols[0].markdown("Outcomes")
    cols[0].dataframe(
        [{"outcome": o, **counts} for o, counts in (report.get("outcomes") or {}).items()],
        hide_index=True,
    )
    cols[1].markdown("Rules")
    cols[1].dataframe(
        [{"rule": r, **counts} for r, counts in (report.get("rules") or {}).items()],
        hide_index=True,
    )
    transitions = report.get("transitions") or {}
    examples = report.get("examples") or {}
    for change, count in transitions.items():
        clips = ", ".join(code(c) for c in examples.get(change, [])[:10])
        st.markdown(f"- **{md(change)}**: {md(count)}" + (f" — e.g. {clips}" if clips else ""))


def policies(api: Api, user: dict[str, Any]) -> None:
    st.header("Policies")
    common.flash(_FLASH)
    listing = api.get("/policies")
    versions: list[dict[str, Any]] = listing["versions"]
    can_activate = user.get("role") == "admin"
    _versions_table(versions, _authors(api, user))
    if not versions:
        return
    active_seq = next((v["seq"] for v in versions if v["active"]), 0)
    default = next((i for i, v in enumerate(versions) if v["active"]), 0)
    chosen = st.selectbox("Version", versions, index=default, format_func=_label)
    doc = api.get(f"/policies/{chosen['id']}")
    with common.panel():
        _actions(api, doc, active_seq, can_activate)
    files_tab, rules_tab, edit_tab = st.tabs(["Files", "Rules", "Edit and validate"])
    with files_tab:
        for name, text in _files(doc).items():
            st.markdown(f"**{md(name)}**")
            st.code(text, language="yaml")
    with rules_tab:
        st.dataframe(doc.get("rules") or [], hide_index=True, use_container_width=True)
    with edit_tab, common.panel():
        _editor(api, doc, can_activate)
    report = st.session_state.get(_BACKTEST)
    if report:
        _backtest_report(report)
