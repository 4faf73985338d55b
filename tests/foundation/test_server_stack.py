"""The server runs on uvicorn's C HTTP parser and event loop (httptools, uvloop), both installed.

uvicorn picks them only when they import ("auto"); without them it falls back
quietly to pure-Python h11 and asyncio, which cost the server's hot path more
CPU per request (bench.load). A missing install step must fail here, not only
show as a slower benchmark.
"""

from __future__ import annotations

import asyncio

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from greenroom.settings import Settings
from greenroom.wiring import make_app


def test_the_server_parses_http_with_httptools(settings: Settings) -> None:
    config = Config(make_app(settings), host="127.0.0.1", port=0, log_level="warning")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol


def test_the_server_loop_is_uvloop() -> None:
    import uvloop
    from uvicorn.loops.auto import auto_loop_factory

    factory = auto_loop_factory(use_subprocess=False)
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert not isinstance(loop, asyncio.SelectorEventLoop)
    finally:
        loop.close()
