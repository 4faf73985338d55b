"""Read-only metrics over the review tables: queue health and depth, decisions, time to decision,
appeal and reversal rates, detector score distributions, and what waits for one moderator.

Nothing here writes: every function is one or a few set-based queries over
``queue_items``, ``decisions``, ``appeals``, ``signals`` and ``scans`` (buckets
from ``generate_series``, rules unnested from their JSON, percentiles from
``quantile_cont``), so the cost grows with the window's rows, not with Python
loops over them. Only the handful of aggregated rows is shaped in Python.

Time is bucketed in UTC. A :class:`Window` is ``[since, until)`` with
``since`` aligned down to its bucket's start, so every bucket but the last is
whole; the last one ends at ``until`` (normally now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from store.db import Store, now
from store.queue import CLAIM_LEASE, QueueItems

Bucket = Literal["hour", "day"]
BUCKETS: tuple[Bucket, ...] = ("hour", "day")
_STEP: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# SQL text per bucket, from this fixed table only (never from the caller's string).
_INTERVAL = {"hour": "INTERVAL 1 HOUR", "day": "INTERVAL 1 DAY"}

HUMAN_REMOVALS = ("block", "takedown")
# JSON number types as json_type() names them.
_NUMBER = "('DOUBLE', 'UBIGINT', 'BIGINT', 'HUGEINT')"
# The score field a signal kind carries, tried in this order; kinds with neither
# (an age in years, a hash distance, a provenance state) have no 0..1 score.
SCORE_FIELDS = ("score", "similarity")


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in UTC, cut into ``bucket``-long buckets; ``since`` is bucket-aligned."""

    since: datetime
    until: datetime
    bucket: Bucket

    @classmethod
    def of(cls, since: datetime, bucket: str, until: datetime | None = None) -> Window:
        """The window from ``since`` (aligned down to its bucket) to ``until`` (default: now)."""
        if bucket not in BUCKETS:
            raise ValueError(f"bucket must be one of: {', '.join(BUCKETS)}")
        end = (until or now()).astimezone(UTC)
        start = since.astimezone(UTC)
        start = start.replace(minute=0, second=0, microsecond=0)
        if bucket == "day":
            start = start.replace(hour=0)
        if start >= end:
            raise ValueError("since must be before until")
        return cls(start, end, bucket)  # type: ignore[arg-type]

    @classmethod
    def last(cls, days: int, bucket: str, until: datetime | None = None) -> Window:
        """The last ``days`` days up to ``until`` (default: now)."""
        end = until or now()
        return cls.of(end - timedelta(days=days), bucket, end)

    @property
    def step(self) -> timedelta:
        return _STEP[self.bucket]

    def starts(self) -> list[datetime]:
        """Every bucket's start, oldest first (what the SQL's generate_series yields)."""
        out, at = [], self.since
        while at < self.until:
            out.append(at)
            at += self.step
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "bucket": self.bucket,
            "buckets": len(self.starts()),
        }

    # SQL pieces -------------------------------------------------------------------------

    def _naive(self, at: datetime) -> datetime:
        return at.astimezone(UTC).replace(tzinfo=None)

    def trunc(self, column: str) -> str:
        """SQL: the UTC bucket start (a naive TIMESTAMP) of a TIMESTAMPTZ column."""
        return f"date_trunc('{self.bucket}', {column} AT TIME ZONE 'UTC')"

    def buckets_cte(self) -> tuple[str, list[Any]]:
        """SQL ``buckets(start, stop)``: each bucket's UTC start and end (the last ends at until)."""
        step = _INTERVAL[self.bucket]
        until = self._naive(self.until)
        sql = (
            f"buckets AS (SELECT b AS start, least(b + {step}, ?::TIMESTAMP) AS stop "
            f"FROM generate_series(?::TIMESTAMP, ?::TIMESTAMP, {step}) t(b) "
            "WHERE b < ?::TIMESTAMP)"
        )
        return sql, [until, self._naive(self.since), until, until]


def _utc(value: Any) -> datetime | None:
    """A bucket start (DuckDB hands back naive UTC TIMESTAMPs) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise TypeError(f"not a timestamp: {value!r}")


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


# -- queues ---------------------------------------------------------------------------------


def queue_health(store: Store, at: datetime | None = None) -> list[dict[str, Any]]:
    """Per queue, now: open, claimed and overdue items, the next due time (``QueueItems.counts``),
    and the age in seconds of the oldest open (unclaimed) item (None when none is open)."""
    at = at or now()
    counts = QueueItems(store).counts()
    oldest = {
        str(queue): age
        for queue, age in store.query(
            "SELECT queue, epoch(?::TIMESTAMPTZ - min(created_at)) FROM queue_items "
            "WHERE status = 'open' GROUP BY queue",
            [at],
        )
    }
    return [
        {
            "queue": queue,
            "open": int(row["open"]),
            "claimed": int(row["claimed"]),
            "overdue": int(row["overdue"]),
            "next_due": row["next_due"],
            "oldest_open_age_s": _seconds(oldest.get(queue)),
        }
        for queue, row in sorted(counts.items())
    ]


def queue_depth(store: Store, window: Window) -> list[dict[str, Any]]:
    """Per bucket end ``t`` and queue: items open then (``created_at <= t`` and not resolved by
    ``t``) and the oldest one's age in seconds; zero rows included for every queue seen."""
    buckets, params = window.buckets_cte()
    rows = store.query_dicts(
        f"WITH {buckets}, "
        "items AS (SELECT id, queue, created_at AT TIME ZONE 'UTC' AS created, "
        "resolved_at AT TIME ZONE 'UTC' AS resolved FROM queue_items "
        "WHERE created_at <= ? AND (resolved_at IS NULL OR resolved_at > ?)), "
        "queues AS (SELECT DISTINCT queue FROM items) "
        "SELECT b.start AS bucket, q.queue, count(i.id) AS depth, "
        "max(epoch(b.stop - i.created)) AS oldest_age_s "
        "FROM buckets b CROSS JOIN queues q "
        "LEFT JOIN items i ON i.queue = q.queue AND i.created <= b.stop "
        "AND (i.resolved IS NULL OR i.resolved > b.stop) "
        "GROUP BY ALL ORDER BY bucket, q.queue",
        [*params, window.until, window.since],
    )
    return [
        {
            "bucket": _utc(r["bucket"]),
            "queue": r["queue"],
            "depth": int(r["depth"]),
            "oldest_age_s": _seconds(r["oldest_age_s"]),
        }
        for r in rows
    ]


def time_to_decision(store: Store, window: Window) -> dict[str, Any]:
    """Seconds from a queue item's creation to its resolution, for items resolved in the window:
    per bucket (of ``resolved_at``), per queue and overall: count, median and p90."""
    rows = store.query_dicts(
        f"SELECT {window.trunc('resolved_at')} AS bucket, queue, "
        "GROUPING(bucket) AS no_bucket, GROUPING(queue) AS no_queue, count(*) AS resolved, "
        "quantile_cont(epoch(resolved_at - created_at), 0.5) AS median_s, "
        "quantile_cont(epoch(resolved_at - created_at), 0.9) AS p90_s "
        "FROM queue_items WHERE resolved_at >= ? AND resolved_at < ? "
        "GROUP BY GROUPING SETS ((bucket), (queue), ()) ORDER BY bucket, queue",
        [window.since, window.until],
    )

    def shape(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "resolved": int(r["resolved"]),
            "median_s": _seconds(r["median_s"]),
            "p90_s": _seconds(r["p90_s"]),
        }

    overall = next(
        (shape(r) for r in rows if r["no_bucket"] and r["no_queue"]),
        {"resolved": 0, "median_s": None, "p90_s": None},
    )
    return {
        "series": [{"bucket": _utc(r["bucket"]), **shape(r)} for r in rows if not r["no_bucket"]],
        "per_queue": [{"queue": r["queue"], **shape(r)} for r in rows if not r["no_queue"]],
        "overall": overall,
    }


# -- decisions ------------------------------------------------------------------------------


def decisions_by_outcome(store: Store, window: Window) -> list[dict[str, Any]]:
    """Decisions made in the window per bucket, outcome, who decided (``engine``: the policy
    engine, ``human``: a moderator) and door (``unknown`` for rows older than doors)."""
    rows = store.query_dicts(
        f"SELECT {window.trunc('created_at')} AS bucket, outcome, "
        "CASE WHEN decided_by IS NULL THEN 'engine' ELSE 'human' END AS decided, "
        "coalesce(door, 'unknown') AS door, count(*) AS count "
        "FROM decisions WHERE created_at >= ? AND created_at < ? "
        "GROUP BY ALL ORDER BY ALL",
        [window.since, window.until],
    )
    return [{**r, "bucket": _utc(r["bucket"]), "count": int(r["count"])} for r in rows]


def decisions_by_rule(store: Store, window: Window, top: int = 10) -> dict[str, Any]:
    """The ``top`` rules by decisions they fired in (the rules JSON unnested), with their counts
    over the window and per bucket. A decision counts once per rule."""
    rows = store.query_dicts(
        "WITH fired AS (SELECT DISTINCT id, "
        f"{window.trunc('created_at')} AS bucket, "
        "unnest(json_extract_string(rules, '$[*].id')) AS rule "
        "FROM decisions WHERE created_at >= ? AND created_at < ?), "
        "ranked AS (SELECT rule, count(*) AS total FROM fired WHERE rule IS NOT NULL "
        "GROUP BY rule ORDER BY total DESC, rule LIMIT ?) "
        "SELECT f.bucket, f.rule, r.total, count(*) AS count FROM fired f "
        "JOIN ranked r USING (rule) GROUP BY ALL ORDER BY f.bucket, r.total DESC, f.rule",
        [window.since, window.until, max(1, int(top))],
    )
    totals = {str(r["rule"]): int(r["total"]) for r in rows}
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "top": [{"rule": rule, "count": count} for rule, count in ranked],
        "series": [
            {"bucket": _utc(r["bucket"]), "rule": r["rule"], "count": int(r["count"])} for r in rows
        ],
    }


def appeal_rates(store: Store, window: Window) -> dict[str, Any]:
    """Per bucket and overall: appeals lodged over human removals (a moderator's block or
    takedown at the moderator door; verdicts and undos are not first decisions), and
    overturned appeals over appeals decided (upheld or overturned, by ``decided_at``).
    A rate is None when its denominator is 0."""
    buckets, params = window.buckets_cte()
    rows = store.query_dicts(
        f"WITH {buckets}, "
        f"lodged AS (SELECT {window.trunc('created_at')} AS bucket, count(*) AS n "
        "FROM appeals WHERE created_at >= ? AND created_at < ? GROUP BY 1), "
        f"decided AS (SELECT {window.trunc('decided_at')} AS bucket, count(*) AS n, "
        "count(*) FILTER (WHERE status = 'overturned') AS overturned FROM appeals "
        "WHERE status IN ('upheld', 'overturned') AND decided_at >= ? AND decided_at < ? "
        "GROUP BY 1), "
        f"removals AS (SELECT {window.trunc('created_at')} AS bucket, count(*) AS n "
        "FROM decisions WHERE decided_by IS NOT NULL AND outcome IN ('block', 'takedown') "
        "AND coalesce(door, 'moderator') = 'moderator' "
        "AND created_at >= ? AND created_at < ? GROUP BY 1) "
        "SELECT b.start AS bucket, coalesce(l.n, 0) AS appeals, "
        "coalesce(r.n, 0) AS human_removals, coalesce(d.n, 0) AS decided_appeals, "
        "coalesce(d.overturned, 0) AS overturned FROM buckets b "
        "LEFT JOIN lodged l ON l.bucket = b.start LEFT JOIN decided d ON d.bucket = b.start "
        "LEFT JOIN removals r ON r.bucket = b.start ORDER BY b.start",
        [*params, *([window.since, window.until] * 3)],
    )
    keys = ("appeals", "human_removals", "decided_appeals", "overturned")

    def shape(counts: dict[str, int]) -> dict[str, Any]:
        return {
            **counts,
            "appeal_rate": _rate(counts["appeals"], counts["human_removals"]),
            "reversal_rate": _rate(counts["overturned"], counts["decided_appeals"]),
        }

    series = [{"bucket": _utc(r["bucket"]), **shape({k: int(r[k]) for k in keys})} for r in rows]
    overall = shape({k: sum(int(r[k]) for r in rows) for k in keys})
    return {"series": series, "overall": overall}


# -- detectors ------------------------------------------------------------------------------


def score_histograms(store: Store, window: Window, bins: int = 10) -> list[dict[str, Any]]:
    """Per signal kind and model, for scans in the window: a ``bins``-bin histogram of the 0..1
    score (the first numeric field of :data:`SCORE_FIELDS`; out-of-range values land in the edge
    bins), with count, min, mean and max. Kinds with no numeric score are left out."""
    bins = max(1, min(int(bins), 100))
    score_field = " ".join(
        f"WHEN json_type(g.data, '$.{f}') IN {_NUMBER} THEN '{f}'" for f in SCORE_FIELDS
    )
    score_value = " ".join(
        f"WHEN json_type(g.data, '$.{f}') IN {_NUMBER} THEN CAST(g.data->>'$.{f}' AS DOUBLE)"
        for f in SCORE_FIELDS
    )
    rows = store.query_dicts(
        "WITH scored AS (SELECT g.kind, g.model_id, "
        f"CASE {score_field} END AS field, CASE {score_value} END AS score "
        "FROM signals g JOIN scans s ON s.id = g.scan_id "
        "WHERE s.created_at >= ? AND s.created_at < ?) "
        "SELECT kind, model_id, field, "
        "least(greatest(floor(score * ?), 0), ? - 1)::INTEGER AS bin, "
        "GROUPING(bin) AS whole, count(*) AS n, min(score) AS lo, max(score) AS hi, "
        "avg(score) AS mean FROM scored WHERE score IS NOT NULL "
        "GROUP BY GROUPING SETS ((kind, model_id, field, bin), (kind, model_id, field)) "
        "ORDER BY kind, model_id, field, whole DESC, bin",
        [window.since, window.until, bins, bins],
    )
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:  # aggregated rows: a few per kind and model
        key = (str(r["kind"]), str(r["model_id"]), str(r["field"]))
        if r["whole"]:
            out[key] = {
                "kind": key[0],
                "model": key[1],
                "field": key[2],
                "count": int(r["n"]),
                "min": round(float(r["lo"]), 4),
                "mean": round(float(r["mean"]), 4),
                "max": round(float(r["hi"]), 4),
                "edges": [round(i / bins, 4) for i in range(bins + 1)],
                "bins": [0] * bins,
            }
        else:
            out[key]["bins"][int(r["bin"])] = int(r["n"])
    return list(out.values())


# -- one moderator --------------------------------------------------------------------------


def my_work(
    store: Store, moderator_id: str, *, limit: int = 50, at: datetime | None = None
) -> dict[str, Any]:
    """What waits for one moderator: their claims (with lease expiry), the overdue unresolved
    items in every queue (most overdue first, ``limit`` of them) and the counts."""
    at = at or now()
    limit = max(1, min(int(limit), 500))
    lease = CLAIM_LEASE.total_seconds()
    columns = (
        "id, clip_id, queue, priority, reason, status, claimed_by, claimed_at, due_at, created_at"
    )
    claims = store.query_dicts(
        f"SELECT {columns}, claimed_at + to_seconds(?::DOUBLE) AS lease_expires_at, "
        "claimed_at + to_seconds(?::DOUBLE) <= ?::TIMESTAMPTZ AS lease_expired, "
        "coalesce(due_at < ?::TIMESTAMPTZ, false) AS overdue "
        "FROM queue_items WHERE status = 'claimed' AND claimed_by = ? "
        "ORDER BY due_at NULLS LAST, claimed_at LIMIT ?",
        [lease, lease, at, at, moderator_id, limit],
    )
    overdue = store.query_dicts(
        f"SELECT {columns}, epoch(?::TIMESTAMPTZ - due_at) AS overdue_s, "
        "coalesce(claimed_by = ?, false) AS mine, count(*) OVER () AS total "
        "FROM queue_items WHERE status IN ('open', 'claimed') AND due_at < ?::TIMESTAMPTZ "
        "ORDER BY due_at, priority DESC LIMIT ?",
        [at, moderator_id, at, limit],
    )
    claimed_total = store.query(
        "SELECT count(*) FROM queue_items WHERE status = 'claimed' AND claimed_by = ?",
        [moderator_id],
    )[0][0]
    queues = queue_health(store, at)
    overdue_total = int(overdue[0]["total"]) if overdue else 0
    for row in overdue:
        del row["total"]
        row["overdue_s"] = _seconds(row["overdue_s"])
    return {
        "at": at,
        "counts": {
            "my_claims": int(claimed_total),
            "overdue": overdue_total,
            "open": sum(q["open"] for q in queues),
            "claimed": sum(q["claimed"] for q in queues),
        },
        "claims": claims,
        "overdue": overdue,
        "queues": queues,
    }


# -- everything -----------------------------------------------------------------------------


def overview(
    store: Store, window: Window, *, top_rules: int = 10, bins: int = 10
) -> dict[str, Any]:
    """Every metric above for one window, as one document (the console's Overview reads it)."""
    return {
        "window": window.to_dict(),
        "queues": queue_health(store, window.until),
        "queue_depth": queue_depth(store, window),
        "decisions": decisions_by_outcome(store, window),
        "rules": decisions_by_rule(store, window, top_rules),
        "time_to_decision": time_to_decision(store, window),
        "appeals": appeal_rates(store, window),
        "scores": score_histograms(store, window, bins),
    }
