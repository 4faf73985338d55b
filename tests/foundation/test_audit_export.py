"""Audit search, keyset paging and export: on a real server, the CLI, and against a brute-force reference.

Every filtered page set and every export is compared with the whole log read
plainly and filtered in Python, so a wrong clause or a skipped page shows.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from store import audit
from store.db import Store
from tests.conftest import LiveServer

GREENROOM = [sys.executable, "-m", "greenroom"]


def _all_rows(store: Store) -> list[dict[str, Any]]:
    """The reference: every row, read with no filter and no paging, oldest first."""
    rows = store.query(
        "SELECT seq, logged_at, actor_id, event, subject_type, subject_id, payload, row_hash "
        "FROM audit_log ORDER BY seq"
    )
    return [
        {
            "seq": r[0],
            "logged_at": r[1],
            "actor_id": r[2],
            "event": r[3],
            "subject_type": r[4],
            "subject_id": r[5],
            "payload": json.loads(r[6]) if isinstance(r[6], str) else r[6],
            "row_hash": r[7],
        }
        for r in rows
    ]


def _matches(row: dict[str, Any], f: audit.AuditFilter) -> bool:
    if f.actor_id is not None and row["actor_id"] != f.actor_id:
        return False
    if f.subject_id is not None and row["subject_id"] != f.subject_id:
        return False
    if f.event is not None:
        if f.event.endswith("."):
            if not row["event"].startswith(f.event):
                return False
        elif row["event"] != f.event:
            return False
    if f.since is not None and row["logged_at"] < f.since:
        return False
    if f.until is not None and row["logged_at"] >= f.until:
        return False
    return not f.text or f.text.lower() in json.dumps(row["payload"]).lower()


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    live = shared_live_server
    # A few more kinds of rows: a token, a quota change with a searchable reason.
    with live.client("admin") as admin:
        for handle in ("adult", "teen"):
            r = admin.put(
                f"/users/{handle}/quota", json={"per_day": 3, "reason": f"audit search {handle}"}
            )
            assert r.status_code == 200, r.text
    return live


def _filters(live: LiveServer) -> list[audit.AuditFilter]:
    admin_id = live.users["admin"].id
    adult_id = live.users["adult"].id
    now = datetime.now(UTC)
    return [
        audit.AuditFilter(),
        audit.AuditFilter(event="user.created"),
        audit.AuditFilter(event="user."),
        audit.AuditFilter(actor_id=admin_id),
        audit.AuditFilter(subject_id=adult_id),
        audit.AuditFilter(text="AUDIT SEARCH"),
        audit.AuditFilter(text="audit search teen", actor_id=admin_id),
        audit.AuditFilter(since=now - timedelta(days=1), until=now + timedelta(days=1)),
        audit.AuditFilter(since=now + timedelta(days=1)),
        audit.AuditFilter(event="no.such."),
    ]


def test_keyset_pages_equal_the_brute_force_reference(live: LiveServer) -> None:
    store = live.services.store
    reference = _all_rows(store)
    assert len(reference) > 10
    for f in _filters(live):
        expected = [r["seq"] for r in reversed(reference) if _matches(r, f)]
        seen: list[int] = []
        cursor = None
        while True:
            page, cursor = audit.search(store.conn, f, limit=3, before_seq=cursor)
            seen += [r["seq"] for r in page]
            if cursor is None:
                break
        assert seen == expected, f
        assert audit.count(store.conn, f) == len(expected)
        exported = [r["seq"] for r in audit.export(lambda: store.conn, f, batch=4)]
        assert exported == list(reversed(expected)), f


def test_the_api_filters_pages_and_refuses_bad_input(live: LiveServer) -> None:
    reference = _all_rows(live.services.store)
    expected = [r["seq"] for r in reversed(reference) if r["event"].startswith("user.")]
    seen: list[int] = []
    params: dict[str, Any] = {"event": "user.", "limit": 4}
    with live.client("admin") as admin:
        while True:
            r = admin.get("/audit", params=params)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["total"] == len(expected)
            seen += [e["seq"] for e in doc["events"]]
            if doc["next_before_seq"] is None:
                break
            params["before_seq"] = doc["next_before_seq"]
        by_actor = admin.get("/audit", params={"actor": "admin", "q": "audit search"}).json()
        unknown = admin.get("/audit", params={"actor": "nobody-here"})
        backwards = admin.get(
            "/audit", params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
        )
        not_a_time = admin.get("/audit", params={"since": "yesterday"})
    assert seen == expected
    assert {e["event"] for e in by_actor["events"]} and all(
        e["actor_id"] == live.users["admin"].id for e in by_actor["events"]
    )
    assert len(by_actor["events"]) == 2
    assert unknown.status_code == 404
    assert backwards.status_code == 422 and "before" in backwards.json()["error"]
    assert not_a_time.status_code == 422
    for who in ("moderator", "adult", "policy_author"):
        with live.client(who) as c:
            assert c.get("/audit/export").status_code == 403


def test_the_csv_and_jsonl_exports_hold_every_matching_row(live: LiveServer) -> None:
    reference = _all_rows(live.services.store)
    with live.client("admin") as admin:
        as_csv = admin.get("/audit/export", params={"format": "csv"})
        as_jsonl = admin.get("/audit/export", params={"format": "jsonl", "event": "user."})
        bad = admin.get("/audit/export", params={"format": "xlsx"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    # The export runs after the reference was read: rows may only have been added since.
    assert [int(r["seq"]) for r in rows][: len(reference)] == [r["seq"] for r in reference]
    first = rows[0]
    assert list(first) == list(audit.CSV_COLUMNS)
    assert json.loads(first["payload"]) == reference[0]["payload"]
    assert first["row_hash"] == reference[0]["row_hash"]
    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert lines and all(line["event"].startswith("user.") for line in lines)
    assert bad.status_code == 422


def test_the_cli_exports_to_a_file_or_standard_output(tmp_path: Path) -> None:
    data = str(tmp_path / "d")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*GREENROOM, *args], capture_output=True, text=True, timeout=120)

    assert run("init", "--data-dir", data, "--json").returncode == 0
    assert (
        run("user", "add", "ops", "--role", "admin", "--data-dir", data, "--json").returncode == 0
    )
    out = tmp_path / "audit.csv"
    done = run("audit", "export", "--out", str(out), "--data-dir", data, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert summary == {"rows": len(rows), "format": "csv", "path": str(out)} and len(rows) >= 2
    assert not (tmp_path / "audit.csv.partial").exists()
    streamed = run("audit", "export", "--format", "jsonl", "--event", "user.", "--data-dir", data)
    assert streamed.returncode == 0, streamed.stderr
    events = [json.loads(line)["event"] for line in streamed.stdout.splitlines()]
    assert events and all(e.startswith("user.") for e in events)
    for bad in (
        ("audit", "export", "--format", "xlsx", "--out", str(out)),
        ("audit", "export"),  # --json with no --out: the export would not be one JSON document
        ("audit", "export", "--actor", "nobody", "--out", str(out)),
    ):
        r = run(*bad, "--data-dir", data, "--json")
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert set(json.loads(r.stdout)) == {"error"}


def test_the_api_checks_the_chain_in_full_or_since_the_last_intact_check(live: LiveServer) -> None:
    with live.client("admin") as admin:
        full = admin.get("/audit/verify").json()
        assert full["ok"] and full["mode"] == "full" and full["checked_from"] == 1
        changed = admin.put("/users/adult/quota", json={"per_day": 4, "reason": "chain check"})
        assert changed.status_code == 200, changed.text
        later = admin.get("/audit/verify", params={"mode": "incremental"}).json()
        assert later["ok"] and later["mode"] == "incremental"
        assert later["checked_from"] == full["rows"] and later["rows"] > full["rows"]
        assert admin.get("/audit/verify", params={"mode": "quick"}).status_code == 422
