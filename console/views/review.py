"""The review queue: pick a queue, claim the next item, read the evidence, decide with a reason, next."""

from __future__ import annotations

from typing import Any

import streamlit as st

from console.api import Api, ApiError
from console.views import common
from console.views.common import code, md

ACTIONS = {
    "publish": "Publish",
    "takedown": "Take down",
    "block": "Block",
    "age_restrict": "Age-restrict (adults only)",
}
# Appeals and rights-holder disputes are decided as verdicts on the earlier decision.
VERDICTS = {"uphold": "Uphold the decision", "overturn": "Overturn the decision"}
_VERDICT_QUEUES = ("appeals", "rights_disputes")
# Keys a moderator presses instead of reaching for the mouse (never while typing in a field).
SHORTCUTS: dict[str, str] = {
    "p": "Publish",
    "b": "Block",
    "t": "Take down",
    "a": "Age-restrict (adults only)",
    "u": "Uphold the decision",
    "o": "Overturn the decision",
    "r": "Reveal media",
}
# Buttons: d decides (and claims the next item when that box is ticked), n claims the next item.
SHORTCUT_BUTTONS: dict[str, str] = {"d": "Decide", "n": "Claim next"}
_CURRENT = "review_item"
_LAST = "review_last_decision"
# The server's reason categories (policies.schema.STRIKE_CATEGORIES; a test keeps them equal).
CATEGORIES = {
    "other": "Other",
    "spam": "Spam",
    "sexual": "Sexual content",
    "sexual_minors": "Sexual content involving minors (banks the hashes, bans the account)",
    "violence": "Violence",
    "hate": "Hate",
    "self_harm": "Self-harm",
    "likeness": "Likeness (cameo or real person)",
    "character": "Character (rights holder)",
}


def _claim_next(api: Api, queue: str, me: str) -> str | None:
    """Claim the most urgent open item of ``queue`` (or resume one I hold); None when empty."""
    items = api.get(f"/queues/{queue}", params={"limit": 100})["items"]
    for item in items:
        if item["status"] == "claimed" and item.get("claimed_by") == me:
            return str(item["id"])
    for item in items:
        if item["status"] != "open":
            continue
        try:
            api.post(f"/queue-items/{item['id']}/claim")
        except ApiError as exc:
            if exc.status == 409:  # someone else took it between list and claim
                continue
            raise
        return str(item["id"])
    return None


def _queue_overview(api: Api) -> dict[str, dict[str, Any]]:
    queues: dict[str, dict[str, Any]] = api.get("/queues")["queues"]
    if not queues:
        st.success("Every queue is empty.")
        return {}
    rows = [
        {
            "queue": name,
            "open": q.get("open", 0),
            "claimed": q.get("claimed", 0),
            "overdue": q.get("overdue", 0),
            "oldest deadline": common.when(q.get("next_due")),
        }
        for name, q in queues.items()
    ]
    st.dataframe(rows, hide_index=True, use_container_width=True)
    return queues


def _evidence(api: Api, item: dict[str, Any]) -> None:
    evidence = item.get("evidence") or {}
    clip = evidence.get("clip") or {}
    decision = evidence.get("decision") or {}
    st.subheader(f"Item {md(item['id'])}")
    st.markdown(
        f"queue **{md(item['queue'])}** · priority {md(item.get('priority'))} · reason "
        f"{code(item.get('reason'))} · due {md(common.when(item.get('due_at')))} · "
        f"status {md(item['status'])}"
    )
    left, right = st.columns([2, 3])
    with left:
        common.clip_media(api, clip.get("id"), guarded=common.media_guarded(api))
        if clip:
            st.markdown(
                f"clip {code(clip.get('id'))} by **@{md(clip.get('creator'))}** · "
                f"{md(clip.get('origin'))} · status {md(clip.get('status'))} · "
                f"audience {md(clip.get('audience'))}"
            )
            if clip.get("parent_clip_id"):
                st.markdown(f"remix of {code(clip['parent_clip_id'])}")
            if clip.get("prompt"):
                st.caption("prompt")
                common.text(clip["prompt"])
    with right:
        st.markdown("#### Rules that fired")
        common.decision(decision)
        st.markdown("#### Signals")
        common.signals(evidence.get("signals") or [])


def _decide_form(api: Api, item: dict[str, Any], me: str, offers_banks: bool) -> None:
    choices: dict[str, str] = {}
    if item["queue"] in _VERDICT_QUEUES:
        choices.update(VERDICTS)
    if item.get("clip_id"):
        choices.update(ACTIONS)
    with st.form(f"decide-{item['id']}", clear_on_submit=False):
        action = st.radio(
            "Decision",
            list(choices),
            format_func=choices.__getitem__,
            horizontal=True,
        )
        reason = st.text_input("Reason (required, the creator sees it)")
        category = st.selectbox("Category", list(CATEGORIES), format_func=CATEGORIES.__getitem__)
        bank = None
        if offers_banks:
            banks = [b["name"] for b in api.get("/banks")["banks"]]
            bank = st.selectbox(
                "Also add the clip to a hash bank (block / take down only)",
                ["", *banks],
                format_func=lambda b: b or "no",
            )
        strike = st.checkbox("Add a strike to the creator (block / take down only)")
        auto_next = st.checkbox("Then claim the next item in this queue", value=True)
        submitted = st.form_submit_button("Decide", type="primary")
    if not submitted:
        return
    if not reason.strip():
        st.error("A decision needs a reason.")
        return
    body: dict[str, Any] = {"outcome": action, "reason": reason.strip(), "category": category}
    if bank:
        body["add_to_bank"] = bank
    if strike:
        body["strike"] = True
    result = api.post(f"/queue-items/{item['id']}/decide", json=body)
    st.session_state.pop(_CURRENT, None)
    st.session_state[_LAST] = (result["decision_id"], item["id"], choices[action])
    message = f"Decided {choices[action].lower()} on item {item['id']}"
    # An appeal of a prompt's or an account's decision has no clip.
    message += f" (clip now {result['clip_status']})." if result.get("clip_status") else "."
    if auto_next:
        following = _claim_next(api, item["queue"], me)
        if following is None:
            message += f" No more open items in {item['queue']}."
        else:
            st.session_state[_CURRENT] = following
            message += f" Next: item {following}."
    common.set_flash("success", message)
    st.rerun()


def review_queue(api: Api, user: dict[str, Any]) -> None:
    st.header("Review queue")
    common.flash()
    with common.panel():
        queues = _queue_overview(api)
    _shortcuts()
    _undo_last(api)
    current = st.session_state.get(_CURRENT)
    names = list(queues)
    if names:
        # Most urgent first: the queue whose oldest deadline comes first.
        names.sort(key=lambda n: str(queues[n].get("next_due") or "~"))
        cols = st.columns([2, 1, 3])
        queue = cols[0].selectbox("Queue", names, label_visibility="collapsed")
        if cols[1].button("Claim next", type="primary", disabled=current is not None):
            with common.panel():
                claimed = _claim_next(api, queue, user["id"])
                if claimed is None:
                    st.info(f"No open items in {md(queue)}.")
                else:
                    st.session_state[_CURRENT] = current = claimed
        with st.expander(f"Items in {md(queue)}"), common.panel():
            _items_page(api, queue)
        if user.get("role") == "admin":
            _assign_form(api, queue)
    if current is None:
        return
    with common.panel():
        item = api.get(f"/queue-items/{current}")
        if item["status"] == "resolved":
            st.session_state.pop(_CURRENT, None)
            st.info(f"Item {md(current)} was resolved meanwhile.")
            return
        st.divider()
        _evidence(api, item)
        st.divider()
        _decide_form(api, item, user["id"], common.has_area(api, "/banks"))
        aside, release = st.columns(2)
        if aside.button("Put aside (it stays claimed by you)"):
            st.session_state.pop(_CURRENT, None)
            st.rerun()
        if release.button("Release (back to the queue)"):
            api.post(f"/queue-items/{current}/release")
            st.session_state.pop(_CURRENT, None)
            common.set_flash("success", f"Released {current}: it is open for anyone again.")
            st.rerun()


def _shortcuts() -> None:
    """Keyboard shortcuts: a script in a zero-height frame clicks the labelled control.

    Streamlit has no key bindings; the console is served from one origin, so
    the frame reaches the page and clicks exactly what a person would click
    (the server still checks everything). Keys typed into a text field are
    left alone.
    """
    import json

    import streamlit.components.v1 as components

    components.html(
        """<script>
const doc = window.parent.document;
const labels = __LABELS__, buttons = __BUTTONS__;
const typing = (t) => !!t && (t.isContentEditable || t.tagName === "TEXTAREA" ||
  (t.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(t.type)));
const onKey = (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
  const key = e.key.toLowerCase();
  const pick = (sel, text) => Array.from(doc.querySelectorAll(sel))
    .find((el) => el.innerText.trim() === text);
  let el = null;
  if (labels[key]) el = pick("label", labels[key]);
  else if (buttons[key]) el = pick("button", buttons[key]);
  if (el) { e.preventDefault(); el.click(); }
};
// One listener, from the newest frame (a frame Streamlit replaced takes its listener with it).
if (doc.__greenroomKeys) doc.removeEventListener("keydown", doc.__greenroomKeys);
doc.__greenroomKeys = onKey;
doc.addEventListener("keydown", onKey);
</script>""".replace("__LABELS__", json.dumps(SHORTCUTS)).replace(
            "__BUTTONS__", json.dumps(SHORTCUT_BUTTONS)
        ),
        height=0,
    )
    st.caption(
        "Keys: "
        + " · ".join(f"{k} {v.split(' (')[0].lower()}" for k, v in SHORTCUTS.items())
        + " · d decide · n claim next"
    )


def _undo_last(api: Api) -> None:
    """Undo my last decision (the server keeps the window); the item comes back to me."""
    last = st.session_state.get(_LAST)
    if not last:
        return
    decision_id, item_id, label = last
    if not st.button(f"Undo: {label.lower()} on item {item_id}"):
        return
    st.session_state.pop(_LAST, None)
    try:
        api.post(f"/decisions/{decision_id}/undo", json={"reason": "undone from the console"})
    except ApiError as exc:
        if exc.status == 401:
            raise
        common.refusal(exc)
        return
    st.session_state[_CURRENT] = item_id
    common.set_flash("success", f"Undone: item {item_id} is back with you to decide again.")
    st.rerun()


def _assign_form(api: Api, queue: str) -> None:
    """A lead hands an unresolved item to a moderator (taking it from whoever holds it)."""
    with st.expander("Assign an item (lead)"), common.panel():
        items = api.get(f"/queues/{queue}", params={"limit": 200})["items"]
        if not items:
            st.caption("Nothing to assign in this queue.")
            return
        with st.form(f"assign-{queue}"):
            item_id = st.selectbox(
                "Item",
                [i["id"] for i in items],
                format_func=lambda i: next(
                    f"{x['id']} · {x['status']} · {x['reason'][:60]}" for x in items if x["id"] == i
                ),
            )
            handle = st.text_input("To moderator (handle)")
            if st.form_submit_button("Assign"):
                if not handle.strip():
                    common.error("Name the moderator to hand the item to.")
                    return
                done = api.post(f"/queue-items/{item_id}/assign", json={"handle": handle.strip()})
                taken = done.get("previous_holder")
                common.set_flash(
                    "success",
                    f"Assigned {item_id} to @{handle.strip().lstrip('@')}"
                    + (" (taken from its previous holder)." if taken else "."),
                )
                st.rerun()


_ITEMS_PAGE = 50


def _items_page(api: Api, queue: str) -> None:
    """One page of the queue's unresolved items (server-side paging), filtered by status and words."""
    cols = st.columns([1, 2])
    status = cols[0].selectbox("Status", ["any", "open", "claimed"], key=f"items-status-{queue}")
    words = cols[1].text_input("Words in the reason", key=f"items-q-{queue}").strip()
    params: dict[str, Any] = {"limit": _ITEMS_PAGE}
    if status != "any":
        params["status"] = status
    if words:
        params["q"] = words
    where = f"items-offset-{queue}"
    if st.session_state.get(f"{where}-filter") != params:
        st.session_state[f"{where}-filter"] = params
        st.session_state[where] = 0
    offset = int(st.session_state.get(where, 0))
    page = api.get(f"/queues/{queue}", params={**params, "offset": offset})
    items = page["items"]
    st.caption(f"Items {offset + 1}–{offset + len(items)}" if items else "No items match.")
    st.dataframe(
        [
            {
                "id": i["id"],
                "priority": i["priority"],
                "reason": i["reason"],
                "status": i["status"],
                "due": common.when(i.get("due_at")),
            }
            for i in items
        ],
        hide_index=True,
        use_container_width=True,
    )
    prev, nxt = st.columns(2)
    if prev.button("Previous items", disabled=offset == 0, key=f"items-prev-{queue}"):
        st.session_state[where] = max(0, offset - _ITEMS_PAGE)
        st.rerun()
    if nxt.button(
        "Next items", disabled=page.get("next_offset") is None, key=f"items-next-{queue}"
    ):
        st.session_state[where] = page["next_offset"]
        st.rerun()
