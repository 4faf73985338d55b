"""Property tests over the whole API: schemathesis drives every route from the OpenAPI schema.

A real server on loopback; every operation is called with generated bodies,
paths and queries under a token of each role in turn. Whatever a hostile or
clumsy caller sends, the answer is never a 5xx.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis

from tests.conftest import LiveServer, start_live_server

pytestmark = pytest.mark.slow

ROLES = ("adult", "teen", "guardian", "rights_holder", "moderator", "admin")
# Signing out or suspending would spend the test's own tokens; their own tests cover them.
SKIP = {("POST", "/auth/logout"), ("POST", "/users/{handle}/suspend")}
_turn = itertools.count()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_live_server(tmp_path_factory.mktemp("fuzz") / "data")


@pytest.fixture(scope="module")
def api_schema(fuzz_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_server_errors(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
    if (case.method.upper(), case.path) in SKIP:
        pytest.skip("spends the test's own credentials")
    role = ROLES[next(_turn) % len(ROLES)]
    response = case.call(
        base_url=fuzz_server.url,
        headers={"Authorization": f"Bearer {fuzz_server.tokens[role]}"},
        timeout=120,
    )
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} as {role}: {response.status_code} {response.text[:300]}"
    )
