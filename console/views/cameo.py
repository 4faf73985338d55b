"""My cameo: enrol with a live challenge, choose who may use it, approve people, revoke, delete, see every use."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common
from console.views.common import code, md

PERMISSIONS = {
    "only_me": "Only me",
    "approved": "People I approve",
    "mutuals": "Mutuals (we follow each other)",
    "everyone": "Everyone",
}
_FLASH = "cameo_flash"
_CHALLENGE = "cameo_challenge"
_REVOKE = "cameo_revoke"
LIVE = ("published", "queued")


def _enrol(api: Api, last: dict[str, Any] | None) -> None:
    st.subheader("Enrol your cameo")
    if last and last.get("status") == "refused":
        st.warning(f"Your last attempt was refused: {md(last.get('reason'))}")
    st.markdown(
        "Ask for a challenge, record a short video of your face doing the head movements in "
        "order, then upload it. The recording proves it is you, live."
    )
    if st.button("Get a challenge"):
        st.session_state[_CHALLENGE] = api.post("/cameos/challenge")
    challenge = st.session_state.get(_CHALLENGE)
    if challenge:
        steps = " → ".join(str(s) for s in challenge.get("steps") or [])
        expires = common.when(challenge.get("expires_at"))
        st.info(f"Challenge: **{md(steps)}** (expires {md(expires)})")
    with st.form("cameo-enrol", clear_on_submit=True):
        recording = st.file_uploader("Verification recording", type=["mp4", "mov", "webm", "mkv"])
        submitted = st.form_submit_button("Enrol", type="primary")
    if submitted:
        if recording is None:
            st.error("Choose the recording first.")
            return
        with st.spinner("Checking the recording…"):
            result = api.post(
                "/cameos",
                files={"recording": (recording.name, recording.getvalue(), recording.type)},
            )
        if result.get("status") == "active":
            st.session_state.pop(_CHALLENGE, None)
            common.set_flash(
                "success", f"Cameo enrolled ({result.get('embeddings')} face embeddings).", _FLASH
            )
            st.rerun()
        st.error(f"Refused: {md(result.get('reason'))} ({md(result.get('code'))})")
        if result.get("check"):
            with st.expander("what the check saw"):
                st.json(result["check"], expanded=False)


def _permission(api: Api, cameo: dict[str, Any], user: dict[str, Any]) -> None:
    st.subheader("Who may use my cameo")
    options = list(PERMISSIONS)
    if user.get("is_teen"):
        floor = "mutuals"
        with common.panel():
            floor = (api.get("/me/settings").get("floor") or {}).get("cameo_permission", floor)
        options = options[: options.index(floor) + 1] if floor in options else options
        st.caption(
            f"Teen accounts can allow at most **{md(PERMISSIONS.get(floor, floor))}**: "
            "'Everyone' is not offered to protect teens' likeness."
        )
    current = cameo.get("permission")
    with st.form("cameo-permission"):
        choice = st.radio(
            "Permission",
            options,
            index=options.index(current) if current in options else 0,
            format_func=PERMISSIONS.__getitem__,
            horizontal=True,
            label_visibility="collapsed",
        )
        if st.form_submit_button("Save permission"):
            api.put("/cameos/me/permission", json={"permission": choice})
            common.set_flash("success", f"Permission is now: {PERMISSIONS[choice]}.", _FLASH)
            st.rerun()


def _grants(api: Api, cameo: dict[str, Any]) -> None:
    st.subheader("People I approve")
    grants = cameo.get("grants") or []
    if not grants:
        st.caption("Nobody yet.")
    for handle in grants:
        cols = st.columns([4, 1])
        cols[0].markdown(f"@{md(handle)}")
        if cols[1].button("Remove", key=f"ungrant-{handle}"):
            api.delete(f"/cameos/me/grants/{handle}")
            common.set_flash("success", f"@{handle} may no longer use your cameo.", _FLASH)
            st.rerun()
    with st.form("cameo-grant", clear_on_submit=True):
        handle = st.text_input("Approve a person (handle)")
        if st.form_submit_button("Approve") and handle.strip():
            api.post(f"/cameos/me/grants/{handle.strip().lstrip('@')}")
            common.set_flash("success", f"@{handle.strip().lstrip('@')} approved.", _FLASH)
            st.rerun()


def _revoke_progress(revoked: dict[str, Any], clips: list[dict[str, Any]]) -> None:
    targets = set(revoked.get("live_clips") or [])
    if not targets:
        st.success("Revoked. No live clip used your cameo; new uses are blocked.")
        return
    status = {c.get("clip_id"): c.get("status") for c in clips}
    down = sum(1 for c in targets if status.get(c) not in LIVE)
    st.progress(down / len(targets), text=f"Takedown: {down} of {len(targets)} live clips down")


def _revoke_and_delete(api: Api, cameo: dict[str, Any], clips: list[dict[str, Any]]) -> None:
    st.subheader("Revoke or delete")
    revoked = st.session_state.get(_REVOKE)
    if cameo.get("status") == "revoked" or revoked:
        st.markdown(f"Revoked {md(common.when(cameo.get('revoked_at')))}.")
        if revoked:
            _revoke_progress(revoked, clips)
            if st.button("Refresh progress"):
                st.rerun()
    else:
        sure = st.checkbox(
            "Revoke my cameo: block every new use now and take down live clips that use it"
        )
        if st.button("Revoke", type="primary", disabled=not sure):
            st.session_state[_REVOKE] = api.post("/cameos/me/revoke")
            st.rerun()
    sure_delete = st.checkbox("Delete my face data (vectors, enrolment frames, recordings)")
    if st.button("Delete likeness data", disabled=not sure_delete):
        result = api.delete("/cameos/me/likeness-data")
        common.set_flash("success", f"Deleted: {result}", _FLASH)
        st.rerun()


def _uses(clips: list[dict[str, Any]]) -> None:
    st.subheader("Every clip that used my likeness")
    if not clips:
        st.caption("None yet.")
        return
    st.dataframe(
        [
            {
                "when": common.when(c.get("at")),
                "clip": c.get("clip_id"),
                "by": f"@{c.get('creator')}" if c.get("creator") else "",
                "stage": c.get("stage"),
                "status": c.get("status"),
                "decision": c.get("outcome"),
                "consent": c.get("consent"),
                "similarity": c.get("similarity"),
                "seconds": f"{c.get('start_s')}–{c.get('end_s')}" if c.get("start_s") else "",
                "requested by name": c.get("requested"),
            }
            for c in clips
        ],
        hide_index=True,
        use_container_width=True,
    )


def my_cameo(api: Api, user: dict[str, Any]) -> None:
    st.header("My cameo")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/cameos/me", "Cameos"):
        return
    doc = api.get("/cameos/me")
    cameo = doc.get("cameo")
    clips: list[dict[str, Any]] = []
    with common.panel():
        clips = api.get("/cameos/me/clips")["clips"]
    if cameo is None or cameo.get("status") not in ("active", "revoked"):
        with common.panel():
            _enrol(api, doc.get("last_attempt") or cameo)
        _uses(clips)
        return
    permission = PERMISSIONS.get(cameo.get("permission", ""), cameo.get("permission"))
    st.markdown(
        f"Cameo {code(cameo['id'])} · **{md(cameo['status'])}** · {md(permission)} · "
        f"{md(cameo.get('embeddings', 0))} face embeddings · "
        f"enrolled {md(common.when(cameo.get('created_at')))}"
    )
    if cameo["status"] == "active":
        with common.panel():
            _permission(api, cameo, user)
        with common.panel():
            _grants(api, cameo)
    with common.panel():
        _revoke_and_delete(api, cameo, clips)
    _uses(clips)
