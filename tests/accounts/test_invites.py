"""Invite-only sign-up on a real server: codes shown once and stored hashed, one refusal for every
bad code (that says nothing about handles), allowances, the invite tree, and stopping a branch."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from store.invites import REFUSED, new_code, normalize_code
from tests.accounts.conftest import bearer, events, live_server_with
from tests.conftest import LiveServer

ADULT_BORN = "1990-05-17"


def _code(client: httpx.Client) -> dict[str, Any]:
    r = client.post("/me/invites")
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _signup(live: LiveServer, code: str, handle: str, born: str = ADULT_BORN) -> httpx.Response:
    with live.client() as anon:
        return anon.post(
            "/auth/signup",
            json={
                "invite_code": code,
                "handle": handle,
                "password": f"{handle}-password",
                "birth_date": born,
            },
        )


def _joined(live: LiveServer, code: str, handle: str, born: str = ADULT_BORN) -> httpx.Client:
    r = _signup(live, code, handle, born)
    assert r.status_code == 201, r.text
    return bearer(live, r.json()["token"])


def _by_state(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for code in doc["invites"]:
        out.setdefault(code["state"], []).append(code)
    return out


def test_sign_up_needs_a_valid_unused_code_and_the_refusal_reveals_no_handle(
    tmp_path: Path,
) -> None:
    with live_server_with(tmp_path / "data") as live:
        # Without a code that works: one answer, whether the handle is taken or free.
        refusals = [
            _signup(live, new_code(), "adult"),  # a handle that exists
            _signup(live, new_code(), "brand-new"),  # one that does not
            _signup(live, "not-a-code", "adult"),
            _signup(live, "not-a-code", "brand-new"),
        ]
        for r in refusals:
            assert r.status_code == 403, r.text
            assert r.json() == {"error": REFUSED}
        with live.client("admin") as admin:
            assert admin.get("/users/brand-new").status_code == 404  # nothing was created

        with live.client("adult") as adult:
            made = _code(adult)
            code = made["code"]
            assert re.fullmatch(r"([A-Z2-7]{4}-){5}[A-Z2-7]{4}", code), code
            assert made["state"] == "unused" and made["hint"] == code[:4] + "-…"
            listed = adult.get("/me/invites").json()
        # The code is shown once: the list has its hint, never the code.
        assert code not in str(listed) and code.replace("-", "") not in str(listed)
        assert listed["per_user"] == 5 and listed["remaining"] == 4 and listed["can_invite"]
        assert [(c["id"], c["state"]) for c in listed["invites"]] == [(made["id"], "unused")]

        # Stored hashed: the sha256 of the code, not the code.
        rows = live.services.store.query("SELECT code_hash, hint FROM invite_codes")
        normalized = normalize_code(code)
        assert normalized is not None
        assert rows == [(hashlib.sha256(normalized.encode()).hexdigest(), code[:4])]

        # A valid code with a taken handle: the handle is refused and the code keeps working.
        taken = _signup(live, code, "moderator")
        assert taken.status_code == 409 and "taken" in taken.json()["error"]
        # Bad input is refused before anything is spent.
        assert _signup(live, code, "kid", born=f"{date.today().year - 10}-01-01").status_code == 422
        assert _signup(live, code, "Bad Handle!").status_code == 422

        # Typed loosely (lower case, spaces for dashes) it still works, once.
        signed = _signup(live, code.lower().replace("-", " "), "newbie")
        assert signed.status_code == 201, signed.text
        doc = signed.json()
        assert doc["invited_by"] == "adult" and doc["user"]["handle"] == "newbie"
        assert doc["user"]["role"] == "user" and doc["user"]["is_teen"] is False
        with bearer(live, doc["token"]) as newbie:
            assert newbie.get("/me").json()["handle"] == "newbie"
            mine = newbie.get("/me/invites").json()
            assert mine["invited_by"] == "adult" and mine["remaining"] == 5
        with live.client() as anon:  # the password works for the console too
            login = anon.post(
                "/auth/login", json={"handle": "newbie", "password": "newbie-password"}
            )
            assert login.status_code == 200
        again = _signup(live, code, "second")
        assert again.status_code == 403 and again.json() == {"error": REFUSED}

        with live.client("adult") as adult:
            (used,) = adult.get("/me/invites").json()["invites"]
        assert used["state"] == "used" and used["used_by"] == "newbie" and used["used_at"]

        # A teen can be invited; their birth date makes the account a teen's.
        with live.client("adult") as adult:
            teen_code = _code(adult)["code"]
        teen = _signup(live, teen_code, "young", born=f"{date.today().year - 15}-01-01")
        assert teen.status_code == 201 and teen.json()["user"]["is_teen"] is True

        created = events(live, "invite.created")
        redeemed = events(live, "invite.redeemed")
        assert len(created) == 2 and len(redeemed) == 2
        assert code not in str(created) and code not in str(redeemed)
        assert redeemed[0]["payload"]["inviter_id"] == live.users["adult"].id
        with live.client("admin") as admin:
            assert admin.get("/audit/verify").json()["ok"] is True


def test_each_account_has_an_allowance_and_can_withdraw_a_code(tmp_path: Path) -> None:
    with live_server_with(tmp_path / "data", invites_per_user=2) as live:
        with live.client("guardian") as g:
            first, second = _code(g), _code(g)
            full = g.post("/me/invites")
            assert full.status_code == 409 and "all 2" in full.json()["error"]
            assert g.get("/me/invites").json()["remaining"] == 0
            # Withdrawing an unused code gives its place back; the code stops working.
            assert g.delete(f"/me/invites/{first['id']}").json() == {
                "id": first["id"],
                "state": "void",
            }
            assert g.delete(f"/me/invites/{first['id']}").status_code == 409
            third = _code(g)
        assert _signup(live, first["code"], "late").status_code == 403
        assert _signup(live, second["code"], "on-time").status_code == 201
        # Used codes count: two used or unused, the limit is reached again.
        with live.client("guardian") as g:
            states = _by_state(g.get("/me/invites").json())
            assert {k: len(v) for k, v in states.items()} == {"unused": 1, "used": 1, "void": 1}
            assert g.post("/me/invites").status_code == 409
            # Someone else's code cannot be withdrawn (it answers like a missing one).
        with live.client("adult") as adult:
            assert adult.delete(f"/me/invites/{third['id']}").status_code == 404
        # A suspended inviter's codes stop working.
        with live.client("admin") as admin:
            r = admin.post("/users/guardian/suspend", json={"reason": "test"})
            assert r.status_code == 200
        assert _signup(live, third["code"], "after-suspension").status_code == 403


def _tree_handles(node: dict[str, Any]) -> dict[str, Any]:
    return {node["handle"]: {k: v for c in node["children"] for k, v in _tree_handles(c).items()}}


def test_staff_see_the_tree_and_stop_a_branch(live_server: LiveServer) -> None:
    live = live_server
    adult = live.client("adult")
    ann = _joined(live, _code(adult)["code"], "ann")
    bob = _joined(live, _code(ann)["code"], "bob")
    cid = _joined(live, _code(bob)["code"], "cid")
    dan = _joined(live, _code(adult)["code"], "dan")
    ann_spare, bob_spare, cid_spare, dan_spare = _code(ann), _code(bob), _code(cid), _code(dan)
    adult_spare = _code(adult)

    with live.client("moderator") as mod:
        tree = mod.get("/users/adult/invite-tree").json()
        assert _tree_handles(tree["tree"]) == {"adult": {"ann": {"bob": {"cid": {}}}, "dan": {}}}
        assert tree["members"] == 5 and tree["invited_by"] is None and tree["ancestors"] == []
        below = mod.get("/users/cid/invite-tree").json()
        assert below["ancestors"] == ["bob", "ann", "adult"] and below["invited_by"] == "bob"
        ann_node, dan_node = tree["tree"]["children"]  # in the order they joined
        assert (ann_node["handle"], dan_node["handle"]) == ("ann", "dan")
        assert ann_node["codes"] == {"unused": 1, "used": 1, "void": 0}

        # Stop the branch under ann: her codes and everyone's below are void at once.
        assert mod.post("/users/ann/invites/stop", json={"reason": " "}).status_code == 422
        stopped = mod.post("/users/ann/invites/stop", json={"reason": "invite spam ring"})
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["members"] == 3 and stopped.json()["codes_voided"] == 3
        again = mod.post("/users/ann/invites/stop", json={"reason": "twice"})
        assert again.status_code == 409

    for spare, handle in ((ann_spare, "x1"), (bob_spare, "x2"), (cid_spare, "x3")):
        r = _signup(live, spare["code"], handle)
        assert r.status_code == 403 and r.json() == {"error": REFUSED}
    for member in (ann, bob, cid):
        refused = member.post("/me/invites")
        assert refused.status_code == 409 and "paused" in refused.json()["error"]
        doc = member.get("/me/invites").json()
        assert doc["can_invite"] is False and doc["remaining"] == 0
        assert "spam" not in str(doc)  # staff's reason is theirs, not the member's
        assert {c["state"] for c in doc["invites"]} <= {"used", "void"}
    # Above and beside the branch nothing changed.
    assert _signup(live, dan_spare["code"], "dans-friend").status_code == 201
    assert adult.get("/me/invites").json()["can_invite"] is True
    assert _signup(live, adult_spare["code"], "adults-friend").status_code == 201

    with live.client("admin") as admin:
        tree = admin.get("/users/adult/invite-tree").json()["tree"]
        ann_node = next(c for c in tree["children"] if c["handle"] == "ann")
        assert ann_node["stop"]["reason"] == "invite spam ring"
        assert ann_node["stop"]["stopped_by"] == "moderator"
        assert ann_node["invites_stopped"] and ann_node["children"][0]["invites_stopped"]
        assert not tree["invites_stopped"]
        seen_from_cid = admin.get("/users/cid/invite-tree").json()
        assert seen_from_cid["stopped_above"]["at"] == "ann"
        assert admin.get("/users/cid/invites").json()["stop"]["at"] == "ann"
        # A stop is lifted where it was put.
        below = admin.post("/users/bob/invites/resume", json={"reason": "cleared"})
        assert below.status_code == 409 and "@ann" in below.json()["error"]
        resumed = admin.post("/users/ann/invites/resume", json={"reason": "cleared after review"})
        assert resumed.status_code == 200 and resumed.json()["resumed"] is True
        assert admin.post("/users/ann/invites/resume", json={"reason": "x"}).status_code == 409

    # Reinstated: the branch invites again; the voided codes stay void.
    assert _signup(live, bob_spare["code"], "x4").status_code == 403
    assert _joined(live, _code(bob)["code"], "bobs-friend").get("/me").status_code == 200

    stops = events(live, "invite.branch_stopped")
    assert [e["payload"]["reason"] for e in stops] == ["invite spam ring"]
    assert stops[0]["actor_id"] == live.users["moderator"].id
    assert stops[0]["subject_id"] == live.services.users.by_handle("ann").id
    assert len(events(live, "invite.branch_resumed")) == 1
    for client in (adult, ann, bob, cid, dan):
        client.close()


def test_sign_up_is_rate_limited_per_address(tmp_path: Path) -> None:
    with live_server_with(tmp_path / "data", rate_limits={"login_address": 1}) as live:
        first = _signup(live, new_code(), "someone")
        assert first.status_code == 403
        second = _signup(live, new_code(), "someone")
        assert second.status_code == 429 and second.headers["Retry-After"]
