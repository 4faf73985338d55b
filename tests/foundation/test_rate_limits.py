"""Rate limits: token buckets answered with 429 and Retry-After, per account and per address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from feed.ratelimit import DEFAULT_RATES, Rate, RateLimited, RateLimiter, rates_from
from greenroom.settings import Settings
from tests.conftest import FIXTURES, TEST_MODELS, LiveServer, start_live_server


class Clock:
    """A clock the test moves by hand: no sleeping on the wall clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter({"scan": Rate(per_minute=60, burst=3)}, clock=clock)
    assert [limiter.hit("scan", "u1") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.hit("scan", "u1")
    assert wait == pytest.approx(1.0)  # one token a second
    assert limiter.hit("scan", "u2") == 0.0  # another caller has their own bucket
    clock.t += 1.0
    assert limiter.hit("scan", "u1") == 0.0
    with pytest.raises(RateLimited) as refused:
        limiter.check("scan", "u1")
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "1"}


def test_zero_rate_turns_a_class_off() -> None:
    limiter = RateLimiter(rates_from({"prompt_check": 0}))
    assert all(limiter.hit("prompt_check", "u") == 0.0 for _ in range(10_000))


def test_unknown_class_refused() -> None:
    with pytest.raises(ValueError, match="unknown rate-limit class"):
        rates_from({"scna": 10})
    assert set(DEFAULT_RATES) >= {"scan", "upload", "generate", "report", "prompt_check"}


@pytest.fixture()
def tight_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path / "data",
        models_dir=TEST_MODELS,
        fixtures_dir=FIXTURES,
        rate_limits={"prompt_check": 2, "login_account": 3, "login_address": 600},
    )
    yield from start_live_server(tmp_path / "data", settings)


def test_live_limits_answer_429_with_retry_after(tight_server: LiveServer) -> None:
    live = tight_server
    with live.client("adult") as adult:
        codes = [
            adult.post("/prompt-check", json={"prompt": "a cat"}).status_code for _ in range(3)
        ]
        assert codes[0] == 200 and codes[-1] == 429
        last = adult.post("/prompt-check", json={"prompt": "a cat"})
        assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
        assert "too many requests" in last.json()["error"]
    with live.client("moderator") as other:
        assert other.post("/prompt-check", json={"prompt": "a cat"}).status_code == 200
    # Wrong passwords: refused, then throttled per account whatever the address.
    with live.client() as anon:
        answers = [
            anon.post("/auth/login", json={"handle": "adult", "password": "wrong-password"})
            for _ in range(6)
        ]
    assert answers[0].status_code == 401
    assert answers[-1].status_code == 429 and "Retry-After" in answers[-1].headers
