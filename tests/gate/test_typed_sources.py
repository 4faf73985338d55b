"""Sources hand the policy engine typed signals: a part that does not fit the signal view is a
source failure (forced review), never a silently misread condition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detectors.base import Signal
from greenroom.settings import Settings
from greenroom.wiring import build_pipeline
from pipeline.sources import ScanInput
from store.db import Store


class Miswired:
    """A source whose view part has the wrong types (a score as a word)."""

    name = "miswired"

    def signals(self, scan: ScanInput) -> list[Signal]:
        return []

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        return {"nudity": {"max_score": "very high"}}


def test_mistyped_view_part_forces_review(tmp_path: Path) -> None:
    with Store(tmp_path / "d") as store:
        ctx = build_pipeline(
            store, Settings(data_dir=tmp_path / "d", threads=1), extra_sources=(Miswired(),)
        )
        with store.transaction() as tx:
            user = ctx.users.create(tx, "ada", "user", birth_year=1990)
        result = ctx.gate.check_prompt(user, "a cat on a skateboard")
    assert result.decision["outcome"] == "review"
    assert {"source": "miswired", "error": "ValidationError"} in result.source_errors
    assert "miswired" not in result.sources_run


class Crashing:
    name = "crashing"

    def signals(self, scan: ScanInput) -> list[Signal]:
        raise RuntimeError("detector crashed")

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        return {}


def test_backtests_replay_the_paths_judgement(tmp_path: Path, fixtures_dir: Path) -> None:
    """A stored decision forced to review by a failed source replays as review, not as a change."""
    with Store(tmp_path / "d") as store:
        ctx = build_pipeline(
            store, Settings(data_dir=tmp_path / "d", threads=1), extra_sources=(Crashing(),)
        )
        with store.transaction() as tx:
            user = ctx.users.create(tx, "ada", "user", birth_year=1990)
        # A scene without people: only the failed source sends it to review (a stranger's
        # real face would be held by a rule, and that review would not be forced).
        scanned = ctx.gate.scan(fixtures_dir / "c2pa" / "assets" / "earth_apollo17.jpg", user)
        assert scanned.decision["outcome"] == "review" and scanned.decision["forced_review"]
        report = ctx.policies.backtest(ctx.policies.state()["active"] or "", last_n=10)
    assert report["records"] == 1
    assert report["changed"] == 0, report  # the replay forces review exactly as the path did
