"""Teens (guardians): linked teens, their settings in force, and tightening them (never loosening)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common

# Strictest first, as the server ranks them.
CAMEO = ("only_me", "approved", "mutuals", "everyone")
DMS = ("off", "mutuals", "everyone")
_FLASH = "teens_flash"


def _up_to(levels: tuple[str, ...], floor: Any) -> list[str]:
    return list(levels[: levels.index(floor) + 1]) if floor in levels else list(levels)


def _teen(api: Api, teen: dict[str, Any]) -> None:
    settings = teen.get("settings") or {}
    floor = teen.get("floor") or {}
    handle = teen["handle"]
    remaining = teen.get("remaining_today")
    st.markdown(
        f"### @{handle}\nguardians: {', '.join('@' + g for g in teen.get('guardians') or [])} · "
        f"feed today: {teen.get('views_today')} seen"
        + (f", {remaining} left" if remaining is not None else "")
    )
    st.caption(
        "You can only make these stricter than the teen floor "
        f"({', '.join(f'{k}: {v}' for k, v in floor.items())})."
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
        dm_opts = _up_to(DMS, floor.get("dms"))
        dms = st.selectbox(
            "Direct messages",
            dm_opts,
            index=dm_opts.index(settings["dms"]) if settings.get("dms") in dm_opts else 0,
        )
        personal = st.checkbox(
            "Personalised feed",
            value=bool(settings.get("personalized_feed")),
            disabled=not floor.get("personalized_feed", True),
        )
        if st.form_submit_button("Save (tighten)"):
            api.put(
                f"/teens/{handle}/settings",
                json={
                    "feed_limit_per_day": int(limit),
                    "cameo_permission": cameo,
                    "dms": dms,
                    "personalized_feed": personal,
                },
            )
            common.set_flash("success", f"Saved @{handle}'s settings.", _FLASH)
            st.rerun()


def teens(api: Api, user: dict[str, Any]) -> None:
    st.header("Teens")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/teens", "Teen settings"):
        return
    linked = api.get("/teens")["teens"]
    if not linked:
        st.info("No teen account is linked to you.")
    for teen in linked:
        with st.container(border=True), common.panel():
            _teen(api, teen)
