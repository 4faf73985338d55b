"""Metrics benchmark: the Overview's one query document over 10,000 queue items and 100,000 decisions.

Run: ``.venv/bin/python -m bench.metrics [--items 10000] [--decisions 100000] [--repeat 5]``.

Seeds a throwaway data directory (a fresh DuckDB with every migration) by bulk
SQL: ``--decisions`` decisions over the last 30 days, each with its scan and
two signals (a nudity score and, for a third, a likeness similarity or an
age estimate without a score), rules JSON with zero to three of 30 rules,
a fifth decided by one of 20 moderators, spread over seven doors; ``--items``
queue items over 8 queues, most resolved after up to two days, some claimed;
appeals on 2 % of decisions, most decided. Then times ``store.metrics.overview``
(what ``GET /metrics/overview`` returns) for 14 days by day, 90 days by day
and 7 days by hour, and ``store.metrics.my_work``; prints the figures and
writes ``bench/results/metrics.json``. Wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from store import metrics
from store.db import Store, now

REPO = Path(__file__).resolve().parent.parent
DAYS = 30


def seed(store: Store, items: int, decisions: int) -> dict[str, int]:
    """Bulk rows straight into the tables (a benchmark's throwaway database, no audit events)."""
    at = now()
    span = DAYS * 86400
    with store.transaction() as tx:
        tx.execute(
            "CREATE TEMP TABLE seed AS SELECT i, "
            "?::TIMESTAMPTZ - to_seconds((hash(i, 'at') % ?)::DOUBLE) AS ts, "
            "(hash(i, 'x') >> 1)::BIGINT AS h FROM range(?) t(i)",
            [at, span, decisions],
        )
        tx.execute(
            "INSERT INTO scans (id, clip_id, stage, context, created_at) "
            "SELECT 'scan_' || i, 'clip_' || (i % 50000), 'upload', '{}', ts FROM seed"
        )
        tx.execute(
            "INSERT INTO signals (id, scan_id, kind, model_id, data) "
            "SELECT 'sig_n' || i, 'scan_' || i, 'nudity.score', 'nudenet-3.4.2-320n', "
            '\'{"kind": "nudity.score", "score": \' || round((h % 10000) / 10000.0, 4) || \'}\' '
            "FROM seed UNION ALL "
            "SELECT 'sig_l' || i, 'scan_' || i, 'likeness.match', 'dlib-resnet', "
            '\'{"kind": "likeness.match", "similarity": \' || '
            "round(0.8 + (h % 2000) / 10000.0, 4) || '}' FROM seed WHERE i % 3 = 0 UNION ALL "
            "SELECT 'sig_a' || i, 'scan_' || i, 'minor.age_estimate', 'dlib-age-v1', "
            '\'{"kind": "minor.age_estimate", "age": \' || (16 + h % 50) || \'}\' '
            "FROM seed WHERE i % 3 = 1"
        )

        def rule(shift: int) -> str:
            return f"""'{{"id": "rule_' || ((h >> {shift}) % 30) || '", "outcome": "review"}}'"""

        tx.execute(
            "INSERT INTO decisions (id, scan_id, clip_id, outcome, rules, shadow, policy_version, "
            "queue, priority, decided_by, reason, created_at, details, door) "
            "SELECT 'dec_' || i, 'scan_' || i, 'clip_' || (i % 50000), "
            "['allow', 'label', 'review', 'block', 'takedown', 'publish', 'age_restrict'][1 + h % 7], "
            "CASE h % 4 WHEN 0 THEN '[]' "
            f"WHEN 1 THEN '[' || {rule(8)} || ']' "
            f"WHEN 2 THEN '[' || {rule(8)} || ', ' || {rule(16)} || ']' "
            f"ELSE '[' || {rule(8)} || ', ' || {rule(16)} || ', ' || "
            f"{rule(24)} || ']' END, "
            "'{}', 'bench', NULL, NULL, "
            "CASE WHEN h % 5 = 0 THEN 'usr_mod' || (h % 20) END, 'bench', ts, '{}', "
            "CASE WHEN h % 5 = 0 THEN ['moderator', 'moderator', 'moderator', 'appeal_verdict', "
            "'undo'][1 + (h >> 4) % 5] ELSE ['upload', 'prompt', 'report', 'scan', "
            "'generate_prompt'][1 + (h >> 4) % 5] END FROM seed"
        )
        tx.execute(
            "CREATE TEMP TABLE seed_items AS SELECT i, (hash(i, 'q') >> 1)::BIGINT AS h, "
            "?::TIMESTAMPTZ - to_seconds((hash(i, 'at') % ?)::DOUBLE) AS ts FROM range(?) t(i)",
            [at, span, items],
        )
        tx.execute(
            "INSERT INTO queue_items (id, clip_id, decision_id, queue, priority, reason, status, "
            "claimed_by, claimed_at, due_at, created_at, resolved_at) "
            "SELECT 'qi_' || i, 'clip_' || i, 'dec_' || i, "
            "['uploads', 'reports', 'appeals', 'real_people', 'rights_review', 'rights_disputes', "
            "'child_safety', 'teens'][1 + h % 8], (h >> 8) % 100, 'bench', "
            "CASE WHEN (h >> 16) % 10 < 8 AND resolved <= ? THEN 'resolved' "
            "WHEN (h >> 16) % 10 = 8 THEN 'claimed' ELSE 'open' END, "
            "CASE WHEN (h >> 16) % 10 = 8 THEN 'usr_mod' || (h % 20) END, "
            "CASE WHEN (h >> 16) % 10 = 8 THEN ts + INTERVAL 10 MINUTE END, "
            "ts + INTERVAL 24 HOUR, ts, "
            "CASE WHEN (h >> 16) % 10 < 8 AND resolved <= ? THEN resolved END "
            "FROM (SELECT *, ts + to_seconds(((h >> 24) % 172800)::DOUBLE) AS resolved "
            "FROM seed_items)",
            [at, at],
        )
        tx.execute(
            "INSERT INTO users (id, handle, role, created_at) VALUES ('usr_x', 'appellant', 'user', ?)",
            [at],
        )
        tx.execute(
            "INSERT INTO appeals (id, decision_id, clip_id, appellant_id, message, status, "
            "created_at, decided_by, decided_at) "
            "SELECT 'apl_' || i, 'dec_' || i, 'clip_' || i, 'usr_x', 'bench', "
            "['open', 'upheld', 'upheld', 'overturned'][1 + (h >> 3) % 4], "
            "ts + INTERVAL 1 HOUR, 'usr_mod1', "
            "CASE WHEN (h >> 3) % 4 > 0 THEN ts + INTERVAL 5 HOUR END "
            "FROM seed WHERE h % 50 = 0 AND ts + INTERVAL 5 HOUR < ?",
            [at],
        )
        tx.execute("DROP TABLE seed")
        tx.execute("DROP TABLE seed_items")
    counts = {}
    for table in ("scans", "signals", "decisions", "queue_items", "appeals"):
        counts[table] = int(store.query(f"SELECT count(*) FROM {table}")[0][0])
    return counts


def _time(fn: Any, repeat: int) -> tuple[Any, dict[str, float]]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, {
        "median_ms": round(1000 * statistics.median(times), 1),
        "min_ms": round(1000 * min(times), 1),
        "max_ms": round(1000 * max(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000, help="queue items")
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    args = parser.parse_args()
    results: dict[str, Any] = {"cpus": os.cpu_count(), "load_average": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "data") as store:
        start = time.perf_counter()
        results["rows"] = seed(store, args.items, args.decisions)
        results["seed_s"] = round(time.perf_counter() - start, 1)
        print("seeded", json.dumps(results["rows"]), f"in {results['seed_s']} s", flush=True)
        results["overview"] = []
        for days, bucket in ((14, "day"), (90, "day"), (7, "hour")):
            window = metrics.Window.last(days, bucket)
            doc, figures = _time(lambda w=window: metrics.overview(store, w), args.repeat)
            body = json.dumps(doc, default=str)
            row = {"days": days, "bucket": bucket, **figures, "json_bytes": len(body)}
            results["overview"].append(row)
            print("overview", json.dumps(row), flush=True)
        _, figures = _time(lambda: metrics.my_work(store, "usr_mod1"), args.repeat)
        results["my_work"] = figures
        print("my_work", json.dumps(figures), flush=True)
    out = REPO / "bench" / "results" / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
