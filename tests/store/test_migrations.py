"""Migrations: an older data directory migrates forward, keeps its data, and its audit verifies."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from store import jobs
from store.blobs import BlobStore
from store.db import Migration, Store, load_migrations, now
from store.events import UserCreated


def _tables(store: Store) -> set[str]:
    return {r[0] for r in store.query("SELECT table_name FROM information_schema.tables")}


def test_directory_from_first_migration_migrates_forward(data_dir: Path) -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert len(migrations) >= 2
    with Store(data_dir, migrations=migrations[:1]) as old:
        assert old.schema_version() == 1
        assert "clip_fingerprints" not in _tables(old)
        with old.transaction() as tx:
            tx.execute(
                "INSERT INTO users (id, handle, role, created_at) VALUES (?, ?, ?, ?)",
                ["usr_1", "ada", "admin", now()],
            )
            tx.audit(UserCreated(None, user_id="usr_1", handle="ada", role="admin"))
            job_id = jobs.enqueue(tx, "scan", {"clip": "c1"})
            ref = BlobStore.in_data_dir(data_dir, 1024).put(tx, b"old blob", "text/plain")
        old_rows = old.verify_audit().rows

    with Store(data_dir) as new:
        assert new.schema_version() == migrations[-1].version
        assert {"clip_fingerprints", "feed_views", "user_settings"} <= _tables(new)
        assert new.query("SELECT handle, role FROM users") == [("ada", "admin")]
        assert jobs.get_job(new, job_id).status == "queued"
        assert BlobStore.in_data_dir(data_dir, 1024).read_bytes(ref.sha256) == b"old blob"
        report = new.verify_audit()
        assert report.ok and report.rows == old_rows + len(migrations) - 1
        migrated = new.query(
            "SELECT payload->>'version' FROM audit_log WHERE event = 'schema.migrated' ORDER BY seq"
        )
        assert [int(r[0]) for r in migrated] == [m.version for m in migrations]
        # The migrated directory works like a new one.
        claimed = jobs.claim(new, "w", ["scan"], 30)
        assert claimed is not None and claimed.id == job_id

    with Store(data_dir) as again:  # nothing left to apply
        assert again.migrate(load_migrations()) == []
        # The claim wrote one row; reopening wrote none.
        assert again.verify_audit().rows == report.rows + 1 and again.verify_audit().ok


def test_failed_migration_is_rolled_back(data_dir: Path) -> None:
    with Store(data_dir) as store:
        version = store.schema_version()
        rows = store.verify_audit().rows
        broken = Migration(
            9999, "broken", "CREATE TABLE half_done (a INTEGER); SELECT * FROM nope;"
        )
        with pytest.raises(duckdb.Error):
            store.migrate([broken])
        assert store.schema_version() == version
        assert "half_done" not in _tables(store)
        assert store.verify_audit().rows == rows and store.verify_audit().ok
