"""Every door goes through the one decision path: the same record, the audience check, the shadow
comparison and forced review when a source fails.

A real store, the real detectors and policy, and one extra signal source that
always fails (a deployment's own detector that crashed): every door's
decision must be recorded with the same shape, carry the teen-audience check
(media doors), compare against the shadow version, and -- because a source
failed -- be forced to at least ``review`` unless a human decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detectors.base import Signal
from greenroom.settings import Settings
from greenroom.wiring import build_pipeline
from pipeline.services import PipelineServices
from pipeline.sources import ScanInput
from store.db import Store
from store.decisions import DOORS
from store.jsondoc import loads
from store.users import User
from tests.gate.conftest import REVIEW_UPLOADS_RULE, with_rule

pytestmark = pytest.mark.slow

RECORD_KEYS = {"id", "door", "outcome", "rules", "shadow", "policy_version", "details"}


class BrokenDetector:
    """A source that always fails, as a crashed detector would."""

    name = "broken_detector"

    def signals(self, scan: ScanInput) -> list[Signal]:
        raise RuntimeError("detector crashed")

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        return {}


class World:
    def __init__(self, ctx: PipelineServices, users: dict[str, User], shadow: str) -> None:
        self.ctx = ctx
        self.users = users
        self.shadow = shadow
        self.by_door: dict[str, str] = {}

    def decision(self, decision_id: str) -> dict[str, Any]:
        rows = self.ctx.store.query_dicts(
            "SELECT id, door, outcome, rules, shadow, policy_version, details, decided_by "
            "FROM decisions WHERE id = ?",
            [decision_id],
        )
        assert rows, decision_id
        row = rows[0]
        for key in ("rules", "shadow", "details"):
            row[key] = loads(row[key])
        return row


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, test_models_dir: Path, fixtures_dir: Path
) -> Iterator[World]:
    data = tmp_path_factory.mktemp("doors") / "data"
    settings = Settings(data_dir=data, models_dir=test_models_dir, threads=1)
    store = Store(data)
    ctx = build_pipeline(store, settings, extra_sources=(BrokenDetector(),))
    with store.transaction() as tx:
        users = {
            role: ctx.users.create(tx, handle, role, birth_year=1990)
            for role, handle in (
                ("user", "ada"),
                ("moderator", "mo"),
                ("admin", "root"),
                ("rights_holder", "studio"),
            )
        }
        users["other"] = ctx.users.create(tx, "bea", "user", birth_year=1985)
        users["owner"] = ctx.users.create(tx, "cam", "user", birth_year=1980)
    ctx.policies.ensure_default()
    saved = ctx.policies.save(with_rule(REVIEW_UPLOADS_RULE), None, "shadow: review uploads")
    ctx.policies.set_shadow(saved["id"], None)
    w = World(ctx, users, saved["id"])
    face = fixtures_dir / "faces" / "deepface" / "img5.jpg"
    ada, mo, bea = users["user"], users["moderator"], users["other"]

    # Media and prompt doors.
    up = ctx.gate.scan(face, ada, prompt="a portrait", stage="upload")
    w.by_door["upload"] = up.decision_id
    w.by_door["scan"] = ctx.gate.scan(face, ada, stage="upload", door="scan").decision_id
    w.by_door["prompt"] = ctx.gate.check_prompt(ada, "a cat on a skateboard").decision_id
    generated = ctx.generation.generate(ada, "a red balloon over a lake", seconds=0.5, seed=1)
    assert generated.prompt_decision is not None
    w.by_door["generate_prompt"] = str(generated.prompt_decision["id"])
    w.by_door["generate_output"] = str(generated.decision_id)

    # A moderator publishes the upload (held for review because a source failed).
    assert up.queue_item_id is not None
    published = ctx.review.decide(up.queue_item_id, mo, "publish", "looks fine")
    w.by_door["moderator"] = published["decision_id"]

    # Remix of the published clip; a report on it.
    remix = ctx.posting.remix(bea, str(up.clip_id), face, prompt="a remix")
    w.by_door["remix"] = remix["decision_id"]
    report = ctx.reports.report(bea, str(up.clip_id), "spam")
    w.by_door["report"] = report["decision"]["id"]

    # A block, its appeal, and the verdict.
    second = ctx.gate.scan(face, ada, stage="upload")
    assert second.queue_item_id is not None
    blocked = ctx.review.decide(second.queue_item_id, mo, "block", "not allowed")
    appeal = ctx.reports.appeal(ada, blocked["decision_id"], "please look again")
    verdict = ctx.review.decide(appeal["queue_item_id"], mo, "uphold", "stands")
    w.by_door["appeal_verdict"] = verdict["decision_id"]
    # The moderator undoes the verdict (in the window): the reversal is a decision too.
    w.by_door["undo"] = ctx.review.undo(verdict["decision_id"], mo, "wrong button")["decision_id"]
    # The account door: the account judged on its strikes (no signal source runs there).
    w.by_door["account"] = ctx.accounts.evaluate(ada.id, blocked["decision_id"], mo)["decision_id"]

    # A rights holder's dispute of the remix decision, and its verdict.
    character = ctx.characters.register(
        users["admin"], users["rights_holder"], name="Captain Doorstop", policy="review"
    )
    dispute = ctx.characters.dispute(
        users["rights_holder"],
        character.id,
        "this is our character",
        decision_id=remix["decision_id"],
        clip_id=remix["clip_id"],
    )
    ruled = ctx.review.decide(dispute["queue_item_id"], mo, "uphold", "not a match")
    w.by_door["dispute_verdict"] = ruled["decision_id"]

    # A takedown after a revocation (the job's door), on the live upload.
    with store.transaction() as tx:
        cameo = ctx.likeness.cameos.create(
            tx,
            users["owner"].id,
            status="active",
            permission="everyone",
            reason=None,
            recording_sha256=None,
            challenge=[],
        )
    done = ctx.takedown.run_takedown({"cameo_id": cameo.id, "clip_ids": [up.clip_id]})
    w.by_door["takedown"] = done["clips"][0]["decision_id"]
    yield w
    store.close()


def test_every_door_is_covered(world: World) -> None:
    assert set(world.by_door) == set(DOORS)


@pytest.mark.parametrize("door", DOORS)
def test_the_record_has_one_shape(world: World, door: str) -> None:
    record = world.decision(world.by_door[door])
    assert set(record) >= RECORD_KEYS
    assert record["door"] == door
    explanation = record["details"]["explanation"]
    assert explanation["door"] == door
    assert {"sources_run", "source_errors", "stage", "teen_audience_check"} <= set(explanation)


@pytest.mark.parametrize("door", DOORS)
def test_shadow_version_compared(world: World, door: str) -> None:
    shadow = world.decision(world.by_door[door])["shadow"]
    assert shadow["version"] == world.shadow
    assert shadow["comparison"]["version"] == world.shadow
    assert {"outcome", "baseline_outcome", "changed"} <= set(shadow["comparison"])


MEDIA_DOORS = [d for d in DOORS if d not in ("prompt", "generate_prompt", "account")]


@pytest.mark.parametrize("door", MEDIA_DOORS)
def test_audience_check_on_every_media_door(world: World, door: str) -> None:
    check = world.decision(world.by_door[door])["details"]["explanation"]["teen_audience_check"]
    assert check is not None and check["outcome"] in ("allow", "label", "age_restrict", "review",
                                                      "block", "takedown")  # fmt: skip


@pytest.mark.parametrize("door", [d for d in DOORS if d != "account"])
def test_failed_source_forces_review(world: World, door: str) -> None:
    record = world.decision(world.by_door[door])
    details = record["details"]
    errors = details["explanation"]["source_errors"]
    assert {"source": "broken_detector", "error": "RuntimeError"} in errors
    policy_outcome = details.get("policy_outcome") or record["outcome"]
    # Forced up to review, unless the policy already held it for a human or stopped it.
    assert details["forced_review"] is True or policy_outcome in ("review", "block", "takedown")
    if record["decided_by"] is None:
        # Nothing a failed detector might have caught is published unseen.
        assert record["outcome"] in ("review", "block", "takedown")
    else:
        # A human decided: their outcome stands, and the policy's forced review is kept beside it.
        assert details["policy_outcome"] in ("review", "block", "takedown")
