"""Per-route body rules, decided from the headers before any of the body is read.

An upload route refuses a caller without a valid token (401) or with the wrong
role (403) while the body is still unsent: the tests send only the headers,
announcing a large body, and get the answer. JSON routes take JSON only (415)
within the JSON limit (413); upload routes take multipart within the upload
limit.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from greenroom.settings import Settings
from tests.conftest import FIXTURES, TEST_MODELS, LiveServer, start_live_server

UPLOAD_LIMIT = 8 * 1024 * 1024
JSON_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("doors") / "data"
    settings = Settings(
        data_dir=data, models_dir=TEST_MODELS, fixtures_dir=FIXTURES, rate_limits={"scan": 0}
    )
    limits = settings.limits.model_copy(
        update={"max_upload_bytes": UPLOAD_LIMIT, "max_json_body_bytes": JSON_LIMIT}
    )
    yield from start_live_server(data, settings.model_copy(update={"limits": limits}))


def _headers_only(
    live: LiveServer, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, object]]:
    """Send a request's headers (and ``body``, possibly less than announced); read the answer.

    A server that waited for the announced body would never answer: the
    socket timeout turns that into a failure instead of a hang.
    """
    url = urlsplit(live.url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.hostname}:{url.port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before an answer"
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return status, json.loads(rest[:length])


BIG = str(150 * 1024 * 1024)
MULTIPART = "multipart/form-data; boundary=xyz"


def test_unauthenticated_upload_is_refused_before_its_body(server: LiveServer) -> None:
    for path in ("/scan", "/clips", "/provenance/verify", "/cameos", "/characters"):
        status, body = _headers_only(
            server, path, {"Content-Type": MULTIPART, "Content-Length": BIG}
        )
        assert status == 401, (path, body)
        assert "authentication required" in str(body["error"])


def test_bad_tokens_are_refused_before_the_body(server: LiveServer) -> None:
    for header, reason in (
        ("Bearer nope", "invalid token"),
        ("Basic YWRtaW46YWRtaW4=", "malformed Authorization header"),
    ):
        status, body = _headers_only(
            server,
            "/scan",
            {"Content-Type": MULTIPART, "Content-Length": BIG, "Authorization": header},
        )
        assert status == 401 and reason in str(body["error"]), body


def test_wrong_role_is_refused_before_the_body(server: LiveServer) -> None:
    status, body = _headers_only(
        server,
        "/likeness/protected",  # admin only
        {
            "Content-Type": MULTIPART,
            "Content-Length": BIG,
            "Authorization": f"Bearer {server.tokens['adult']}",
        },
    )
    assert status == 403 and "may not use this route" in str(body["error"]), body


def test_upload_over_the_upload_limit_is_refused_from_its_header(server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {server.tokens['adult']}"}
    status, body = _headers_only(
        server, "/scan", {**auth, "Content-Type": MULTIPART, "Content-Length": BIG}
    )
    assert status == 413 and "limit" in str(body["error"]), body


def test_json_routes_take_json_only_within_the_json_limit(server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {server.tokens['adult']}"}
    for content_type in ("text/plain", MULTIPART, "application/x-www-form-urlencoded", None):
        headers = {**auth, "Content-Length": "20"}
        if content_type:
            headers["Content-Type"] = content_type
        status, body = _headers_only(server, "/prompt-check", headers, b'{"prompt": "a cat"}  ')
        assert status == 415, (content_type, body)
        assert "application/json" in str(body["error"])
    # A body over the JSON limit, announced: refused from the header.
    status, body = _headers_only(
        server,
        "/prompt-check",
        {**auth, "Content-Type": "application/json", "Content-Length": str(JSON_LIMIT + 1)},
    )
    assert status == 413, body
    # The public login route has the same rule.
    status, body = _headers_only(
        server, "/auth/login", {"Content-Type": "text/plain", "Content-Length": "2"}, b"{}"
    )
    assert status == 415, body
    with server.client("adult") as client:
        ok = client.post("/prompt-check", json={"prompt": "a cat on a skateboard"})
        assert ok.status_code == 200, ok.text
        chunked = client.post(
            "/prompt-check",
            content=iter([b'{"prompt": "', b"x" * (JSON_LIMIT + 10), b'"}']),
            headers={"Content-Type": "application/json"},
        )
        assert chunked.status_code == 413  # counted while streaming, no Content-Length


def test_upload_routes_take_multipart_within_the_upload_limit(
    server: LiveServer, tmp_path: Path
) -> None:
    auth = {"Authorization": f"Bearer {server.tokens['adult']}"}
    status, body = _headers_only(
        server, "/scan", {**auth, "Content-Type": "application/json", "Content-Length": "2"}, b"{}"
    )
    assert status == 415 and "multipart/form-data" in str(body["error"]), body
    # An image above the JSON limit and under the upload limit goes through.
    noise = np.random.default_rng(3).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    assert JSON_LIMIT < len(buf.getvalue()) < UPLOAD_LIMIT
    with server.client("adult") as client:
        client.timeout = 300
        ok = client.post(
            "/provenance/verify", files={"file": ("noise.png", buf.getvalue(), "image/png")}
        )
        assert ok.status_code == 200, ok.text
        # A form without the file still reaches the route and its own 422.
        missing = client.post("/scan", data={"prompt": "no file"})
        assert missing.status_code == 422, missing.text


def test_routes_without_a_body_are_unchanged(server: LiveServer) -> None:
    with server.client() as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/me").status_code == 401
    with server.client("adult") as client:
        assert client.get("/me").status_code == 200
        assert client.post("/cameos/challenge").status_code in (200, 201)
