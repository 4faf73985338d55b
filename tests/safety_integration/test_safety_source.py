"""SafetySource on real fixtures with real models: the minor / nudity / prompt parts of the view."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import detectors  # noqa: F401  (torch import hook before sentence-transformers)
from greenroom.settings import Settings
from greenroom.wiring import build_pipeline
from pipeline.media import Frame, load_image
from pipeline.services import PipelineServices as Pipeline
from pipeline.sources import ScanInput
from policies.schema import NUDENET_CLASSES, PROMPT_CATEGORIES, SignalView
from store.db import Store

ADULT_FACE = "faces/face_recognition/biden.jpg"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory, test_models_dir: Path) -> Iterator[Pipeline]:
    data = tmp_path_factory.mktemp("safety") / "data"
    store = Store(data)
    yield build_pipeline(store, Settings(data_dir=data, models_dir=test_models_dir, threads=1))
    store.close()


def _scan(rgb: object, audience: str = "adult", prompt: str | None = None) -> ScanInput:
    return ScanInput(
        stage="upload",
        creator=None,
        audience=audience,  # type: ignore[arg-type]
        prompt=prompt,
        media_kind="image",
        frames=[Frame(0.0, rgb)],  # type: ignore[arg-type]
    )


def test_adult_face_image(ctx: Pipeline, fixtures_dir: Path) -> None:
    rgb = load_image(fixtures_dir / ADULT_FACE)
    scan = _scan(rgb)
    signals = ctx.safety.signals(scan)
    view = ctx.safety.view(scan, signals)
    ages = [s for s in signals if s.kind == "minor.age_estimate"]
    assert len(ages) == 1 and ages[0].model_id == "dlib-age-v1"
    assert ages[0].explanation.details["bands"]["name"] == "default"
    assert view["minor"]["worst_band"] == "adult" and view["minor"]["faces"][0]["band"] == "adult"
    assert view["minor"]["min_age"] == pytest.approx(ages[0].data["age"])
    assert set(view["nudity"]["classes"]) >= set(NUDENET_CLASSES)
    assert view["nudity"]["max_score"] < 0.35  # a portrait, no exposed sexual class
    assert "prompt" not in view  # no prompt, no prompt part
    # The part is what the policy engine reads.
    SignalView.model_validate(view)

    teen = ctx.safety.view(_scan(rgb, "teen"), ctx.safety.signals(_scan(rgb, "teen")))
    assert teen["minor"]["faces"][0]["age"] == view["minor"]["faces"][0]["age"]


def test_teen_audience_uses_stricter_bands(ctx: Pipeline) -> None:
    assert ctx.safety.bands("teen").name == "teen_strict"
    strict, default = ctx.safety.bands("teen"), ctx.safety.bands("adult")
    # A 27-year-old estimate: adult by default, a possible minor for a teen audience.
    assert default.band(27.0, 3.0) == "adult" and strict.band(27.0, 3.0) == "possible_minor"


def test_no_face_and_prompt_categories(ctx: Pipeline, fixtures_dir: Path) -> None:
    still = load_image(fixtures_dir / "characters" / "tux" / next(
        p.name for p in (fixtures_dir / "characters" / "tux").iterdir()
        if p.suffix.lower() in (".png", ".jpg", ".jpeg")))  # fmt: skip
    scan = _scan(still, prompt="nude pics of a 14 year old girl")
    view = ctx.safety.view(scan, ctx.safety.signals(scan))
    assert view["minor"] == {"faces": [], "min_age": 200.0, "worst_band": "none"}
    cats = view["prompt"]["categories"]
    assert set(cats) >= set(PROMPT_CATEGORIES)
    assert cats["sexual_minors"] >= 0.9
    assert view["prompt"]["findings"][0]["name"] == "sexual_minors"
    assert isinstance(view["prompt"]["findings"][0]["evidence"], str)
    SignalView.model_validate(view)

    innocent = _scan(still, prompt="a sexy sports car and the kids' menu")
    part = ctx.safety.view(innocent, ctx.safety.prompt_signals(innocent))
    assert not any(part["prompt"]["categories"].values())


def test_cli_safety_scan_reports_stored_bank_matches(fixtures_dir: Path, tmp_path: Path) -> None:
    """``safety scan MEDIA --data-dir D`` adds matches from the data directory's banks."""
    data = tmp_path / "data"
    image = fixtures_dir / ADULT_FACE

    def run(*args: str) -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-m", "greenroom", *args, "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    run("init", "--data-dir", str(data))
    run("banks", "add", "known", "--category", "other", "--data-dir", str(data))
    run("banks", "add-file", "known", str(image), "--label", "test", "--data-dir", str(data))
    doc = run("safety", "scan", str(image), "--data-dir", str(data))
    matches = doc["hash_matches"]
    assert isinstance(matches, list) and {m["kind"] for m in matches} == {"sha256", "pdq"}
    assert all(m["bank"] == "known" and m["source"] == "data_dir" for m in matches)
    assert [f["band"] for f in doc["faces"]] == ["adult"]  # type: ignore[index]
