"""The Overview page: who is signed in, and for staff what waits for them and how the system is doing.

Everyone sees their handle, role and the schema version. Staff also see what
waits for them (their claims with lease expiry, overdue items) from
``GET /me/work``, and the system's health from ONE call to
``GET /metrics/overview``: queue depth over time, decisions per outcome over
time, top rules, time to decision, appeal and reversal rates and detector
score histograms, drawn with Streamlit's own charts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from console.api import Api, ApiError
from console.views import common
from console.views.common import STAFF, code, md

WINDOWS = {"24 hours": 1, "7 days": 7, "14 days": 14, "30 days": 30, "90 days": 90}
MAX_HOURLY_DAYS = 7  # the server refuses hour buckets over longer windows


def _at(value: Any) -> datetime | None:
    """An ISO time from the server as an aware datetime (charts get a time axis)."""
    if not value:
        return None
    at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _columns(rows: Iterable[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, list[Any]]:
    """Long-format rows as the column dict Streamlit's charts take (``bucket`` as a time)."""
    out: dict[str, list[Any]] = {k: [] for k in keys}
    for row in rows:
        for k in keys:
            out[k].append(_at(row[k]) if k == "bucket" else row[k])
    return out


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = float(seconds)
    if s >= 86400:
        return f"{s / 86400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def _percent(rate: Any) -> str:
    return "—" if rate is None else f"{100 * float(rate):.1f} %"


def _my_work(api: Api) -> None:
    st.subheader("What waits for me")
    if common.unavailable(api, "GET", "/me/work", "What waits for me"):
        return
    work = api.get("/me/work")
    counts = work["counts"]
    cols = st.columns(4)
    cols[0].metric("My claims", counts["my_claims"])
    cols[1].metric("Overdue (all queues)", counts["overdue"])
    cols[2].metric("Open (all queues)", counts["open"])
    cols[3].metric("Claimed (all queues)", counts["claimed"])
    if work["claims"]:
        st.markdown("**My claims**")
        st.dataframe(
            [
                {
                    "item": c["id"],
                    "queue": c["queue"],
                    "priority": c["priority"],
                    "lease expires": common.when(c["lease_expires_at"]),
                    "lease expired": c["lease_expired"],
                    "due": common.when(c["due_at"]),
                }
                for c in work["claims"]
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("You hold no claims.")
    if work["overdue"]:
        st.markdown("**Overdue items**")
        st.dataframe(
            [
                {
                    "item": o["id"],
                    "queue": o["queue"],
                    "priority": o["priority"],
                    "overdue by": _duration(o["overdue_s"]),
                    "status": o["status"] + (" (mine)" if o["mine"] else ""),
                }
                for o in work["overdue"]
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("Nothing is overdue.")


def _queues_now(queues: list[dict[str, Any]]) -> None:
    st.subheader("Queues now")
    if not queues:
        st.success("Every queue is empty.")
        return
    left, right = st.columns([3, 2])
    with left:
        long = [
            {"queue": q["queue"], "state": state, "items": q[state]}
            for q in queues
            for state in ("open", "claimed")
        ]
        st.bar_chart(
            _columns(long, ("queue", "state", "items")), x="queue", y="items", color="state"
        )
    with right:
        st.dataframe(
            [
                {
                    "queue": q["queue"],
                    "overdue": q["overdue"],
                    "oldest open": _duration(q["oldest_open_age_s"]),
                    "next due": common.when(q["next_due"]),
                }
                for q in queues
            ],
            hide_index=True,
            width="stretch",
        )


def _depth(rows: list[dict[str, Any]]) -> None:
    st.markdown("**Queue depth** (items waiting at the end of each bucket)")
    if not rows:
        st.caption("No queue items in this window.")
        return
    st.line_chart(
        _columns(rows, ("bucket", "queue", "depth")), x="bucket", y="depth", color="queue"
    )


def _decisions(rows: list[dict[str, Any]]) -> None:
    st.markdown("**Decisions per outcome**")
    if not rows:
        st.caption("No decisions in this window.")
        return
    st.bar_chart(
        _columns(rows, ("bucket", "outcome", "count")), x="bucket", y="count", color="outcome"
    )
    st.markdown("**Policy engine and moderators**")
    st.bar_chart(
        _columns(rows, ("bucket", "decided", "count")), x="bucket", y="count", color="decided"
    )


def _rules(rules: dict[str, Any]) -> None:
    st.markdown("**Top rules** (decisions each fired in)")
    if not rules["top"]:
        st.caption("No rule fired in this window.")
        return
    st.bar_chart(_columns(rules["top"], ("rule", "count")), x="rule", y="count", horizontal=True)
    st.line_chart(
        _columns(rules["series"], ("bucket", "rule", "count")), x="bucket", y="count", color="rule"
    )


def _time_to_decision(ttd: dict[str, Any]) -> None:
    st.markdown("**Time to decision** (hours from queued to resolved)")
    overall = ttd["overall"]
    cols = st.columns(3)
    cols[0].metric("Resolved", overall["resolved"])
    cols[1].metric("Median", _duration(overall["median_s"]))
    cols[2].metric("90th percentile", _duration(overall["p90_s"]))
    if not ttd["series"]:
        return
    long = [
        {"bucket": r["bucket"], "measure": name, "hours": r[key] / 3600}
        for r in ttd["series"]
        for name, key in (("median", "median_s"), ("p90", "p90_s"))
        if r[key] is not None
    ]
    st.line_chart(
        _columns(long, ("bucket", "measure", "hours")), x="bucket", y="hours", color="measure"
    )


def _appeals(appeals: dict[str, Any]) -> None:
    st.markdown("**Appeals and reversals**")
    overall = appeals["overall"]
    cols = st.columns(4)
    cols[0].metric("Appeals", overall["appeals"])
    cols[1].metric("Appeal rate", _percent(overall["appeal_rate"]))
    cols[2].metric("Appeals decided", overall["decided_appeals"])
    cols[3].metric("Reversal rate", _percent(overall["reversal_rate"]))
    st.caption(
        "Appeal rate: appeals over moderators' blocks and takedowns. "
        "Reversal rate: overturned appeals over appeals decided."
    )
    long = [
        {"bucket": r["bucket"], "rate": name, "percent": 100 * r[key]}
        for r in appeals["series"]
        for name, key in (("appeal rate", "appeal_rate"), ("reversal rate", "reversal_rate"))
        if r[key] is not None
    ]
    if long:
        st.line_chart(
            _columns(long, ("bucket", "rate", "percent")), x="bucket", y="percent", color="rate"
        )


def _scores(scores: list[dict[str, Any]]) -> None:
    st.markdown("**Detector scores** (how many signals scored in each tenth of 0..1)")
    if not scores:
        st.caption("No scored signals in this window.")
        return
    cols = st.columns(2)
    for n, hist in enumerate(scores):
        edges = hist["edges"]
        with cols[n % 2]:
            st.markdown(
                f"{code(hist['kind'])} · {md(hist['model'])} · {hist['count']} signals, "
                f"mean {hist['mean']:.2f}"
            )
            st.bar_chart(
                {
                    "score": [
                        f"{edges[i]:.1f}–{edges[i + 1]:.1f}" for i in range(len(hist["bins"]))
                    ],
                    "signals": hist["bins"],
                },
                x="score",
                y="signals",
                height=180,
            )


def _health(api: Api) -> None:
    st.subheader("How the system is doing")
    if common.unavailable(api, "GET", "/metrics/overview", "The metrics overview"):
        return
    cols = st.columns(2)
    span = cols[0].selectbox("Window", list(WINDOWS), index=2, key="overview_window")
    days = WINDOWS[str(span)]
    buckets = ["day", "hour"] if days <= MAX_HOURLY_DAYS else ["day"]
    # The options change with the window: a key per set of options keeps a stale choice out.
    bucket = cols[1].radio(
        "Bucket", buckets, horizontal=True, key=f"overview_bucket_{'_'.join(buckets)}"
    )
    doc = api.get("/metrics/overview", params={"days": days, "bucket": bucket or "day"})
    window = doc["window"]
    st.caption(
        f"{common.when(window['since'])} to {common.when(window['until'])}, "
        f"{window['buckets']} {md(window['bucket'])} buckets (UTC)"
    )
    _queues_now(doc["queues"])
    left, right = st.columns(2)
    with left:
        _depth(doc["queue_depth"])
        _time_to_decision(doc["time_to_decision"])
    with right:
        _decisions(doc["decisions"])
    _rules(doc["rules"])
    _appeals(doc["appeals"])
    _scores(doc["scores"])


def overview(api: Api, user: dict[str, Any]) -> None:
    st.header("Overview")
    me = api.get("/me")
    try:
        ready = api.get("/readyz")
    except ApiError as exc:  # 503 while the server loads its models after a start
        ready = {"schema_version": "—", "warming": exc.message}
    cols = st.columns(3)
    cols[0].metric("Signed in as", f"@{me['handle']}")
    cols[1].metric("Role", me["role"])
    cols[2].metric("Schema version", ready["schema_version"])
    if "warming" in ready:
        st.info(
            f"The server is not ready yet: {ready['warming']}. Checks made now wait for the models to load."
        )
    elif ready.get("degraded"):
        st.warning(
            "Models that did not load (their checks send clips to review): "
            + ", ".join(ready["degraded"])
        )
    if me["role"] not in STAFF:
        return
    with common.panel():
        _my_work(api)
    with common.panel():
        _health(api)
