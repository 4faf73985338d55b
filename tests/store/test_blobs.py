"""Blob store: content addressing, limits enforced while streaming, atomic writes, safe ids."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from store.blobs import (
    BlobError,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    InvalidBlobId,
    validate_sha256,
)
from store.db import Store


@pytest.fixture()
def blobs(data_dir: Path) -> BlobStore:
    return BlobStore.in_data_dir(data_dir, max_bytes=64 * 1024)


def _tmp_files(blobs: BlobStore) -> list[Path]:
    return list((blobs.root / "tmp").iterdir())


def test_put_stores_under_sha_layout_and_audits(store: Store, blobs: BlobStore) -> None:
    data = os.urandom(10_000)
    with store.transaction() as tx:
        ref = blobs.put(tx, data, "image/png")
    sha = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == sha and ref.size == len(data) and ref.media_type == "image/png"
    assert blobs.path(sha) == blobs.root / sha[:2] / sha[2:4] / sha
    assert blobs.read_bytes(sha) == data and blobs.exists(sha) and blobs.verify(sha)
    assert store.query("SELECT size, media_type FROM blobs WHERE sha256 = ?", [sha]) == [
        (len(data), "image/png")
    ]
    events = store.query("SELECT event, subject_id FROM audit_log WHERE event = 'blob.stored'")
    assert events == [("blob.stored", sha)]
    assert blobs.info(store.conn, sha) == ref
    assert store.verify_audit().ok
    assert _tmp_files(blobs) == []


def test_put_is_idempotent(store: Store, blobs: BlobStore) -> None:
    data = b"same bytes"
    with store.transaction() as tx:
        first = blobs.put(tx, data, "text/plain")
    with store.transaction() as tx:
        second = blobs.put(tx, io.BytesIO(data), "application/octet-stream")
    assert first == second  # the first recording wins, no second row or audit event
    assert store.query("SELECT count(*) FROM blobs") == [(1,)]
    assert store.query("SELECT count(*) FROM audit_log WHERE event = 'blob.stored'") == [(1,)]


def test_streamed_file_over_limit_is_refused_and_leaves_nothing(
    store: Store, blobs: BlobStore
) -> None:
    class CountingReader(io.RawIOBase):
        """An endless stream that records how much was read from it."""

        def __init__(self) -> None:
            self.read_total = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            n = 4096 if size is None or size < 0 else size
            self.read_total += n
            return b"x" * n

    reader = CountingReader()
    with pytest.raises(BlobTooLarge, match="limit of 65536 bytes"), store.transaction() as tx:
        blobs.put(tx, reader, "video/mp4")  # type: ignore[arg-type]
    # Aborted while streaming: never read much past the limit, temp file deleted.
    assert reader.read_total <= blobs.max_bytes + 1
    assert _tmp_files(blobs) == []
    assert store.query("SELECT count(*) FROM blobs") == [(0,)]
    assert store.verify_audit().ok


def test_limit_is_inclusive_and_bytes_over_it_refused(store: Store, blobs: BlobStore) -> None:
    with store.transaction() as tx:
        ref = blobs.put(tx, b"a" * blobs.max_bytes, None)
    assert ref.size == blobs.max_bytes
    with pytest.raises(BlobTooLarge), store.transaction() as tx:
        blobs.put(tx, b"a" * (blobs.max_bytes + 1), None)
    big = Path(blobs.root.parent / "big.bin")
    big.write_bytes(b"b" * (blobs.max_bytes + 1))
    with pytest.raises(BlobTooLarge), store.transaction() as tx:
        blobs.put_file(tx, big, None)
    assert _tmp_files(blobs) == []


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "/" + "a" * 63,
        "a" * 62 + "/.",
        "",
        None,
        123,
    ],
)
def test_only_64_hex_ids_reach_the_filesystem(blobs: BlobStore, bad: object) -> None:
    with pytest.raises(InvalidBlobId):
        blobs.path(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidBlobId):
        blobs.open(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidBlobId):
        validate_sha256(bad)


def test_upper_case_digest_is_normalised_and_missing_blob_is_not_found(blobs: BlobStore) -> None:
    sha = "AB" * 32
    assert blobs.path(sha).name == sha.lower()
    assert not blobs.exists(sha)
    with pytest.raises(BlobNotFound):
        blobs.open(sha)


def test_bad_media_type_and_text_stream_refused(store: Store, blobs: BlobStore) -> None:
    with pytest.raises(BlobError, match="media type"), store.transaction() as tx:
        blobs.put(tx, b"x", "../../evil")
    with pytest.raises(BlobError, match="binary"), store.transaction() as tx:
        blobs.put(tx, io.StringIO("text"), "text/plain")  # type: ignore[arg-type]
    with pytest.raises(BlobError, match="no such file"), store.transaction() as tx:
        blobs.put_file(tx, blobs.root / "missing.bin", None)
    assert _tmp_files(blobs) == []
    assert store.query("SELECT count(*) FROM blobs") == [(0,)]


def test_rollback_leaves_only_a_harmless_orphan_that_is_adopted_later(
    store: Store, blobs: BlobStore
) -> None:
    data = b"written, then the transaction failed"
    with pytest.raises(RuntimeError), store.transaction() as tx:
        ref = blobs.put(tx, data, "text/plain")
        raise RuntimeError("crash after the file write")
    assert store.query("SELECT count(*) FROM blobs") == [(0,)]
    assert blobs.exists(ref.sha256)  # file first, row second: the leftover is content-addressed
    assert blobs.unrecorded(set()) == [ref.sha256]
    with store.transaction() as tx:
        again = blobs.put(tx, data, "text/plain")
    assert again == ref
    recorded = {r[0] for r in store.query("SELECT sha256 FROM blobs")}
    assert blobs.unrecorded(recorded) == []
    assert store.verify_audit().ok


def test_cleanup_removes_only_old_temp_files(blobs: BlobStore) -> None:
    old = blobs.root / "tmp" / "put-interrupted"
    fresh = blobs.root / "tmp" / "put-in-progress"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert blobs.cleanup_temp(older_than_s=3600) == 1
    assert not old.exists() and fresh.exists()


def test_tampered_file_fails_verify(store: Store, blobs: BlobStore) -> None:
    with store.transaction() as tx:
        ref = blobs.put(tx, b"original", None)
    blobs.path(ref.sha256).write_bytes(b"changed!")
    assert not blobs.verify(ref.sha256)


def test_concurrent_puts_of_same_and_different_content(store: Store, blobs: BlobStore) -> None:
    import threading

    shared = os.urandom(20_000)
    unique = [os.urandom(5_000) for _ in range(8)]
    errors: list[BaseException] = []

    def put(data: bytes) -> None:
        try:
            with store.transaction() as tx:
                blobs.put(tx, data, "application/octet-stream")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(d,)) for d in [shared] * 8 + unique]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.query("SELECT count(*) FROM blobs") == [(9,)]
    assert blobs.read_bytes(hashlib.sha256(shared).hexdigest()) == shared
    assert _tmp_files(blobs) == [] and store.verify_audit().ok


def test_stage_then_record_keeps_the_copy_out_of_the_transaction(tmp_path: Path) -> None:
    """Bytes are copied and fsynced by stage() before any transaction; record() only adds the row."""
    from store.blobs import BlobError, BlobStore
    from store.db import Store

    with Store(tmp_path / "d") as store:
        blobs = BlobStore.in_data_dir(store.data_dir, 1024 * 1024)
        source = tmp_path / "upload.bin"
        source.write_bytes(b"x" * 5000)
        staged = blobs.stage(source)
        assert blobs.path(staged[0]).is_file()
        assert not store.query("SELECT 1 FROM blobs WHERE sha256 = ?", [staged[0]])
        assert blobs.unrecorded(set()) == [staged[0]]  # findable if never recorded
        with store.transaction() as tx:
            ref = blobs.record(tx, staged, "application/octet-stream")
        assert ref.size == 5000 and blobs.unrecorded({staged[0]}) == []
        with store.transaction() as tx:
            assert blobs.record(tx, staged, None).sha256 == ref.sha256  # idempotent
        with pytest.raises(BlobError), store.transaction() as tx:
            blobs.record(tx, ("0" * 64, 1), None)
