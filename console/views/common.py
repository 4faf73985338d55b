"""Pieces every console page uses: API error panels, missing-route notices, and evidence rendering.

Evidence is rendered from the server's JSON as it comes: a signal is shown by
its kind (likeness, character, age, nudity, provenance, hash) with its
explanation (model, method, score, threshold, details); unknown kinds fall
back to their plain fields, so a new detector shows up without a console
change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from console.api import Api, ApiError

ALL = ("admin", "moderator", "rights_holder", "user", "guardian")
STAFF = ("admin", "moderator")
USERS = ("user",)

# Kinds we know how to lay out; the order is the order a moderator reads them in.
SIGNAL_TITLES: dict[str, str] = {
    "likeness.match": "Likeness (cameo / protected face)",
    "character.match": "Character",
    "minor.age_estimate": "Estimated age",
    "nudity.score": "Nudity",
    "provenance.state": "Provenance (C2PA)",
    "hash.match": "Hash bank match",
    "prompt.category": "Prompt",
}


@contextmanager
def panel() -> Iterator[None]:
    """Show an API refusal as the server's message in place, and let the rest of the page render."""
    try:
        yield
    except ApiError as exc:
        if exc.status == 401:
            raise  # the app signs the person out
        st.error(exc.message)


def unavailable(api: Api, method: str, path: str, what: str) -> bool:
    """True (with a notice) when the server does not offer ``method path`` yet."""
    if api.offers(method, path):
        return False
    st.info(f"{what} is not available on this server yet (no {method} {path}).")
    return True


def has_area(api: Api, prefix: str) -> bool:
    """Whether the server offers any route under ``prefix`` (e.g. ``/banks``)."""
    try:
        return any(path.startswith(prefix) for _, path in api.routes())
    except ApiError:
        return False


def flash(key: str = "flash") -> None:
    """Show (once) a message a previous action left for this rerun."""
    message = st.session_state.pop(key, None)
    if message:
        kind, text = message
        getattr(st, kind)(text)


def set_flash(kind: str, text: str, key: str = "flash") -> None:
    st.session_state[key] = (kind, text)


def when(value: Any) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM UTC (in 3 h / 2 h ago)'."""
    if not value:
        return "—"
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = (at - datetime.now(UTC)).total_seconds()
    span = abs(delta)
    text = (
        f"{span / 86400:.0f} d"
        if span >= 86400
        else f"{span / 3600:.0f} h"
        if span >= 3600
        else f"{span / 60:.0f} min"
    )
    rel = f"in {text}" if delta >= 0 else f"{text} ago"
    return f"{at:%Y-%m-%d %H:%M} UTC ({rel})"


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def explanation(expl: dict[str, Any] | None) -> None:
    """Model, method, score against threshold, and the details of one finding."""
    if not expl:
        st.caption("no explanation recorded")
        return
    score, threshold = expl.get("score"), expl.get("threshold")
    line = f"model `{expl.get('model_id', '?')}` · {expl.get('method', '')}"
    if score is not None:
        line += f" · score **{_num(score)}**"
        if threshold is not None:
            line += f" (threshold {_num(threshold)})"
    details = expl.get("details")
    if isinstance(details, dict) and details.get("reason"):
        line += f" · {details['reason']}"
    st.markdown(line)
    if details:
        with st.expander("details"):
            st.json(details, expanded=False)


def _time_range(sig: dict[str, Any]) -> str:
    start, end, t = sig.get("start_s"), sig.get("end_s"), sig.get("t")
    if start is not None and end is not None:
        return f"{_num(start, 1)}–{_num(end, 1)} s"
    if t is not None:
        return f"at {_num(t, 1)} s"
    return ""


def _headline(sig: dict[str, Any]) -> str:
    """One line saying what this signal found, in the moderator's words."""
    kind = sig.get("kind", "")
    span = _time_range(sig)
    suffix = f" · {span}" if span else ""
    if kind == "likeness.match":
        who = sig.get("name") or sig.get("cameo_id") or sig.get("id")
        what = sig.get("match_kind") or "cameo"
        sim, thr = sig.get("similarity"), sig.get("threshold")
        head = f"face matches {what} **{who}**"
        if sim is not None:
            head += f" · similarity {_num(sim)}" + (f" / threshold {_num(thr)}" if thr else "")
        if sig.get("consent"):
            head += f" · consent **{sig['consent']}**"
            if sig.get("consent_reason"):
                head += f" ({sig['consent_reason']})"
        tracks = sig.get("tracks") or []
        return head + (f" · {len(tracks)} face track(s)" if tracks else "") + suffix
    if kind == "character.match":
        return (
            f"character **{sig.get('name', sig.get('character_id'))}** via "
            f"{sig.get('backend', '?')} · score {_num(sig.get('score'))} / threshold "
            f"{_num(sig.get('threshold'))}" + suffix
        )
    if kind == "minor.age_estimate":
        return (
            f"estimated age **{_num(sig.get('age'), 1)}** ± {_num(sig.get('sigma'), 1)} · band "
            f"**{sig.get('band', '?')}**" + suffix
        )
    if kind == "nudity.score":
        classes = ", ".join(sig.get("exposed_classes") or []) or "none exposed"
        return (
            f"nudity score **{_num(sig.get('score'))}** · exposed {_num(sig.get('exposed_score'))}"
            f" · classes: {classes}" + suffix
        )
    if kind == "provenance.state":
        head = f"C2PA **{sig.get('state', '?')}**"
        if sig.get("ai_generated") is not None:
            head += f" · AI-generated: {sig.get('ai_generated')}"
        if sig.get("signer"):
            head += f" · signer {sig.get('signer')}"
        if sig.get("own_output"):
            head += f" · our own clip {sig.get('own_output')}"
        if sig.get("codes"):
            head += f" · codes {', '.join(map(str, sig['codes']))}"
        return head
    if kind == "hash.match":
        return (
            f"bank **{sig.get('bank', '?')}** ({sig.get('category') or 'no category'}) · "
            f"{sig.get('hash_kind', '')} · {sig.get('label', '')} · severity {sig.get('severity')} · "
            f"distance {sig.get('distance')} / threshold {sig.get('threshold')}" + suffix
        )
    if kind == "prompt.category":
        return f"prompt category **{sig.get('name', sig.get('category', '?'))}** · score {_num(sig.get('score'))}"
    return f"{kind}" + suffix


def signals(items: list[dict[str, Any]]) -> None:
    """Every signal, grouped by kind, each with its explanation."""
    if not items:
        st.caption("No detector found anything in this clip.")
        return
    order = list(SIGNAL_TITLES)
    kinds = sorted(
        {s.get("kind", "?") for s in items},
        key=lambda k: (order.index(k) if k in order else len(order), k),
    )
    for kind in kinds:
        group = [s for s in items if s.get("kind", "?") == kind]
        st.markdown(f"**{SIGNAL_TITLES.get(kind, kind)}** · `{kind}` · {len(group)}")
        for sig in group:
            with st.container(border=True):
                st.markdown(_headline(sig))
                explanation(sig.get("explanation"))
                extra = {
                    k: v
                    for k, v in sig.items()
                    if k not in ("explanation", "kind") and v not in (None, [], {}, "")
                }
                with st.expander("all fields"):
                    st.json(extra, expanded=False)


def rules_table(rules: list[dict[str, Any]]) -> None:
    """The rules that fired: id, outcome, reason, file, and the values that made them true."""
    if not rules:
        st.caption("No rule fired.")
        return
    for rule in rules:
        values = rule.get("values") or {}
        shown = ", ".join(f"`{k}` = `{v}`" for k, v in values.items()) or "—"
        overridden = rule.get("overridden_by")
        st.markdown(
            f"- **{rule.get('id')}** → {rule.get('outcome')} · reason `{rule.get('reason', '')}`"
            f" · {rule.get('file', '')}"
            + (f" · overridden by {overridden}" if overridden else "")
            + f"  \n  values: {shown}"
        )


def decision(doc: dict[str, Any] | None, *, staff: bool = True) -> None:
    """A policy decision: outcome, version, queue, the rules that fired (and shadow, for staff)."""
    if not doc:
        st.caption("no decision recorded")
        return
    version = doc.get("policy_version") or doc.get("version")
    head = f"outcome **{doc.get('outcome')}** · policy version `{version}`"
    if doc.get("queue"):
        head += f" · queue {doc['queue']} (priority {doc.get('priority')})"
    if doc.get("decided_by"):
        head += f" · decided by a moderator: {doc.get('reason', '')}"
    st.markdown(head)
    rules_table(doc.get("rules") or [])
    if staff:
        shadow = doc.get("shadow")
        if isinstance(shadow, dict) and shadow.get("version"):
            st.caption(
                f"shadow version {shadow.get('version')}: outcome {shadow.get('outcome')}, "
                f"rules {[r.get('id') if isinstance(r, dict) else r for r in shadow.get('rules', [])]}"
            )
        details = doc.get("details") or {}
        expl = details.get("explanation") or doc.get("explanation") or {}
        skipped = expl.get("sources_skipped") or []
        failed = expl.get("source_errors") or []
        if skipped or failed:
            with st.expander(f"detectors not run ({len(skipped)} skipped, {len(failed)} failed)"):
                for s in skipped:
                    st.markdown(f"- {s.get('source')}: {s.get('note')}")
                for s in failed:
                    st.markdown(f"- {s.get('source')}: {str(s.get('error', ''))[:300]}")


def clip_media(api: Api, clip_id: str | None) -> None:
    """The clip itself (video player or image) fetched through the media route."""
    if not clip_id:
        st.caption("no clip")
        return
    try:
        data, media_type = api.get_bytes(f"/clips/{clip_id}/media")
    except ApiError as exc:
        if exc.status == 401:
            raise
        st.caption(f"media not shown: {exc.message}")
        return
    if media_type.startswith("video/"):
        st.video(data, format=media_type)
    elif media_type.startswith("image/"):
        st.image(data, use_container_width=True)
    else:
        st.caption(f"media of type {media_type} ({len(data)} bytes) cannot be shown here")
