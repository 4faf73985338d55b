"""A prompt check answers from what is true now, though the server keeps some of it in memory.

Against a real server on loopback. The prompt-check path (issue 12) no longer asks the store
for what has not changed: a request's user is authenticated once however many checks need it,
the active and shadow policy pointers are kept until they change, and an empty character
registry is remembered until the first registration. Each test changes that state through the
API between two checks and asserts that the next check sees the change.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.gate.conftest import with_rule

PROMPT = "a lighthouse keeper paints the sea at dawn"

PROMPTS_REVIEWED_RULE = """
  - id: prompts_reviewed
    description: Every prompt goes to a human (gate test policy).
    condition: context.stage == "prompt"
    outcome: review
    severity: low
    reason: prompt_review
    queue: prompts
    priority: 75
"""


def _check(live: LiveServer, who: str, prompt: str = PROMPT) -> Any:
    with live.client(who) as c:
        return c.post("/prompt-check", json={"prompt": prompt})


def test_a_revoked_token_or_suspended_account_is_refused_on_the_next_prompt_check(
    live_server: LiveServer,
) -> None:
    live = live_server
    live.add_account("writer")
    live.add_account("other")
    assert _check(live, "writer").status_code == 200
    with live.client("writer") as c:
        assert c.post("/auth/logout").status_code == 200
    refused = _check(live, "writer")
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]

    assert _check(live, "other").status_code == 200
    with live.client("admin") as admin:
        r = admin.post("/users/other/suspend", json={"reason": "spam wave"})
        assert r.status_code == 200, r.text
    suspended = _check(live, "other")
    assert suspended.status_code == 401 and "suspended" in suspended.json()["error"]
    # Nothing was recorded for the refused checks: one decision per accepted check (this
    # server is the test's own).
    rows = live.services.store.query("SELECT count(*) FROM decisions WHERE door = 'prompt'")
    assert rows[0][0] == 2


def test_a_character_registered_after_checks_on_an_empty_registry_is_matched_at_once(
    live_server: LiveServer,
) -> None:
    live = live_server
    name = "Baron Teaspoon"
    # Checks while nothing is registered: allowed, no character signal.
    for _ in range(2):
        first = _check(live, "moderator", f"{name} sails a paper boat")
        assert first.status_code == 200, first.text
        assert first.json()["decision"]["outcome"] == "allow"
        assert not [s for s in first.json()["signals"] if s["kind"] == "character.match"]
    with live.client("rights_holder") as rh:
        made = rh.post("/characters", json={"name": name, "policy": "block"})
    assert made.status_code == 201, made.text
    after = _check(live, "moderator", f"{name} sails a paper boat")
    assert after.status_code == 200, after.text
    doc = after.json()
    assert doc["decision"]["outcome"] == "block"
    assert "character_blocked" in doc["decision"]["reasons"]
    matches = [s for s in doc["signals"] if s["kind"] == "character.match"]
    assert matches and matches[0]["character_id"] == made.json()["id"]


def test_shadow_and_active_policy_changes_apply_to_the_next_prompt_check(
    live_server: LiveServer,
) -> None:
    live = live_server
    with live.client("admin") as admin:
        v1 = admin.get("/policies/active").json()["id"]
        before = _check(live, "admin").json()["decision"]
        assert before["version"] == v1 and before["shadow"]["version"] is None
        # A second version with a rule that sends every prompt to review.
        rule = PROMPTS_REVIEWED_RULE
        saved = admin.post("/policies", json={"files": with_rule(rule), "message": "all"})
        assert saved.status_code == 201, saved.text
        v2 = saved.json()["id"]

        assert admin.post("/policies/shadow", json={"version_id": v2}).json()["shadow"] == v2
        shadowed = _check(live, "admin").json()["decision"]
        assert shadowed["version"] == v1 and shadowed["shadow"]["version"] == v2
        assert shadowed["shadow"]["comparison"]["outcome"] == "review"
        assert admin.post("/policies/shadow", json={"version_id": None}).status_code == 200
        assert _check(live, "admin").json()["decision"]["shadow"]["version"] is None

        assert admin.post(f"/policies/{v2}/activate").json()["active"] == v2
        enforced = _check(live, "admin").json()["decision"]
        assert enforced["version"] == v2 and enforced["outcome"] == "review"
        assert admin.post("/policies/1/activate").json()["active"] == v1
        rolled = _check(live, "admin").json()["decision"]
        assert rolled["version"] == v1 and rolled["outcome"] == before["outcome"]
