"""Characters: rights holders register and manage theirs, see matches with evidence, and dispute; staff read."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common
from console.views.common import code, md

POLICIES = {
    "block": "Block every use",
    "review": "A human reviews each use",
    "allow_with_attribution": "Allow, labelled with attribution",
    "allow": "Allow",
}
MANAGERS = ("rights_holder", "admin")
_FLASH = "characters_flash"


def _aliases(text: str) -> list[str]:
    return [a.strip() for a in text.replace("\n", ",").split(",") if a.strip()]


def _refs(files: list[Any] | None) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("refs", (f.name, f.getvalue(), f.type or "application/octet-stream")) for f in files or []
    ]


def _register(api: Api, user: dict[str, Any]) -> None:
    with st.form("character-new", clear_on_submit=True):
        st.subheader("Register a character")
        name = st.text_input("Name")
        aliases = st.text_area("Aliases (comma or one per line)", height=68)
        description = st.text_area("Description (used to match prompts)", height=68)
        policy = st.selectbox("Policy", list(POLICIES), format_func=POLICIES.__getitem__)
        attribution = st.text_input(
            "Attribution shown on clips (allow with attribution; empty: name © rights holder)",
            max_chars=200,
        )
        owner = st.text_input("Rights holder's handle") if user["role"] == "admin" else None
        refs = st.file_uploader(
            "Reference images", type=["png", "jpg", "jpeg", "webp"], accept_multiple_files=True
        )
        submitted = st.form_submit_button("Register", type="primary")
    if not submitted:
        return
    data: dict[str, Any] = {"name": name.strip(), "policy": policy, "aliases": _aliases(aliases)}
    if description.strip():
        data["description"] = description.strip()
    if attribution.strip():
        data["attribution"] = attribution.strip()
    if owner:
        data["owner"] = owner.strip().lstrip("@")
    files = _refs(refs)
    if files:
        created = api.post("/characters", data=data, files=files)
    else:
        created = api.post("/characters", json=data)
    common.set_flash(
        "success",
        f"Registered {created['name']} ({created['id']}) with policy {created['policy']} and "
        f"{len(created.get('refs') or [])} reference image(s).",
        _FLASH,
    )
    st.rerun()


def _manage(api: Api, char: dict[str, Any]) -> None:
    with st.form(f"character-edit-{char['id']}"):
        policy = st.selectbox(
            "Policy",
            list(POLICIES),
            index=list(POLICIES).index(char["policy"]) if char["policy"] in POLICIES else 0,
            format_func=POLICIES.__getitem__,
        )
        aliases = st.text_area("Aliases", ", ".join(char.get("aliases") or []), height=68)
        description = st.text_area("Description", char.get("description") or "", height=68)
        attribution = st.text_input(
            "Attribution shown on clips (empty: the default)",
            "" if char.get("attribution_is_default", True) else char.get("attribution") or "",
            max_chars=200,
            placeholder=str(char.get("attribution") or ""),
        )
        if st.form_submit_button("Save changes"):
            result = api.patch(
                f"/characters/{char['id']}",
                json={
                    "policy": policy,
                    "aliases": _aliases(aliases),
                    "description": description,
                    "attribution": attribution.strip(),
                },
            )
            common.set_flash("success", f"Saved {result['name']}: {result.get('changes')}", _FLASH)
            st.rerun()
    with st.form(f"character-refs-{char['id']}", clear_on_submit=True):
        refs = st.file_uploader(
            "Add reference images", type=["png", "jpg", "jpeg", "webp"], accept_multiple_files=True
        )
        if st.form_submit_button("Upload") and refs:
            result = api.post(f"/characters/{char['id']}/refs", files=_refs(refs))
            common.set_flash("success", f"Added {result.get('added')} image(s).", _FLASH)
            st.rerun()
    confirm = st.checkbox("I want to remove this character", key=f"character-del-{char['id']}")
    if st.button("Remove", disabled=not confirm, key=f"character-rm-{char['id']}"):
        api.delete(f"/characters/{char['id']}")
        common.set_flash("success", f"Removed {char['name']}; past evidence is kept.", _FLASH)
        st.rerun()


def _matches(api: Api, manager: bool, names: dict[str, str]) -> None:
    st.subheader("Matches")
    matches = api.get("/characters/matches", params={"limit": 200})["matches"]
    if not matches:
        st.caption("No clip or prompt has matched yet.")
        return
    st.dataframe(
        [
            {
                "when": common.when(m.get("created_at")),
                "character": m.get("name"),
                "score": m.get("score"),
                "threshold": m.get("threshold"),
                "backend": m.get("backend"),
                "source": m.get("source"),
                "policy then": m.get("policy"),
                "outcome": m.get("outcome"),
                "stage": m.get("stage"),
                "clip": m.get("clip_id"),
            }
            for m in matches
        ],
        hide_index=True,
        use_container_width=True,
    )
    chosen = st.selectbox(
        "Evidence of a match",
        matches,
        format_func=lambda m: (
            f"{m.get('name')} · {m.get('clip_id') or 'prompt'} · "
            f"score {m.get('score')} · {m.get('outcome')}"
        ),
    )
    with st.container(border=True):
        st.markdown(
            f"**{md(chosen.get('name'))}** via {md(chosen.get('backend'))} "
            f"({md(chosen.get('source'))}) · score {md(chosen.get('score'))} / threshold "
            f"{md(chosen.get('threshold'))} · decision **{md(chosen.get('outcome'))}**"
        )
        common.explanation(chosen.get("explanation"))
        if chosen.get("evidence"):
            st.json(chosen["evidence"], expanded=False)
    if not manager:
        return
    with st.form("dispute", clear_on_submit=True):
        st.markdown("Dispute this decision (opens a review item with a deadline)")
        message = st.text_area("Why the decision is wrong", height=68)
        if st.form_submit_button("Dispute"):
            result = api.post(
                "/disputes",
                json={
                    "character_id": chosen["character_id"],
                    "decision_id": chosen.get("decision_id"),
                    "clip_id": chosen.get("clip_id"),
                    "message": message,
                },
            )
            common.set_flash("success", f"Dispute {result.get('id')} opened.", _FLASH)
            st.rerun()


def characters(api: Api, user: dict[str, Any]) -> None:
    st.header("Characters")
    common.flash(_FLASH)
    if common.unavailable(api, "GET", "/characters", "The character registry"):
        return
    manager = user["role"] in MANAGERS
    if not manager:
        st.caption("Read-only: rights holders manage their own characters.")
    chars = api.get("/characters")["characters"]
    names = {c["id"]: c["name"] for c in chars}
    st.subheader("Registered" if manager else "All characters")
    if not chars:
        st.caption("No characters registered yet.")
    for char in chars:
        refs = char.get("refs") or []
        title = (
            f"{md(char['name'])} · {md(POLICIES.get(char['policy'], char['policy']))} · "
            f"{len(refs)} refs"
        )
        with st.expander(title):
            aliases = ", ".join(map(str, char.get("aliases") or [])) or "—"
            st.markdown(f"id {code(char['id'])} · aliases: {md(aliases)}")
            if char.get("description"):
                common.text(char["description"])
            if char.get("policy") == "allow_with_attribution" and char.get("attribution"):
                st.caption("Attribution shown on clips")
                common.text(char["attribution"])
            if manager:
                with common.panel():
                    _manage(api, char)
    if manager:
        with common.panel():
            _register(api, user)
    with common.panel():
        _matches(api, manager, names)
    with common.panel():
        disputes = api.get("/disputes")["disputes"]
        if disputes:
            st.subheader("Disputes")
            st.dataframe(
                [
                    {
                        "id": d["id"],
                        "character": names.get(d["character_id"], d["character_id"]),
                        "clip": d.get("clip_id"),
                        "message": d.get("message"),
                        "status": d.get("status"),
                        "review": d.get("queue_status"),
                        "due": common.when(d.get("due_at")),
                    }
                    for d in disputes
                ],
                hide_index=True,
                use_container_width=True,
            )
