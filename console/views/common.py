"""Pieces every console page uses: API error panels, missing-route notices, and evidence rendering.

Evidence is rendered from the server's JSON as it comes: a signal is shown by
its kind (likeness, character, age, nudity, provenance, hash) with its
explanation (model, method, score, threshold, details); unknown kinds fall
back to their plain fields, so a new detector shows up without a console
change.

Text people typed (prompts, descriptions, names, reasons, handles, and server
messages that may quote them) is never Markdown: a whole string is shown with
:func:`text` (``st.text``), and a value inside a formatted line goes through
:func:`md` (every character Markdown or Streamlit's directives act on is
escaped) or :func:`code` (an inline code span that nothing can break out
of). Otherwise ``![](https://…)`` in a prompt would make every moderator's
browser fetch that address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from console.api import Api, ApiError

ALL = ("admin", "moderator", "rights_holder", "user", "guardian", "policy_author")
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


# Markdown's punctuation plus Streamlit's own (:color[...], :material/icon:, $math$).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&=^])")


def md(value: Any) -> str:
    """``value`` as literal text inside a Markdown string (links, images, emphasis all inert)."""
    raw = "" if value is None else str(value)
    escaped = _MD_SPECIAL.sub(r"\\\1", raw.replace("\r\n", "\n").replace("\r", "\n"))
    return escaped.replace("\n", "  \n")  # keep line breaks as line breaks


def code(value: Any) -> str:
    """``value`` as an inline code span: a fence longer than any run of backticks inside it."""
    raw = ("" if value is None else str(value)).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", raw)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if raw.startswith("`") or raw.endswith("`") or not raw.strip() else ""
    return f"{fence}{pad}{raw}{pad}{fence}"


def text(value: Any) -> None:
    """A whole user-supplied string, shown as it is (no Markdown, no HTML)."""
    st.text("" if value is None else str(value))


def error(message: Any) -> None:
    """A server's or a check's message in an error box, as literal text."""
    st.error(md(message))


@contextmanager
def panel() -> Iterator[None]:
    """Show an API refusal as the server's message in place, and let the rest of the page render."""
    try:
        yield
    except ApiError as exc:
        if exc.status == 401:
            raise  # the app signs the person out
        refusal(exc)


def refusal(exc: ApiError) -> None:
    """The server's refusal in its own words; for an account action in force, where to appeal it.

    A door an account action stops (generation, posting, reporting) answers
    ``403`` with the sentence the holder reads in ``error`` and the action in
    ``restriction`` (kind, ends_at, decision_id, reason).
    """
    error(exc.message)
    restriction = exc.body.get("restriction") if isinstance(exc.body, dict) else None
    if isinstance(restriction, dict) and restriction.get("decision_id"):
        st.caption(f"To appeal decision {code(restriction['decision_id'])}, open **My standing**.")


def unavailable(api: Api, method: str, path: str, what: str) -> bool:
    """True (with a notice) when the server does not offer ``method path`` yet."""
    if api.offers(method, path):
        return False
    st.info(f"{md(what)} is not available on this server yet (no {code(f'{method} {path}')}).")
    return True


def has_area(api: Api, prefix: str) -> bool:
    """Whether the server offers any route under ``prefix`` (e.g. ``/banks``)."""
    try:
        return any(path.startswith(prefix) for _, path in api.routes())
    except ApiError:
        return False


def flash(key: str = "flash") -> None:
    """Show (once) a message a previous action left for this rerun, as literal text."""
    message = st.session_state.pop(key, None)
    if message:
        kind, body = message
        getattr(st, kind)(md(body))


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
    line = f"model {code(expl.get('model_id', '?'))} · {md(expl.get('method', ''))}"
    if score is not None:
        line += f" · score **{md(_num(score))}**"
        if threshold is not None:
            line += f" (threshold {md(_num(threshold))})"
    details = expl.get("details")
    if isinstance(details, dict) and details.get("reason"):
        line += f" · {md(details['reason'])}"
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


def _n(value: Any, digits: int = 3) -> str:
    """A number from the server, escaped in case it is not one."""
    return md(_num(value, digits))


def _headline(sig: dict[str, Any]) -> str:
    """One line saying what this signal found, in the moderator's words (Markdown, values escaped)."""
    kind = sig.get("kind", "")
    span = _time_range(sig)
    suffix = f" · {md(span)}" if span else ""
    if kind == "likeness.match":
        who = sig.get("name") or sig.get("cameo_id") or sig.get("id")
        what = sig.get("match_kind") or "cameo"
        sim, thr = sig.get("similarity"), sig.get("threshold")
        head = f"face matches {md(what)} **{md(who)}**"
        if sim is not None:
            head += f" · similarity {_n(sim)}" + (f" / threshold {_n(thr)}" if thr else "")
        if sig.get("consent"):
            head += f" · consent **{md(sig['consent'])}**"
            if sig.get("consent_reason"):
                head += f" ({md(sig['consent_reason'])})"
        tracks = sig.get("tracks") or []
        return head + (f" · {len(tracks)} face track(s)" if tracks else "") + suffix
    if kind == "character.match":
        return (
            f"character **{md(sig.get('name', sig.get('character_id')))}** via "
            f"{md(sig.get('backend', '?'))} · score {_n(sig.get('score'))} / threshold "
            f"{_n(sig.get('threshold'))}" + suffix
        )
    if kind == "minor.age_estimate":
        return (
            f"estimated age **{_n(sig.get('age'), 1)}** ± {_n(sig.get('sigma'), 1)} · band "
            f"**{md(sig.get('band', '?'))}**" + suffix
        )
    if kind == "nudity.score":
        classes = ", ".join(map(str, sig.get("exposed_classes") or [])) or "none exposed"
        return (
            f"nudity score **{_n(sig.get('score'))}** · exposed {_n(sig.get('exposed_score'))}"
            f" · classes: {md(classes)}" + suffix
        )
    if kind == "provenance.state":
        head = f"C2PA **{md(sig.get('state', '?'))}**"
        if sig.get("ai_generated") is not None:
            head += f" · AI-generated: {md(sig.get('ai_generated'))}"
        if sig.get("signer"):
            head += f" · signer {md(sig.get('signer'))}"
        if sig.get("own_output"):
            head += f" · our own clip {md(sig.get('own_output'))}"
        if sig.get("codes"):
            head += f" · codes {md(', '.join(map(str, sig['codes'])))}"
        return head
    if kind == "hash.match":
        return (
            f"bank **{md(sig.get('bank', '?'))}** ({md(sig.get('category') or 'no category')}) · "
            f"{md(sig.get('hash_kind', ''))} · {md(sig.get('label', ''))} · severity "
            f"{md(sig.get('severity'))} · distance {md(sig.get('distance'))} / threshold "
            f"{md(sig.get('threshold'))}" + suffix
        )
    if kind == "prompt.category":
        name = sig.get("name", sig.get("category", "?"))
        return f"prompt category **{md(name)}** · score {_n(sig.get('score'))}"
    return md(kind) + suffix


def signals(items: list[dict[str, Any]]) -> None:
    """Every signal, grouped by kind, each with its explanation."""
    if not items:
        st.caption("No detector found anything in this clip.")
        return
    order = list(SIGNAL_TITLES)
    kinds = sorted(
        {str(s.get("kind", "?")) for s in items},
        key=lambda k: (order.index(k) if k in order else len(order), k),
    )
    for kind in kinds:
        group = [s for s in items if str(s.get("kind", "?")) == kind]
        st.markdown(f"**{md(SIGNAL_TITLES.get(kind, kind))}** · {code(kind)} · {len(group)}")
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
        shown = ", ".join(f"{code(k)} = {code(v)}" for k, v in values.items()) or "—"
        overridden = rule.get("overridden_by")
        st.markdown(
            f"- **{md(rule.get('id'))}** → {md(rule.get('outcome'))} · reason "
            f"{code(rule.get('reason', ''))} · {md(rule.get('file', ''))}"
            + (f" · overridden by {md(overridden)}" if overridden else "")
            + f"  \n  values: {shown}"
        )


def decision(doc: dict[str, Any] | None, *, staff: bool = True) -> None:
    """A policy decision: outcome, version, queue, the rules that fired (and shadow, for staff)."""
    if not doc:
        st.caption("no decision recorded")
        return
    version = doc.get("policy_version") or doc.get("version")
    head = f"outcome **{md(doc.get('outcome'))}** · policy version {code(version)}"
    if doc.get("queue"):
        head += f" · queue {md(doc['queue'])} (priority {md(doc.get('priority'))})"
    if doc.get("decided_by"):
        head += f" · decided by a moderator: {md(doc.get('reason', ''))}"
    st.markdown(head)
    rules_table(doc.get("rules") or [])
    if staff:
        shadow = doc.get("shadow")
        if isinstance(shadow, dict) and shadow.get("version"):
            rule_ids = [r.get("id") if isinstance(r, dict) else r for r in shadow.get("rules", [])]
            st.caption(
                md(
                    f"shadow version {shadow.get('version')}: outcome {shadow.get('outcome')}, "
                    f"rules {rule_ids}"
                )
            )
        details = doc.get("details") or {}
        expl = details.get("explanation") or doc.get("explanation") or {}
        skipped = expl.get("sources_skipped") or []
        failed = expl.get("source_errors") or []
        if skipped or failed:
            with st.expander(f"detectors not run ({len(skipped)} skipped, {len(failed)} failed)"):
                for s in skipped:
                    st.markdown(f"- {md(s.get('source'))}: {md(s.get('note'))}")
                for s in failed:
                    st.markdown(f"- {md(s.get('source'))}: {md(str(s.get('error', ''))[:300])}")


# Blur strong enough that nothing harmful can be made out, light enough to tell a scene from a face.
PREVIEW_BLUR_RADIUS = 24


def blurred(data: bytes) -> bytes | None:
    """A blurred PNG preview of image bytes (None when they are not an image PIL reads)."""
    import io

    from PIL import Image, ImageFilter, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((640, 640))
            preview = img.convert("RGB").filter(ImageFilter.GaussianBlur(PREVIEW_BLUR_RADIUS))
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    out = io.BytesIO()
    preview.save(out, format="PNG")
    return out.getvalue()


_MEDIA_PREF = "pref_review_media"


def media_guarded(api: Api) -> bool:
    """Whether this person wants review media blurred until revealed (asked once a session)."""
    if _MEDIA_PREF not in st.session_state:
        try:
            prefs = api.get("/me/preferences")
        except ApiError as exc:
            if exc.status == 401:
                raise
            prefs = {}
        st.session_state[_MEDIA_PREF] = prefs.get("review_media", "blur") != "show"
    return bool(st.session_state[_MEDIA_PREF])


def forget_media_preference() -> None:
    st.session_state.pop(_MEDIA_PREF, None)


def clip_media(api: Api, clip_id: str | None, *, guarded: bool = False) -> None:
    """The clip itself (video player or image) fetched through the media route.

    ``guarded`` (review and clip pages): an image is blurred and a video
    hidden until the moderator reveals this one item; a revealed video starts
    muted. Looking at harmful material is the moderator's choice, item by item.
    """
    if not clip_id:
        st.caption("no clip")
        return
    try:
        data, media_type = api.get_bytes(f"/clips/{clip_id}/media")
    except ApiError as exc:
        if exc.status == 401:
            raise
        st.caption(f"media not shown: {md(exc.message)}")
        return
    revealed = not guarded or st.toggle("Reveal media", key=f"reveal-{clip_id}")
    if not revealed:
        preview = blurred(data) if media_type.startswith("image/") else None
        if preview is not None:
            st.image(preview, caption="blurred: reveal to see it")
        else:
            st.caption(f"{md(media_type.split('/')[0])} hidden: reveal to see it (starts muted)")
        return
    if media_type.startswith("video/"):
        st.video(data, format=media_type, muted=guarded)
    elif media_type.startswith("image/"):
        st.image(data, use_container_width=True)
    else:
        st.caption(f"media of type {md(media_type)} ({len(data)} bytes) cannot be shown here")
