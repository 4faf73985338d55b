"""Account standing in the console, driven like a person against a real server (Streamlit's AppTest
runs ``console/app.py``; every call goes over HTTP).

A user with an action in force reads its sentence on *My standing* and appeals it (the appeal
lands in the appeals queue); the doors the action stops show the same sentence; a blocked prompt
is appealed from *Feed and create*; staff look an account up on *Account standing*, see every
strike (voided ones too) and lift an action only with a reason. Strikes are counted straight
through the store's home and judged by the account rules, as a moderator's decisions would.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.console.apptest import console_app as _app

HATEFUL = "a white power rally"  # blocked by the default policy's prompt rules


@pytest.fixture(scope="module")
def live(shared_live_server: LiveServer) -> LiveServer:
    return shared_live_server


def _ok(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _plain(value: str) -> str:
    """Markdown the console escaped (``common.md``) back as the text a person reads."""
    unbold = re.sub(r"(?<!\\)\*\*", "", value)
    return re.sub(r"\\(.)", r"\1", unbold).replace("  \n", "\n")


def _texts(elements: Any) -> list[str]:
    return [_plain(e.value) for e in elements]


def _button(at: Any, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def _strikes(live: LiveServer, who: str, categories: list[str], void: int = 0) -> dict[str, Any]:
    """Count strikes for ``who`` (the first ``void`` of them voided on appeal), then judge the account."""
    from store.reports import add_strike, void_strikes

    moderator = live.users["moderator"]
    user_id = live.users[who].id
    with live.services.store.transaction() as tx:
        for n, category in enumerate(categories):
            add_strike(tx, user_id, f"dec_{who}_{n}", None, "console test", moderator.id, category)
        for n in range(void):
            void_strikes(tx, f"dec_{who}_{n}", moderator.id)
    judged: dict[str, Any] = live.services.pipeline.accounts.evaluate(user_id, None, moderator)
    return judged


def _standing(live: LiveServer, who: str) -> dict[str, Any]:
    with live.client(who) as c:
        r = c.get("/me/standing")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _appeals(live: LiveServer, who: str) -> list[dict[str, Any]]:
    """``who``'s appeals, each with its open appeals-queue item (None when there is none)."""
    return live.services.store.query_dicts(
        "SELECT a.decision_id, a.message, q.id AS item_id FROM appeals a "
        "LEFT JOIN queue_items q ON q.decision_id = a.decision_id AND q.queue = 'appeals' "
        "AND q.status = 'open' WHERE a.appellant_id = ? ORDER BY a.created_at",
        [live.users[who].id],
    )


def test_a_user_reads_an_action_in_force_and_appeals_it_into_the_appeals_queue(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = live.add_account("standing-appeal")
    (action,) = _strikes(live, who, ["spam", "spam", "violence"])["actions"]
    assert action["kind"] == "suspend_generation"
    (shown,) = _standing(live, who)["actions"]

    at = _app(live, who, monkeypatch, "My standing")
    assert at.header[0].value == "My standing"
    _ok(at)
    lines = _texts(at.markdown)
    assert any("3 all time" in m and "3 in the last 90 days" in m for m in lines), lines
    assert any("spam 2" in m and "violence 1" in m for m in lines), lines
    assert any("Generation suspended" in m and "in force" in m for m in lines), lines
    assert shown["sentence"] in _texts(at.warning), _texts(at.warning)

    # An empty message is refused in the page; nothing reaches the server.
    _button(at, "Appeal").click().run()
    assert any("needs a message" in e for e in _texts(at.error))
    assert _appeals(live, who) == []

    next(t for t in at.text_area if t.label.startswith("Appeal:")).set_value("those were not spam")
    _button(at, "Appeal").click().run()
    _ok(at)
    assert any("Appeal sent" in s and "account" in s for s in _texts(at.success))
    (appeal,) = _appeals(live, who)
    assert appeal["decision_id"] == action["decision_id"]
    assert appeal["message"] == "those were not spam" and appeal["item_id"]

    # A second appeal of the same decision: the server's refusal, in its words, in place.
    next(t for t in at.text_area if t.label.startswith("Appeal:")).set_value("again")
    _button(at, "Appeal").click().run()
    assert not at.exception
    assert at.error and all("Traceback" not in e for e in _texts(at.error))
    assert len(_appeals(live, who)) == 1

    # The door the action stops answers with the same sentence, and says where to appeal.
    create = _app(live, who, monkeypatch, "Feed and create")
    next(t for t in create.text_area if t.label == "Prompt").set_value("a cat surfing a wave")
    _button(create, "Generate").click().run()
    assert not create.exception, [e.value for e in create.exception]
    assert shown["sentence"] in _texts(create.error), _texts(create.error)
    assert any("My standing" in c for c in _texts(create.caption))

    # A moderator overturns the appeal from the review queue (the item has no clip): lifted.
    with live.client("moderator") as mod:  # "Claim next" resumes the item the moderator holds
        assert mod.post(f"/queue-items/{appeal['item_id']}/claim").status_code == 200
    review = _app(live, "moderator", monkeypatch, "Review queue")
    next(s for s in review.selectbox if s.label == "Queue").set_value("appeals").run()
    _button(review, "Claim next").click().run()
    _ok(review)
    assert f"Item {appeal['item_id']}" in _texts(review.subheader)
    next(r for r in review.radio if r.label == "Decision").set_value("overturn")
    next(t for t in review.text_input if t.label.startswith("Reason")).set_value("not spam")
    _button(review, "Decide").click().run()
    _ok(review)
    assert any(s.startswith("Decided overturn the decision") for s in _texts(review.success))
    assert _standing(live, who)["restricted"] == []


def test_a_blocked_prompt_is_appealed_from_feed_and_create(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = live.add_account("standing-prompt")
    at = _app(live, who, monkeypatch, "Feed and create")
    prompt = next(t for t in at.text_area if t.label == "Prompt")
    prompt.set_value(HATEFUL)
    _button(at, "Check the prompt only").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(e.startswith("Prompt: Not allowed.") for e in _texts(at.error)), _texts(at.error)
    assert any(t.label.startswith("Appeal this decision") for t in at.text_area)

    # Generating the same prompt stops at the prompt stage, with its own decision to appeal.
    next(t for t in at.text_area if t.label == "Prompt").set_value(HATEFUL)
    _button(at, "Generate").click().run()
    assert any(e.startswith("Prompt: Not allowed.") for e in _texts(at.error)), _texts(at.error)
    appeal_text = next(t for t in at.text_area if t.label.startswith("Appeal this decision"))
    appeal_text.set_value("a history documentary")
    _button(at, "Appeal").click().run()
    _ok(at)
    assert any("Appeal sent" in s and "prompt" in s for s in _texts(at.success))
    assert not any(t.label.startswith("Appeal this decision") for t in at.text_area)

    (appeal,) = _appeals(live, who)
    assert appeal["message"] == "a history documentary" and appeal["item_id"]
    rows = live.services.store.query_dicts(
        "SELECT door, outcome FROM decisions WHERE id = ?", [appeal["decision_id"]]
    )
    assert rows == [{"door": "generate_prompt", "outcome": "block"}]


def test_staff_see_every_strike_and_lift_an_action_only_with_a_reason(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = live.add_account("standing-lift")
    # Four strikes, the first voided on appeal: three upheld pause generation.
    (action,) = _strikes(live, who, ["hate", "spam", "spam", "spam"], void=1)["actions"]

    user = _app(live, who, monkeypatch, "My standing")
    assert "Account standing" not in user.sidebar.radio[0].options

    at = _app(live, "moderator", monkeypatch, "Account standing")
    _ok(at)
    next(t for t in at.text_input if t.label == "Account (handle)").set_value(who)
    _button(at, "Show").click().run()
    _ok(at)
    assert f"@{who}" in _texts(at.markdown)
    strikes = at.dataframe[0].value
    assert len(strikes) == 4
    assert (strikes["voided on appeal"] != "").sum() == 1
    assert any("3 all time" in m for m in _texts(at.markdown))

    # No reason: refused in the page, the action stays in force.
    _button(at, "Lift this action").click().run()
    assert any("needs a reason" in e for e in _texts(at.error))
    assert _standing(live, who)["restricted"] == ["suspend_generation"]

    reason = next(t for t in at.text_input if t.label.startswith("Reason for lifting"))
    reason.set_value("strikes counted in error")
    _button(at, "Lift this action").click().run()
    _ok(at)
    assert any("Lifted" in s for s in _texts(at.success))
    assert not any(b.label == "Lift this action" for b in at.button)
    standing = _standing(live, who)
    assert standing["restricted"] == []
    assert standing["actions"][0]["id"] == action["id"]
    assert standing["actions"][0]["lift_reason"] == "strikes counted in error"

    # The holder sees it ended, with why, and no appeal form.
    user.run()
    _ok(user)
    lines = _texts(user.markdown)
    assert any("Generation suspended" in m and "ended" in m for m in lines), lines
    assert any("strikes counted in error" in c for c in _texts(user.caption))
    assert not any(b.label == "Appeal" for b in user.button)
