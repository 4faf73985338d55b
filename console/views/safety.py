"""Safety (staff): hash banks (list, create, import, export, add a clip) and protected likenesses."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api
from console.views import common
from console.views.common import md

SEVERITIES = ("critical", "high", "medium", "low")
_FLASH = "safety_flash"


def _banks(api: Api) -> None:
    st.subheader("Hash banks")
    banks = api.get("/banks")["banks"]
    if banks:
        st.dataframe(
            [
                {
                    "bank": b.get("name"),
                    "category": b.get("category"),
                    "entries": b.get("entries"),
                    "pdq": b.get("pdq"),
                    "sha256": b.get("sha256"),
                    "description": b.get("description"),
                    "created": common.when(b.get("created_at")),
                }
                for b in banks
            ],
            hide_index=True,
            use_container_width=True,
        )
    else:
        st.caption("No banks yet.")
    names = [b["name"] for b in banks]
    new, imp, exp, clip = st.tabs(["Create", "Import", "Export", "Add a clip"])
    with new, st.form("bank-new", clear_on_submit=True):
        name = st.text_input("Name")
        category = st.text_input("Category (e.g. sexual, violent_extremism)")
        description = st.text_area("Description", height=68)
        if st.form_submit_button("Create bank") and name.strip():
            api.post(
                "/banks",
                json={
                    "name": name.strip(),
                    "category": category.strip(),
                    "description": description,
                },
            )
            common.set_flash("success", f"Bank {name.strip()} created.", _FLASH)
            st.rerun()
    with imp, st.form("bank-import", clear_on_submit=True):
        target = st.text_input("Into bank (created when missing)")
        upload = st.file_uploader("greenroom-hashbank v1 file (JSON Lines)", type=["jsonl", "txt"])
        if st.form_submit_button("Import") and target.strip() and upload is not None:
            result = api.post(
                f"/banks/{target.strip()}/import",
                files={"file": (upload.name, upload.getvalue(), "application/x-ndjson")},
            )
            common.set_flash("success", f"Imported into {target.strip()}: {result}", _FLASH)
            st.rerun()
    with exp:
        if names:
            chosen = st.selectbox("Bank", names, key="bank-export")
            # Fetched on request: a large bank should not be downloaded on every rerun.
            if st.button(f"Prepare {md(chosen)} for download"):
                data, _ = api.get_bytes(f"/banks/{chosen}/export")
                st.download_button(
                    f"Download {md(chosen)}.hashbank.jsonl",
                    data,
                    file_name=f"{chosen}.hashbank.jsonl",
                    mime="application/x-ndjson",
                )
    with clip, st.form("bank-clip", clear_on_submit=True):
        bank = st.selectbox("Bank", names) if names else None
        clip_id = st.text_input("Clip id")
        label = st.text_input("Label (why it is known-bad)")
        severity = st.selectbox("Severity", SEVERITIES, index=1)
        if st.form_submit_button("Add the clip's hashes") and bank and clip_id.strip():
            result = api.post(
                f"/banks/{bank}/entries",
                json={"clip_id": clip_id.strip(), "label": label or None, "severity": severity},
            )
            common.set_flash("success", f"Added to {bank}: {result}", _FLASH)
            st.rerun()


def _protected(api: Api, user: dict[str, Any]) -> None:
    st.subheader("Protected likenesses")
    st.caption("People without a cameo whose face may not be generated, e.g. public figures.")
    people = api.get("/likeness/protected")["protected"]
    if people:
        st.dataframe(
            [
                {
                    "name": p.get("name"),
                    "id": p.get("id"),
                    "embeddings": p.get("embeddings"),
                    "added": common.when(p.get("created_at")),
                }
                for p in people
            ],
            hide_index=True,
            use_container_width=True,
        )
    if user["role"] != "admin":
        return
    with st.form("protect", clear_on_submit=True):
        name = st.text_input("Name")
        photos = st.file_uploader(
            "Photos of the person", type=["jpg", "jpeg", "png", "webp"], accept_multiple_files=True
        )
        if st.form_submit_button("Protect this likeness") and name.strip() and photos:
            with st.spinner("Finding faces…"):
                result = api.post(
                    "/likeness/protected",
                    data={"name": name.strip()},
                    files=[("photos", (p.name, p.getvalue(), p.type)) for p in photos],
                )
            common.set_flash(
                "success",
                f"Protected {result.get('name')} ({result.get('embeddings')} face embeddings).",
                _FLASH,
            )
            st.rerun()


def safety(api: Api, user: dict[str, Any]) -> None:
    st.header("Safety")
    common.flash(_FLASH)
    if not common.unavailable(api, "GET", "/banks", "Hash banks"):
        with common.panel():
            _banks(api)
    if not common.unavailable(api, "GET", "/likeness/protected", "Protected likenesses"):
        with common.panel():
            _protected(api, user)
