"""The metrics API against a real server, checked against a brute-force reference.

A module's server gets a known history through the real doors: uploads held
for review by a review-every-upload policy, moderators' blocks, a takedown, a
publish, an undo, appeals upheld and overturned, a claim left open and an
overdue item. Parts of that history are then moved back in time (whole clips'
rows by days; one item's wait by hours), the way tests elsewhere backdate
rows, so the metrics span several buckets. Every figure of
``GET /metrics/overview`` and ``GET /me/work`` is compared with the same
figure computed here in plain Python from the raw table rows.

Also: who may call the routes, the 422s on bad windows, and the console's
Overview page (Streamlit's AppTest, in-process, against the same server)
drawing its charts for staff and nothing more for others.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policies.loader import DEFAULT_DIR
from tests.conftest import REPO, LiveServer

REVIEW_UPLOADS = """
  - id: metrics_test_uploads_reviewed
    description: Every upload goes to a human (metrics test policy).
    condition: context.stage == "upload"
    outcome: review
    severity: low
    reason: upload_review
    queue: uploads
    priority: 30
"""
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
SCORE_FIELDS = ("score", "similarity")
BINS = 10


# -- the history -------------------------------------------------------------------------------


def _upload(live: LiveServer, who: str, image: Path, n: int) -> tuple[str, str]:
    with live.client(who) as c:
        r = c.post(
            "/clips",
            files={"file": (image.name, image.read_bytes())},
            data={"prompt": f"metrics test clip {n}"},
        )
    assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    return r.json()["clip_id"], r.json()["queue_item_id"]


def _decide(live: LiveServer, item_id: str, outcome: str, who: str = "moderator") -> Any:
    with live.client(who) as c:
        r = c.post(
            f"/queue-items/{item_id}/decide",
            json={"outcome": outcome, "reason": f"metrics test: {outcome}"},
        )
    assert r.status_code == 200, r.text
    return r.json()


def _appeal(live: LiveServer, decision_id: str, who: str = "adult") -> str:
    with live.client(who) as c:
        r = c.post(f"/decisions/{decision_id}/appeal", json={"message": "please look again"})
    assert r.status_code == 200, r.text
    return str(r.json()["queue_item_id"])


def _age(live: LiveServer, clip_id: str, delta: timedelta) -> None:
    """Move every row of a clip's story back by ``delta`` (scans, decisions, items, appeals)."""
    back = [delta, clip_id]
    with live.services.store.transaction() as tx:
        tx.execute("UPDATE scans SET created_at = created_at - ? WHERE clip_id = ?", back)
        tx.execute("UPDATE decisions SET created_at = created_at - ? WHERE clip_id = ?", back)
        tx.execute(
            "UPDATE queue_items SET created_at = created_at - ?, due_at = due_at - ?, "
            "claimed_at = claimed_at - ?, resolved_at = resolved_at - ? WHERE clip_id = ?",
            [delta, delta, delta, delta, clip_id],
        )
        tx.execute(
            "UPDATE appeals SET created_at = created_at - ?, decided_at = decided_at - ? "
            "WHERE clip_id = ?",
            [delta, delta, clip_id],
        )


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    shared_live_server.add_account("second-mod", role="moderator", birth_year=None)
    return shared_live_server


@pytest.fixture(scope="module")
def history(live: LiveServer, fixtures_dir: Path) -> dict[str, str]:
    """The known history (see the module docstring); the ids the tests look for."""
    chars = fixtures_dir / "characters"
    images = sorted(chars.rglob("*.png")) + sorted(chars.rglob("*.jpg"))
    policies = live.services.pipeline.policies
    default = policies.state()["active"]
    texts = {p.name: p.read_text() for p in sorted(DEFAULT_DIR.glob("*.yaml"))}
    texts["content.yaml"] = texts["content.yaml"].rstrip("\n") + "\n" + REVIEW_UPLOADS
    policies.save(texts, None, "metrics tests: review every upload", activate=True)
    try:
        held = [_upload(live, "adult", images[n], n) for n in range(6)]
    finally:
        policies.activate(default, None)
    (_, a_item), (b, b_item), (c, c_item), (d, d_item), (_, e_item), (_, f_item) = held

    # A: blocked, appealed, overturned. B: taken down, appealed, upheld.
    _decide(live, _appeal(live, _decide(live, a_item, "block")["decision_id"]), "overturn")
    _decide(live, _appeal(live, _decide(live, b_item, "takedown")["decision_id"]), "uphold")
    # C: published after a wait of five hours, three days ago.
    _decide(live, c_item, "publish")
    with live.services.store.transaction() as tx:
        tx.execute(
            "UPDATE queue_items SET created_at = created_at - INTERVAL 5 HOUR WHERE id = ?",
            [c_item],
        )
    _age(live, c, timedelta(days=3))
    # D: blocked by the second moderator, undone, blocked again, yesterday.
    first = _decide(live, d_item, "block", who="second-mod")
    with live.client("second-mod") as client:
        undone = client.post(f"/decisions/{first['decision_id']}/undo", json={"reason": "oops"})
    assert undone.status_code == 200, undone.text
    _decide(live, d_item, "block", who="second-mod")
    _age(live, d, timedelta(days=1))
    # E: claimed by the moderator and overdue. F: open and overdue for two hours.
    with live.client("moderator") as client:
        assert client.post(f"/queue-items/{e_item}/claim").status_code == 200
    with live.services.store.transaction() as tx:
        tx.execute(
            "UPDATE queue_items SET due_at = now() - INTERVAL 2 HOUR WHERE id IN (?, ?)",
            [e_item, f_item],
        )
    _age(live, b, timedelta(hours=2))
    return {"claimed": e_item, "overdue": f_item}


# -- the reference: the raw rows, counted in Python --------------------------------------------


def _t(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def _rows(live: LiveServer, table: str) -> list[dict[str, Any]]:
    rows = live.services.store.query_dicts(f"SELECT * FROM {table}")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = _t(value)
    return rows


def _floor(at: datetime, bucket: str) -> datetime:
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if bucket == "day" else at


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what quantile_cont computes)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _reference(live: LiveServer, since: datetime, until: datetime, bucket: str) -> dict[str, Any]:
    step = STEP[bucket]
    starts = []
    at = since
    while at < until:
        starts.append(at)
        at += step

    def inside(ts: datetime | None) -> bool:
        return ts is not None and since <= ts < until

    items = _rows(live, "queue_items")
    decisions = _rows(live, "decisions")
    appeals = _rows(live, "appeals")
    scans = {s["id"]: s for s in _rows(live, "scans")}
    signals = _rows(live, "signals")

    # Queue depth at each bucket's end, for every queue with an item alive in the window.
    queues = sorted(
        {
            i["queue"]
            for i in items
            if i["created_at"] <= until and (i["resolved_at"] is None or i["resolved_at"] > since)
        }
    )
    depth = {}
    for start in starts:
        stop = min(start + step, until)
        for queue in queues:
            alive = [
                i
                for i in items
                if i["queue"] == queue
                and i["created_at"] <= stop
                and (i["resolved_at"] is None or i["resolved_at"] > stop)
            ]
            oldest = max(((stop - i["created_at"]).total_seconds() for i in alive), default=None)
            depth[(start, queue)] = (len(alive), oldest)

    # Decisions per bucket, outcome, engine or human, door.
    outcomes = Counter(
        (
            _floor(d["created_at"], bucket),
            d["outcome"],
            "engine" if d["decided_by"] is None else "human",
            d["door"] or "unknown",
        )
        for d in decisions
        if inside(d["created_at"])
    )

    # Rules: each decision counts once per rule it fired.
    fired = [
        (_floor(d["created_at"], bucket), rule)
        for d in decisions
        if inside(d["created_at"])
        for rule in sorted({r["id"] for r in json.loads(d["rules"])})
    ]
    totals = Counter(rule for _, rule in fired)
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    top_rules = {rule for rule, _ in top}
    rule_series = Counter((b, rule) for b, rule in fired if rule in top_rules)

    # Time to decision of items resolved in the window.
    waits: dict[Any, list[float]] = defaultdict(list)
    for i in items:
        if inside(i["resolved_at"]):
            wait = (i["resolved_at"] - i["created_at"]).total_seconds()
            waits[("bucket", _floor(i["resolved_at"], bucket))].append(wait)
            waits[("queue", i["queue"])].append(wait)
            waits[("all", None)].append(wait)

    # Appeals: lodged over moderators' first removals; overturned over decided.
    lodged = Counter(_floor(a["created_at"], bucket) for a in appeals if inside(a["created_at"]))
    decided = [
        a for a in appeals if a["status"] in ("upheld", "overturned") and inside(a["decided_at"])
    ]
    judged = Counter(_floor(a["decided_at"], bucket) for a in decided)
    overturned = Counter(
        _floor(a["decided_at"], bucket) for a in decided if a["status"] == "overturned"
    )
    removals = Counter(
        _floor(d["created_at"], bucket)
        for d in decisions
        if d["decided_by"] is not None
        and d["outcome"] in ("block", "takedown")
        and (d["door"] or "moderator") == "moderator"
        and inside(d["created_at"])
    )

    # Scores: the first numeric score field of each signal of a scan in the window.
    scores: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for s in signals:
        if not inside(scans[s["scan_id"]]["created_at"]):
            continue
        data = json.loads(s["data"])
        for name in SCORE_FIELDS:
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                scores[(s["kind"], s["model_id"], name)].append(float(value))
                break

    return {
        "starts": starts,
        "depth": depth,
        "outcomes": outcomes,
        "top": top,
        "rule_series": rule_series,
        "waits": waits,
        "appeals": (lodged, removals, judged, overturned),
        "scores": scores,
        "items": items,
    }


def _overview(live: LiveServer, who: str = "moderator", **params: Any) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.get("/metrics/overview", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "bucket"), [(14, "day"), (7, "hour"), (2, "day")])
def test_the_overview_equals_the_reference(
    live: LiveServer, history: dict[str, str], days: int, bucket: str
) -> None:
    doc = _overview(live, days=days, bucket=bucket)
    window = doc["window"]
    since, until = _t(window["since"]), _t(window["until"])
    assert since is not None and until is not None
    assert window["bucket"] == bucket
    assert until - since >= timedelta(days=days)
    assert since == _floor(since, bucket) and since > until - timedelta(days=days) - STEP[bucket]
    ref = _reference(live, since, until, bucket)
    assert window["buckets"] == len(ref["starts"])

    # Queue depth: every bucket of every queue, zeros included.
    depth = {
        (_t(r["bucket"]), r["queue"]): (r["depth"], r["oldest_age_s"]) for r in doc["queue_depth"]
    }
    assert set(depth) == set(ref["depth"])
    for key, (n, oldest) in ref["depth"].items():
        assert depth[key][0] == n, key
        assert depth[key][1] == (None if oldest is None else pytest.approx(oldest, abs=0.002))
    assert any(n for n, _ in depth.values())

    outcomes = Counter(
        {
            (_t(r["bucket"]), r["outcome"], r["decided"], r["door"]): r["count"]
            for r in doc["decisions"]
        }
    )
    assert outcomes == ref["outcomes"]
    assert sum(outcomes.values()) > 0

    rules = doc["rules"]
    assert [(r["rule"], r["count"]) for r in rules["top"]] == ref["top"]
    assert (
        Counter({(_t(r["bucket"]), r["rule"]): r["count"] for r in rules["series"]})
        == ref["rule_series"]
    )

    ttd = doc["time_to_decision"]
    waits = ref["waits"]

    def check(shown: dict[str, Any], values: list[float]) -> None:
        assert shown["resolved"] == len(values)
        assert shown["median_s"] == pytest.approx(_quantile(values, 0.5), abs=0.002)
        assert shown["p90_s"] == pytest.approx(_quantile(values, 0.9), abs=0.002)

    assert {("bucket", _t(r["bucket"])) for r in ttd["series"]} | {
        ("queue", r["queue"]) for r in ttd["per_queue"]
    } == {k for k in waits if k[0] != "all"}
    for row in ttd["series"]:
        check(row, waits[("bucket", _t(row["bucket"]))])
    for row in ttd["per_queue"]:
        check(row, waits[("queue", row["queue"])])
    if waits[("all", None)]:
        check(ttd["overall"], waits[("all", None)])
    else:
        assert ttd["overall"] == {"resolved": 0, "median_s": None, "p90_s": None}

    lodged, removals, judged, overturned = ref["appeals"]
    series = doc["appeals"]["series"]
    assert [_t(r["bucket"]) for r in series] == ref["starts"]
    for row in series:
        b = _t(row["bucket"])
        assert (row["appeals"], row["human_removals"]) == (lodged[b], removals[b])
        assert (row["decided_appeals"], row["overturned"]) == (judged[b], overturned[b])
        assert row["appeal_rate"] == _rate(lodged[b], removals[b])
        assert row["reversal_rate"] == _rate(overturned[b], judged[b])
    overall = doc["appeals"]["overall"]
    total = {
        k: sum(c.values())
        for k, c in zip(
            ("appeals", "human_removals", "decided_appeals", "overturned"),
            ref["appeals"],
            strict=True,
        )
    }
    assert {k: overall[k] for k in total} == total
    assert overall["appeal_rate"] == _rate(total["appeals"], total["human_removals"])
    assert overall["reversal_rate"] == _rate(total["overturned"], total["decided_appeals"])

    histograms = {(h["kind"], h["model"], h["field"]): h for h in doc["scores"]}
    assert set(histograms) == set(ref["scores"])
    for key, values in ref["scores"].items():
        h = histograms[key]
        bins = [0] * BINS
        for v in values:
            bins[min(max(math.floor(v * BINS), 0), BINS - 1)] += 1
        assert h["bins"] == bins and h["count"] == len(values), key
        assert h["min"] == round(min(values), 4) and h["max"] == round(max(values), 4)
        assert h["mean"] == pytest.approx(sum(values) / len(values), abs=1e-4)

    # Queue health at the window's end.
    at = until
    unresolved = [i for i in ref["items"] if i["status"] in ("open", "claimed")]
    health = {q["queue"]: q for q in doc["queues"]}
    assert set(health) == {i["queue"] for i in unresolved}
    for queue, q in health.items():
        mine = [i for i in unresolved if i["queue"] == queue]
        opened = [i for i in mine if i["status"] == "open"]
        assert q["open"] == len(opened) and q["claimed"] == len(mine) - len(opened)
        assert q["overdue"] == sum(1 for i in mine if i["due_at"] < at)
        assert _t(q["next_due"]) == min(i["due_at"] for i in mine)
        oldest = max(((at - i["created_at"]).total_seconds() for i in opened), default=None)
        assert q["oldest_open_age_s"] == (
            None if oldest is None else pytest.approx(oldest, abs=0.002)
        )


def test_the_history_spans_buckets_and_every_kind_of_row(
    live: LiveServer, history: dict[str, str]
) -> None:
    """The seeded history is what the comparison above needs to mean something."""
    doc = _overview(live, days=14, bucket="day")
    busy_days = {r["bucket"] for r in doc["decisions"]}
    assert len(busy_days) >= 3
    assert {r["decided"] for r in doc["decisions"]} == {"engine", "human"}
    assert {"moderator", "undo", "appeal_verdict", "upload"} <= {
        r["door"] for r in doc["decisions"]
    }
    overall = doc["appeals"]["overall"]
    assert (
        overall["appeals"] == 2 and overall["decided_appeals"] == 2 and overall["overturned"] == 1
    )
    assert overall["reversal_rate"] == 0.5
    assert overall["human_removals"] == 4  # A, B, and D twice; the undo and verdicts are not
    assert overall["appeal_rate"] == 0.5
    assert doc["time_to_decision"]["overall"]["p90_s"] > 3600
    assert doc["rules"]["top"][0]["rule"] == "metrics_test_uploads_reviewed"
    assert any(h["kind"] == "nudity.score" for h in doc["scores"])
    assert all(h["kind"] not in ("provenance.state", "minor.age_estimate") for h in doc["scores"])
    # A shorter window leaves the older story out.
    short = _overview(live, days=2, bucket="day")
    assert (
        short["time_to_decision"]["overall"]["resolved"]
        < doc["time_to_decision"]["overall"]["resolved"]
    )


def test_what_waits_for_me_equals_the_reference(live: LiveServer, history: dict[str, str]) -> None:
    for who in ("moderator", "second-mod", "admin"):
        with live.client(who) as c:
            r = c.get("/me/work")
        assert r.status_code == 200, r.text
        work = r.json()
        at = _t(work["at"])
        assert at is not None
        me = live.users[who].id
        items = _rows(live, "queue_items")
        claims = sorted(
            (i for i in items if i["status"] == "claimed" and i["claimed_by"] == me),
            key=lambda i: (i["due_at"], i["claimed_at"]),
        )
        assert [c["id"] for c in work["claims"]] == [i["id"] for i in claims]
        for shown, row in zip(work["claims"], claims, strict=True):
            expires = row["claimed_at"] + timedelta(minutes=30)
            assert _t(shown["lease_expires_at"]) == expires
            assert shown["lease_expired"] == (expires <= at)
            assert shown["overdue"] == (row["due_at"] < at)
        overdue = sorted(
            (i for i in items if i["status"] in ("open", "claimed") and i["due_at"] < at),
            key=lambda i: (i["due_at"], -i["priority"]),
        )
        assert [o["id"] for o in work["overdue"]] == [i["id"] for i in overdue]
        assert [o["mine"] for o in work["overdue"]] == [i["claimed_by"] == me for i in overdue]
        unresolved = [i for i in items if i["status"] in ("open", "claimed")]
        assert work["counts"] == {
            "my_claims": len(claims),
            "overdue": len(overdue),
            "open": sum(1 for i in unresolved if i["status"] == "open"),
            "claimed": sum(1 for i in unresolved if i["status"] == "claimed"),
        }
    # The moderator holds the claimed item; both seeded overdue items are listed.
    with live.client("moderator") as c:
        work = c.get("/me/work").json()
    assert [c["id"] for c in work["claims"]] == [history["claimed"]]
    assert not work["claims"][0]["lease_expired"] and work["claims"][0]["overdue"]
    assert {history["claimed"], history["overdue"]} <= {o["id"] for o in work["overdue"]}


def test_staff_only(live: LiveServer) -> None:
    for who in ("admin", "moderator"):
        with live.client(who) as c:
            assert c.get("/metrics/overview").status_code == 200
            assert c.get("/me/work").status_code == 200
    for who in ("adult", "teen", "rights_holder", "guardian", "policy_author"):
        with live.client(who) as c:
            assert c.get("/metrics/overview").status_code == 403
            assert c.get("/me/work").status_code == 403
    with live.client() as anonymous:
        assert anonymous.get("/metrics/overview").status_code == 401


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"days": 0}, "days"),
        ({"days": 91}, "days"),
        ({"days": "two"}, "days"),
        ({"bucket": "week"}, "bucket"),
        ({"days": 8, "bucket": "hour"}, "hour buckets cover at most 7 days"),
        ({"top_rules": 0}, "top_rules"),
    ],
)
def test_bad_parameters_are_422_with_a_sentence(
    live: LiveServer, params: dict[str, Any], words: str
) -> None:
    with live.client("moderator") as c:
        r = c.get("/metrics/overview", params=params)
    assert r.status_code == 422, r.text
    assert words in r.json()["error"]
    with live.client("moderator") as c:
        assert c.get("/me/work", params={"limit": 0}).status_code == 422


# -- the console -------------------------------------------------------------------------------


def _page(live: LiveServer, account: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["app.py", "--server-url", live.url])
    at = AppTest.from_file(str(REPO / "console" / "app.py"), default_timeout=120)
    at.session_state["token"] = live.tokens[account]
    at.session_state["user"] = live.users[account].to_self()
    at.run()
    at.sidebar.radio[0].set_value("Overview").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _charts(at: Any) -> list[Any]:
    return list(at.get("vega_lite_chart"))


def test_the_overview_page_draws_charts_for_staff(
    live: LiveServer, history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _page(live, "moderator", monkeypatch)
    assert at.header[0].value == "Overview"
    subheaders = [s.value for s in at.subheader]
    assert "What waits for me" in subheaders and "How the system is doing" in subheaders
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["My claims"] == "1"
    assert metrics["Reversal rate"] == "50.0 %"
    # Queues now, depth, time to decision, outcomes, engine/human, rules (2), appeals, histograms.
    charts = _charts(at)
    assert len(charts) >= 9, len(charts)
    # An hourly view of the last week renders too.
    next(s for s in at.selectbox if s.label == "Window").set_value("7 days").run()
    next(r for r in at.radio if r.label == "Bucket").set_value("hour").run()
    assert not at.exception and not at.error
    assert "hour buckets" in " ".join(c.value for c in at.caption)
    assert len(_charts(at)) >= 9


def test_the_overview_page_for_everyone_else_is_what_it_was(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _page(live, "adult", monkeypatch)
    assert [m.label for m in at.metric] == ["Signed in as", "Role", "Schema version"]
    assert not _charts(at) and not at.subheader
