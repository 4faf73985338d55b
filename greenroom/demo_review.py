"""Demo content for the review console: a few OPEN queue items with rich evidence.

Runs after the characters and feed seeders and reuses what they made: a clip
of a character whose rights holder chose ``review`` (rights queue), user
reports on a published clip (reports queue), the creator's appeal of a block
(appeals queue) and a rights holder's dispute of a prompt-stage block (no
clip; decided with uphold/overturn). Each step is skipped with a note when
what it needs is missing, so a partial fixture set still seeds.
"""

from __future__ import annotations

from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User

REVIEW_CHARACTER_IMAGE = "characters/ferris/rustacean-flat-happy.png"
REVIEW_CHARACTER_PROMPT = "Ferris the crab dancing on a beach"
DISPUTED_PROMPT = "Pepper the young witch flying on her broom"


def seed_review(store: Store, settings: Settings, users: dict[str, User]) -> dict[str, Any]:
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.demo_pack import media
    from greenroom.wiring import build_pipeline

    ctx = build_pipeline(store, settings)
    out: dict[str, Any] = {}
    # 1. A clip of a character with policy "review": the rights queue, with match evidence.
    image = media(settings, REVIEW_CHARACTER_IMAGE)
    if image is not None:
        doc = ctx.posting.upload(users["alice"], image, REVIEW_CHARACTER_PROMPT)
        out["review_character_clip"] = {
            "clip_id": doc["clip_id"],
            "status": doc["status"],
            "queued": doc["queued"],
        }
    else:
        out["review_character_clip"] = {"skipped": "image not in the demo pack"}
    # 2. Reports on a published clip by two people (one item, escalated).
    target = store.query(
        "SELECT id FROM clips WHERE creator_id = ? AND status = 'published' "
        "ORDER BY created_at LIMIT 1",
        [users["bob"].id],
    )
    if target:
        clip_id = str(target[0][0])
        first = ctx.reports.report(
            users["alice"], clip_id, "harassment", "mocks a classmate by name"
        )
        second = ctx.reports.report(users["gina"], clip_id, "spam", "posted again and again")
        out["reported_clip"] = {
            "clip_id": clip_id,
            "queue_item_id": second["queue_item_id"],
            "reports": second["reports"],
            "first_report": first["report_id"],
        }
    else:
        out["reported_clip"] = {"skipped": "no published clip of bob's"}
    # 3. The creator appeals the policy's block of one of their clips.
    blocked = store.query(
        "SELECT c.id, c.creator_id, d.id FROM clips c JOIN decisions d ON d.clip_id = c.id "
        "WHERE c.status IN ('blocked', 'taken_down') AND d.outcome IN ('block', 'takedown') "
        "AND d.created_at = (SELECT max(created_at) FROM decisions WHERE clip_id = c.id) "
        "ORDER BY c.created_at LIMIT 1"
    )
    by_id = {u.id: u for u in users.values()}
    if blocked and str(blocked[0][1]) in by_id:
        appeal = ctx.reports.appeal(
            by_id[str(blocked[0][1])],
            str(blocked[0][2]),
            "This is my own animation of the rabbit, made for a school project.",
        )
        out["appeal"] = {"appeal_id": appeal["appeal_id"], "queue_item_id": appeal["queue_item_id"]}
    else:
        out["appeal"] = {"skipped": "no blocked clip to appeal"}
    # 4. A rights holder disputes a prompt-stage block (no clip).
    checked = ctx.gate.check_prompt(users["bob"], DISPUTED_PROMPT, [])
    pepper = store.query(
        "SELECT id FROM characters WHERE owner_id = ? AND name = 'Pepper' AND deleted_at IS NULL",
        [users["studio"].id],
    )
    if checked.decision["outcome"] == "block" and pepper:
        dispute = ctx.characters.dispute(
            users["studio"],
            str(pepper[0][0]),
            "Fan art of Pepper is allowed under our licence (CC BY); please let it through.",
            decision_id=checked.decision_id,
        )
        out["dispute"] = {"id": dispute["id"], "queue_item_id": dispute["queue_item_id"]}
    else:
        out["dispute"] = {"skipped": f"prompt decision was {checked.decision['outcome']}"}
    return {"review": out}
