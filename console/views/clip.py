"""The clip page (staff): everything known about one clip, from ``GET /clips/{id}/dossier``.

Lineage both ways, every decision with its rules, values and signals, the
review history (queue items in every state), reports, appeals, evidence holds
and the clip's audit entries. The media is blurred (a video hidden) until the
moderator reveals it: they look at harmful material only when they choose to.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api, ApiError
from console.views import common
from console.views.common import code, md

_CLIP = "clip_page_id"


def _lineage_rows(clips: list[dict[str, Any]], *, depth: bool) -> list[dict[str, Any]]:
    return [
        {
            **({"depth": c.get("depth")} if depth else {}),
            "clip": c.get("id"),
            "status": c.get("status"),
            "origin": c.get("origin"),
            "created": common.when(c.get("created_at")),
        }
        for c in clips
    ]


def clip_page(api: Api, user: dict[str, Any]) -> None:
    st.header("Clip")
    with st.form("clip-lookup"):
        wanted = st.text_input("Clip id", value=st.session_state.get(_CLIP, ""))
        if st.form_submit_button("Open"):
            st.session_state[_CLIP] = wanted.strip()
    clip_id = st.session_state.get(_CLIP, "")
    if not clip_id:
        st.caption("Open a clip by its id (from a queue item, a report, the audit log).")
        return
    try:
        doc: dict[str, Any] = api.get(f"/clips/{clip_id}/dossier")
    except ApiError as exc:
        if exc.status == 401:
            raise
        common.refusal(exc)
        return
    clip = doc["clip"]
    st.markdown(
        f"{code(clip['id'])} · **{md(clip.get('status'))}** · audience {md(clip.get('audience'))} "
        f"· {md(clip.get('origin'))} by @{md(clip.get('creator'))} · "
        f"created {md(common.when(clip.get('created_at')))}"
    )
    if clip.get("prompt"):
        st.caption("Prompt")
        common.text(clip["prompt"])
    common.clip_media(api, clip["id"], guarded=common.media_guarded(api))

    lineage = doc.get("lineage") or {}
    st.subheader("Lineage")
    ancestors, remixes = lineage.get("ancestors") or [], lineage.get("remixes") or []
    if ancestors:
        st.caption("Remixed from (parent first)")
        st.dataframe(_lineage_rows(ancestors, depth=False), hide_index=True)
    if remixes:
        st.caption("Remixes")
        st.dataframe(_lineage_rows(remixes, depth=True), hide_index=True)
    if not ancestors and not remixes:
        st.caption("An original clip, never remixed.")

    decisions = doc.get("decisions") or []
    st.subheader(f"Decisions ({len(decisions)})")
    for d in decisions:
        door = (d.get("details") or {}).get("explanation", {}).get("door") or "?"
        title = f"{common.when(d.get('created_at'))} · {d.get('outcome')} · {door}"
        with st.expander(title):
            common.decision(d)
            common.signals(d.get("signals") or [])

    st.subheader("Review history")
    items = doc.get("queue_items") or []
    if items:
        st.dataframe(
            [
                {
                    "item": i.get("id"),
                    "queue": i.get("queue"),
                    "status": i.get("status"),
                    "priority": i.get("priority"),
                    "opened": common.when(i.get("created_at")),
                    "resolved": common.when(i.get("resolved_at")),
                    "outcome": (i.get("resolution") or {}).get("outcome"),
                    "category": (i.get("resolution") or {}).get("category"),
                }
                for i in items
            ],
            hide_index=True,
        )
    else:
        st.caption("Never in a review queue.")

    reports, appeals = doc.get("reports") or [], doc.get("appeals") or []
    st.subheader(f"Reports ({len(reports)}) and appeals ({len(appeals)})")
    if reports:
        st.dataframe(
            [
                {
                    "reporter": r.get("reporter"),
                    "reason": r.get("reason"),
                    "status": r.get("status"),
                    "when": common.when(r.get("created_at")),
                }
                for r in reports
            ],
            hide_index=True,
        )
    for a in appeals:
        st.markdown(
            f"- appeal by @{md(a.get('appellant'))} · **{md(a.get('status'))}** · "
            f"{md(common.when(a.get('created_at')))}"
        )
        common.text(a.get("message"))
    holds = doc.get("evidence_holds") or []
    if holds:
        st.subheader("Evidence holds")
        st.dataframe(holds, hide_index=True)

    entries = doc.get("audit") or []
    st.subheader(f"Audit ({len(entries)})")
    st.dataframe(
        [
            {
                "seq": e.get("seq"),
                "at": e.get("at"),
                "event": e.get("event"),
                "actor": e.get("actor_id"),
                "subject": e.get("subject_id"),
            }
            for e in entries
        ],
        hide_index=True,
    )
