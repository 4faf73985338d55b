"""Reading an uploaded file within the size limit, with the same errors on every route.

By the time a handler runs, :class:`feed.errors.BodyLimitMiddleware` has
already checked the caller's token and the body's type and size from the
headers; this is the per-file check.
"""

from __future__ import annotations

from fastapi import HTTPException, UploadFile


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes; 413 over ``limit``, 422 when empty. Reads at most limit+1 bytes."""
    size = getattr(upload, "size", None)
    if isinstance(size, int) and size > limit:
        # The multipart parser counted it: refuse without reading it back into memory.
        raise HTTPException(413, f"upload is over the {limit}-byte limit")
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload is over the {limit}-byte limit")
    if not data:
        raise HTTPException(422, "upload is empty (0 bytes)")
    return data
