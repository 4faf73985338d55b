"""Content-addressed media: bytes stored once by sha256, with size limits and atomic writes.

Layout: ``<root>/ab/cd/<sha256>`` where ``ab`` and ``cd`` are the first two
byte pairs of the hex digest (so no directory grows past 65,536 entries), and
``<root>/tmp/`` for writes in progress (same filesystem, so ``os.replace`` is
atomic). Every name that reaches the filesystem is built here from a validated
64-hex digest; nothing a user typed is ever part of a path.

Ordering with the database: the file is written (and fsynced) *before* the
``blobs`` row is inserted in the caller's transaction. DuckDB cannot enlist a
file write in its transaction, so one of the two must come first. File first
means a crash or a rollback leaves at most a file without a row: it is named by
its own hash, so it is harmless and is adopted again if the same bytes are
stored later. Row first would leave a row pointing at nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from store.db import NotFound, StoreError, Tx, now
from store.events import BlobStored

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# type/subtype tokens (RFC 6838); parameters such as ";charset=" are refused: a plain pair only.
_MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)
_CHUNK = 1024 * 1024
_TMP_DIR = "tmp"
_TMP_PREFIX = "put-"


Content = bytes | bytearray | memoryview | BinaryIO


class BlobError(StoreError):
    """A blob could not be stored or read; the message is safe to show."""


class BlobTooLarge(BlobError):
    """The content is over the store's size limit (nothing was kept)."""


class InvalidBlobId(BlobError):
    """A blob id that is not a 64-character hex sha256."""


class BlobNotFound(NotFound, BlobError):
    """No blob with that sha256 in this store."""


class SupportsExecute(Protocol):
    """A transaction or a cursor: anything that runs SQL with parameters."""

    def execute(self, sql: str, params: Any = ...) -> Any: ...


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int
    media_type: str | None


def validate_sha256(sha: object) -> str:
    """The lower-case digest if ``sha`` is a 64-hex string; :class:`InvalidBlobId` otherwise."""
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise InvalidBlobId("blob id must be a 64-character hexadecimal sha256")
    return sha.lower()


def _check_media_type(media_type: str | None) -> str | None:
    if media_type is None:
        return None
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise BlobError(f"invalid media type {media_type!r:.80}: expected 'type/subtype'")
    return media_type.lower()


def _chunks(data: Content, limit: int) -> Iterator[bytes]:
    """Yield the content in chunks, reading at most ``limit + 1`` bytes in total."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        # Slicing to limit+1 is enough to see that it is too large without copying it all.
        for start in range(0, min(len(view), limit + 1), _CHUNK):
            yield bytes(view[start : min(start + _CHUNK, limit + 1)])
        return
    read = getattr(data, "read", None)
    if read is None:
        raise BlobError("blob content must be bytes or a binary file object")
    budget = limit + 1
    while budget > 0:
        chunk = read(min(_CHUNK, budget))
        if not chunk:
            return
        if not isinstance(chunk, bytes | bytearray):
            raise BlobError("blob content must be read from a binary file (got text)")
        budget -= len(chunk)
        yield bytes(chunk)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not available on every platform, hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class BlobStore:
    """Blobs under ``root`` (normally ``<data_dir>/blobs``), each at most ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._tmp = self.root / _TMP_DIR
        self._tmp.mkdir(parents=True, exist_ok=True)

    @classmethod
    def in_data_dir(cls, data_dir: Path, max_bytes: int) -> BlobStore:
        return cls(Path(data_dir) / "blobs", max_bytes)

    # -- paths -------------------------------------------------------------

    def path(self, sha: str) -> Path:
        """Where the blob lives (whether or not it exists); only a valid digest is accepted."""
        digest = validate_sha256(sha)
        return self.root / digest[0:2] / digest[2:4] / digest

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def open(self, sha: str) -> BinaryIO:
        """The blob's bytes, for reading; :class:`BlobNotFound` if it is not stored."""
        try:
            return self.path(sha).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {validate_sha256(sha)}") from None

    def read_bytes(self, sha: str) -> bytes:
        with self.open(sha) as handle:
            return handle.read()

    def verify(self, sha: str) -> bool:
        """Whether the stored file still hashes to its name (finds disk corruption, tampering)."""
        digest = hashlib.sha256()
        with self.open(sha) as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest() == validate_sha256(sha)

    # -- writing -----------------------------------------------------------

    def write_file(self, data: Content) -> tuple[str, int]:
        """Stream ``data`` into the store's files (no database row); returns (sha256, size).

        Hashes while writing to a temp file, aborts as soon as the size limit is
        passed (deleting the temp file), fsyncs, then renames into place.
        Storing content that is already there keeps the existing file.
        """
        if (
            isinstance(data, bytes | bytearray | memoryview)
            and memoryview(data).nbytes > self.max_bytes
        ):
            raise BlobTooLarge(f"content is larger than the limit of {self.max_bytes} bytes")
        tmp_path = self._tmp / f"{_TMP_PREFIX}{secrets.token_hex(12)}"
        digest = hashlib.sha256()
        size = 0
        try:
            with tmp_path.open("xb") as out:
                for chunk in _chunks(data, self.max_bytes):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise BlobTooLarge(
                            f"content is larger than the limit of {self.max_bytes} bytes"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            if final.is_file() and final.stat().st_size == size:
                tmp_path.unlink()
                return sha, size
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, final)
            _fsync_dir(final.parent)
            return sha, size
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def stage(self, data: Content | Path) -> tuple[str, int]:
        """Write the bytes into place before any transaction; :meth:`record` then adds the row.

        Copying and fsyncing a large upload is slow: doing it here keeps the
        store's write lock free meanwhile. Bytes staged but never recorded (a
        rollback, a crash) are found by :meth:`unrecorded`.
        """
        if isinstance(data, Path):
            try:
                if data.stat().st_size > self.max_bytes:
                    raise BlobTooLarge(
                        f"{data.name} is larger than the limit of {self.max_bytes} bytes"
                    )
                with data.open("rb") as handle:
                    return self.write_file(handle)
            except FileNotFoundError:
                raise BlobError(f"no such file: {data.name}") from None
            except IsADirectoryError:
                raise BlobError(f"{data.name} is a directory, not a file") from None
        return self.write_file(data)

    def record(self, tx: Tx, staged: tuple[str, int], media_type: str | None) -> BlobRef:
        """The ``blobs`` row and ``blob.stored`` audit for staged bytes (idempotent)."""
        media_type = _check_media_type(media_type)
        sha, size = staged
        if not self.path(sha).is_file():
            raise BlobError(f"blob {sha[:12]} was not staged")
        return self._record(tx, sha, size, media_type)

    def put(self, tx: Tx, data: Content, media_type: str | None) -> BlobRef:
        """Store ``data`` and record it (``blobs`` row + ``blob.stored`` audit) in ``tx``.

        Idempotent: content already recorded returns its existing reference and
        writes no new row or audit event. For large content prefer :meth:`stage`
        before the transaction and :meth:`record` inside it.
        """
        media_type = _check_media_type(media_type)
        sha, size = self.write_file(data)
        return self._record(tx, sha, size, media_type)

    def _record(self, tx: Tx, sha: str, size: int, media_type: str | None) -> BlobRef:
        row = tx.execute("SELECT size, media_type FROM blobs WHERE sha256 = ?", [sha]).fetchone()
        if row is not None:
            return BlobRef(sha, int(row[0]), row[1])
        tx.execute("INSERT INTO blobs VALUES (?, ?, ?, ?)", [sha, size, media_type, now()])
        tx.audit(BlobStored(None, sha256=sha, size=size, media_type=media_type))
        return BlobRef(sha, size, media_type)

    def put_file(self, tx: Tx, path: Path, media_type: str | None) -> BlobRef:
        """Store a local file (checked against the limit before it is read)."""
        path = Path(path)
        try:
            if path.stat().st_size > self.max_bytes:
                raise BlobTooLarge(
                    f"{path.name} is larger than the limit of {self.max_bytes} bytes"
                )
            with path.open("rb") as handle:
                return self.put(tx, handle, media_type)
        except FileNotFoundError:
            raise BlobError(f"no such file: {path.name}") from None
        except IsADirectoryError:
            raise BlobError(f"{path.name} is a directory, not a file") from None

    def delete(self, tx: Tx, sha: str) -> bool:
        """Delete a blob's ``blobs`` row in ``tx`` and its file; returns whether a row went.

        The caller decides that nothing names the blob any more and audits why
        it went (e.g. ``cameo.likeness_data_deleted``). The file goes at once,
        so it is gone even if a later step of the transaction fails; a row
        left by such a rollback points at nothing and reads as
        :class:`BlobNotFound`, which is what deleted personal data should do.
        """
        digest = validate_sha256(sha)
        row = tx.execute("SELECT 1 FROM blobs WHERE sha256 = ?", [digest]).fetchone()
        if row is not None:
            tx.execute("DELETE FROM blobs WHERE sha256 = ?", [digest])
        self.path(digest).unlink(missing_ok=True)
        return row is not None

    # -- housekeeping ------------------------------------------------------

    def cleanup_temp(self, older_than_s: float = 3600.0) -> int:
        """Delete temp files left by interrupted writes; returns how many were removed.

        Only files older than ``older_than_s`` go, so a write in progress in
        this or another thread is never pulled from under it.
        """
        cutoff = time.time() - older_than_s
        removed = 0
        for entry in self._tmp.iterdir():
            if not entry.name.startswith(_TMP_PREFIX) or not entry.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime <= cutoff:
                    entry.unlink()
                    removed += 1
        return removed

    def unrecorded(self, recorded: set[str]) -> list[str]:
        """Stored files whose digest is not in ``recorded`` (the blobs rows): crash leftovers."""
        found = []
        for first in self.root.iterdir():
            if first.name == _TMP_DIR or not first.is_dir():
                continue
            for second in first.iterdir():
                if not second.is_dir():
                    continue
                for entry in second.iterdir():
                    if _SHA256.fullmatch(entry.name) and entry.name not in recorded:
                        found.append(entry.name)
        return sorted(found)

    def info(self, conn: SupportsExecute, sha: str) -> BlobRef:
        """The recorded reference (``conn``: a Tx or ``store.conn``); BlobNotFound if none."""
        digest = validate_sha256(sha)
        row = conn.execute(
            "SELECT size, media_type FROM blobs WHERE sha256 = ?", [digest]
        ).fetchone()
        if row is None:
            raise BlobNotFound(f"no blob {digest}")
        return BlobRef(digest, int(row[0]), row[1])


__all__ = [
    "BlobError",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "BlobTooLarge",
    "InvalidBlobId",
    "validate_sha256",
]
