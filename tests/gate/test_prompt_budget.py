"""A prompt whose check runs out of its work budget is held for a human, never passed quietly."""

from __future__ import annotations

from tests.conftest import LiveServer


def test_exhausted_prompt_check_forces_review(live_server: LiveServer) -> None:
    # One ligature that Unicode normalisation expands 18-fold: linear, but past the budget.
    prompt = "\ufdfa" * 4000
    with live_server.client("adult") as adult:
        answer = adult.post("/prompt-check", json={"prompt": prompt})
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["decision"]["outcome"] == "review"
    assert "signals" not in doc  # an ordinary user is told what happens, not which check failed
    with live_server.client("moderator") as mod:
        item = mod.get(f"/queue-items/{doc['queue_item_id']}").json()
    errors = item["evidence"]["decision"]["details"]["explanation"]["source_errors"]
    assert {"source": "safety", "error": "WorkBudgetExhausted"} in errors
