"""Teens and guardians.

Guardians: ask to be linked to a teen (pending until the teen confirms), see
confirmed teens' settings in force, tighten them (never loosen), unlink.
Admins: link a guardian to a teen directly, or unlink. Teens (user accounts):
confirm or decline a guardian's request, end a link.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common
from console.views.common import md

# Strictest first, as the server ranks them.
CAMEO = ("only_me", "approved", "mutuals", "everyone")
_FLASH = "teens_flash"


def _up_to(levels: tuple[str, ...], floor: Any) -> list[str]:
    return list(levels[: levels.index(floor) + 1]) if floor in levels else list(levels)


def _teen(api: Api, teen: dict[str, Any]) -> None:
    settings = teen.get("settings") or {}
    floor = teen.get("floor") or {}
    handle = teen["handle"]
    remaining = teen.get("remaining_today")
    guardians = ", ".join("@" + str(g) for g in teen.get("guardians") or [])
    st.markdown(
        f"### @{md(handle)}\nguardians: {md(guardians)} · "
        f"feed today: {md(teen.get('views_today'))} seen"
        + (f", {md(remaining)} left" if remaining is not None else "")
    )
    st.caption(
        "You can only make these stricter than the teen floor "
        f"({md(', '.join(f'{k}: {v}' for k, v in floor.items()))})."
    )
    with st.form(f"teen-{handle}"):
        limit_cap = floor.get("feed_limit_per_day") or 1000
        limit = st.number_input(
            "Feed items per day",
            min_value=0,
            max_value=int(limit_cap),
            value=min(int(settings.get("feed_limit_per_day") or limit_cap), int(limit_cap)),
        )
        cameo_opts = _up_to(CAMEO, floor.get("cameo_permission"))
        cameo = st.selectbox(
            "Who may use their cameo (at most)",
            cameo_opts,
            index=cameo_opts.index(settings["cameo_permission"])
            if settings.get("cameo_permission") in cameo_opts
            else 0,
        )
        personal = st.checkbox(
            "Personalised feed (off: only the people they follow, newest first)",
            value=bool(settings.get("personalized_feed")),
            disabled=not floor.get("personalized_feed", True),
        )
        if st.form_submit_button("Save (tighten)"):
            api.put(
                f"/teens/{handle}/settings",
                json={
                    "feed_limit_per_day": int(limit),
                    "cameo_permission": cameo,
                    "personalized_feed": personal,
                },
            )
            common.set_flash("success", f"Saved @{handle}'s settings.", _FLASH)
            st.rerun()


def _unlink_button(api: Api, handle: str, guardian: str | None = None) -> None:
    key = f"unlink-{handle}-{guardian or ''}"
    if st.button(f"Unlink @{md(handle)}", key=key):
        params = {"guardian_handle": guardian} if guardian else None
        api.delete(f"/guardians/{handle}", params=params)
        common.set_flash("success", f"Unlinked @{handle}.", _FLASH)
        st.rerun()


def _request(api: Api) -> None:
    with st.form("guardian-request", clear_on_submit=True):
        handle = st.text_input("Ask to be a teen's guardian (their handle)")
        st.caption("The teen confirms the request in their console; until then you see nothing.")
        if st.form_submit_button("Send request") and handle.strip():
            target = handle.strip().lstrip("@")
            api.post(f"/guardians/{target}")
            common.set_flash("success", f"Request sent to @{target}.", _FLASH)
            st.rerun()


def _admin_link(api: Api) -> None:
    with st.form("guardian-admin-link", clear_on_submit=True):
        st.subheader("Link or unlink a guardian (admin)")
        cols = st.columns(2)
        guardian = cols[0].text_input("Guardian's handle").strip().lstrip("@")
        teen = cols[1].text_input("Teen's handle").strip().lstrip("@")
        link = cols[0].form_submit_button("Link (confirmed)", type="primary")
        unlink = cols[1].form_submit_button("Unlink")
    if (link or unlink) and guardian and teen:
        if link:
            api.post(f"/guardians/{teen}", params={"guardian_handle": guardian})
            common.set_flash("success", f"Linked @{guardian} to @{teen}.", _FLASH)
        else:
            api.delete(f"/guardians/{teen}", params={"guardian_handle": guardian})
            common.set_flash("success", f"Unlinked @{guardian} from @{teen}.", _FLASH)
        st.rerun()


def teens(api: Api, user: dict[str, Any]) -> None:
    st.header("Teens")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/teens", "Teen settings"):
        return
    doc = api.get("/teens")
    linked = doc["teens"]
    if user["role"] == "admin":
        with common.panel():
            _admin_link(api)
    elif not linked:
        st.info("No teen account has confirmed you as their guardian yet.")
    for teen in linked:
        with st.container(border=True), common.panel():
            _teen(api, teen)
            _unlink_button(api, teen["handle"])
    if user["role"] != "guardian":
        return
    pending = doc.get("pending") or []
    if pending:
        st.subheader("Waiting for the teen to confirm")
        for request in pending:
            cols = st.columns([4, 1])
            cols[0].markdown(
                f"@{md(request['handle'])} · asked {md(common.when(request.get('requested_at')))}"
            )
            with cols[1], common.panel():
                _unlink_button(api, request["handle"])
    with common.panel():
        _request(api)


def my_guardians(api: Api, user: dict[str, Any]) -> None:
    """A user's guardian links: confirm or decline requests, end a confirmed link."""
    st.header("Guardians")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/me/guardians", "Guardian links"):
        return
    links = api.get("/me/guardians")["guardians"]
    if not links:
        st.info("No guardian has asked to be linked to your account.")
    for link in links:
        guardian = str(link["guardian"])
        with st.container(border=True), common.panel():
            confirmed = link.get("status") == "confirmed"
            when = link.get("confirmed_at") if confirmed else link.get("requested_at")
            st.markdown(
                f"@{md(guardian)} · **{'confirmed' if confirmed else 'asks to be your guardian'}**"
                f" · {md(common.when(when))}"
            )
            if confirmed:
                st.caption("They can see your safety settings and make them stricter.")
            cols = st.columns(2)
            if not confirmed and cols[0].button("Confirm", key=f"confirm-{guardian}"):
                api.post(f"/me/guardians/{guardian}/confirm")
                common.set_flash("success", f"@{guardian} is now your guardian.", _FLASH)
                st.rerun()
            label = "Remove" if confirmed else "Decline"
            if cols[1].button(label, key=f"remove-{guardian}"):
                api.delete(f"/me/guardians/{guardian}")
                common.set_flash("success", f"@{guardian} is not linked to you.", _FLASH)
                st.rerun()
