"""My settings (every account): the feed (personalised or not, a daily cap), who may use my cameo,
and today's generation quota.

A teen sees the floor and can make anything stricter, or switch
personalisation off and on again; what a guardian set stays in force where
it is stricter (the server decides; this page only offers what it allows).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common
from console.views.common import md

# Strictest first, as the server ranks them.
CAMEO = ("only_me", "approved", "mutuals", "everyone")
CAMEO_LABELS = {
    "only_me": "Only me",
    "approved": "People I approve",
    "mutuals": "Mutuals (we follow each other)",
    "everyone": "Everyone",
}
_FLASH = "settings_flash"
MAX_FEED_LIMIT = 1000


def _quota(api: Api) -> None:
    if not api.offers("GET", "/me/quota"):
        return
    quota = api.get("/me/quota")
    line = (
        f"Generations today: **{md(quota['used_today'])}** of {md(quota['per_day'])} used · "
        f"resets {md(common.when(quota.get('resets_at')))}"
    )
    if quota.get("source") == "account":
        line += " · a number set for your account"
    st.markdown(line)


def _form(api: Api, doc: dict[str, Any], user: dict[str, Any]) -> None:
    settings = doc.get("settings") or {}
    floor = doc.get("floor") or {}
    is_teen = bool(doc.get("is_teen"))
    with st.form("my-settings"):
        personal = st.toggle(
            "Personalised feed",
            value=bool(settings.get("personalized_feed", True)),
            help="On: mutuals first, then people you follow, then everyone else. "
            "Off: only the people you follow, newest first.",
        )
        cap = floor.get("feed_limit_per_day")
        current = settings.get("feed_limit_per_day")
        limited = st.checkbox(
            "Limit how many clips my feed shows a day",
            value=current is not None,
            disabled=is_teen,  # a teen always has a limit
        )
        limit = st.number_input(
            "Clips per day",
            min_value=0,
            max_value=int(cap or MAX_FEED_LIMIT),
            value=min(
                int(current if current is not None else (cap or 60)), int(cap or MAX_FEED_LIMIT)
            ),
        )
        cameo_value: str | None = None
        if user.get("role") == "user":
            allowed = list(CAMEO)
            if floor.get("cameo_permission") in CAMEO:
                allowed = list(CAMEO[: CAMEO.index(floor["cameo_permission"]) + 1])
            value = settings.get("cameo_permission")
            cameo_value = st.selectbox(
                "Who may use my cameo (at most)",
                allowed,
                index=allowed.index(value) if value in allowed else 0,
                format_func=lambda v: CAMEO_LABELS.get(v, v),
            )
        saved = st.form_submit_button("Save", type="primary")
    if not saved:
        return
    body: dict[str, Any] = {"personalized_feed": bool(personal)}
    if is_teen or limited:
        body["feed_limit_per_day"] = int(limit)
    elif current is not None:
        body["feed_limit_per_day"] = None
    if cameo_value is not None:
        body["cameo_permission"] = cameo_value
    api.put("/me/settings", json=body)
    common.set_flash("success", "Saved your settings.", _FLASH)
    st.rerun()


def my_settings(api: Api, user: dict[str, Any]) -> None:
    st.header("My settings")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/me/settings", "Settings"):
        return
    doc = api.get("/me/settings")
    settings = doc.get("settings") or {}
    st.markdown(
        "Feed: **"
        + ("personalised" if settings.get("personalized_feed") else "people I follow, newest first")
        + "**"
        + (
            f" · {md(doc.get('remaining_today'))} clips left today"
            if doc.get("remaining_today") is not None
            else ""
        )
    )
    if doc.get("is_teen"):
        floor = doc.get("floor") or {}
        st.caption(
            "Teen accounts can make these stricter, never looser than "
            f"{md(', '.join(f'{k}: {v}' for k, v in floor.items()))}; "
            "what your guardian set stays in force where it is stricter."
        )
        own = doc.get("own_choices") or {}
        differs = {k: v for k, v in own.items() if settings.get(k) != v}
        if differs:
            st.info(
                "Your guardian's setting is in force for: "
                + md(", ".join(f"{k} (you chose {v})" for k, v in differs.items()))
            )
    with common.panel():
        if not common.unavailable(api, "PUT", "/me/settings", "Changing settings"):
            _form(api, doc, user)
    with common.panel():
        _quota(api)
    if user.get("role") in common.STAFF:
        with common.panel():
            _review_preferences(api)


def _review_preferences(api: Api) -> None:
    """A moderator's own choice: review media blurred until revealed (the default) or shown."""
    st.subheader("Review")
    prefs = api.get("/me/preferences")
    blur = st.toggle(
        "Blur review media until I reveal it (videos hidden, then muted)",
        value=prefs.get("review_media", "blur") == "blur",
        key="pref-review-media",
    )
    wanted = "blur" if blur else "show"
    if wanted != prefs.get("review_media"):
        api.put("/me/preferences", json={"review_media": wanted})
        common.forget_media_preference()
        st.caption("Saved.")
