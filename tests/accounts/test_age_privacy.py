"""Nobody's age status leaks: profiles, refusals and guardian requests look the same for teens and adults.

Age comes from a birth date; a birth year alone counts as the youngest it
allows; a ``user`` account of unknown age gets the teen floor until an admin
records its birth date.
"""

from __future__ import annotations

from datetime import date

import pytest

from store.users import User, age_on
from tests.conftest import LiveServer

AGE_KEYS = {"is_teen", "birth_year", "birth_date", "age_known"}


def test_profiles_show_age_status_only_to_the_person_and_staff(
    shared_live_server: LiveServer,
) -> None:
    live = shared_live_server
    for viewer in ("adult", "teen", "guardian", "rights_holder"):
        with live.client(viewer) as c:
            for other in ("teen", "adult", "guardian"):
                if other == viewer:
                    continue
                doc = c.get(f"/users/{other}").json()
                assert doc["handle"] == other
                assert not AGE_KEYS & set(doc), (viewer, other, doc)
    with live.client("teen") as t:
        assert t.get("/users/teen").json()["is_teen"] is True
    for staff in ("admin", "moderator"):
        with live.client(staff) as c:
            assert c.get("/users/teen").json()["is_teen"] is True
            assert c.get("/users/adult").json()["is_teen"] is False


@pytest.mark.parametrize("viewer", ["guardian", "adult", "teen", "rights_holder"])
def test_refusals_are_the_same_for_a_teen_an_adult_and_nobody(
    shared_live_server: LiveServer, viewer: str
) -> None:
    live = shared_live_server
    targets = [h for h in ("teen", "adult", "guardian", "nobody-here") if h != viewer]
    answers = set()
    with live.client(viewer) as c:
        for handle in targets:
            r = c.get(f"/teens/{handle}/settings")
            if r.status_code == 403:  # the role may not use the route at all: same for every target
                answers.add((r.status_code, "role"))
                continue
            answers.add((r.status_code, r.json()["error"].replace(f"@{handle}", "@H")))
            if viewer == "guardian":
                w = c.put(f"/teens/{handle}/settings", json={"feed_limit_per_day": 1})
                answers.add((w.status_code, w.json()["error"].replace(f"@{handle}", "@H")))
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] in (403, 404)


def test_a_guardian_request_answers_the_same_for_a_teen_and_an_adult(
    live_server: LiveServer,
) -> None:
    with live_server.client("guardian") as g:
        teen = g.post("/guardians/teen").json()
        adult = g.post("/guardians/adult").json()
    assert {**teen, "teen": "X"} == {**adult, "teen": "X"}
    # An adult cannot confirm (only teens have guardians); they learn it about themselves.
    with live_server.client("adult") as a:
        assert a.post("/me/guardians/guardian/confirm").status_code == 422
        assert a.delete("/me/guardians/guardian").status_code == 200


def test_age_comes_from_a_birth_date() -> None:
    today = date(2026, 6, 15)
    assert age_on(date(2008, 6, 16), None, today) == 17  # 18 tomorrow
    assert age_on(date(2008, 6, 15), None, today) == 18
    assert age_on(date(2008, 2, 29), None, date(2026, 2, 28)) == 17
    # A birth year alone: the youngest the person can be (birthday on 31 December).
    assert age_on(None, 2008, today) == 17
    assert age_on(None, 2008, date(2026, 12, 31)) == 18
    assert age_on(None, None, today) is None

    def user(role: str, **kw: object) -> User:
        return User("u", "h", role, kw.get("year"), None, False, None, kw.get("born"))  # type: ignore[arg-type]

    assert user("user").is_teen  # unknown age: the teen floor until known
    assert not user("guardian").is_teen and not user("moderator").is_teen
    assert not user("user", born=date(1990, 1, 1)).is_teen


def test_an_unknown_age_gets_the_teen_floor_until_an_admin_records_it(
    live_server: LiveServer,
) -> None:
    live = live_server
    with live.client("admin") as admin:
        made = admin.post("/users", json={"handle": "mystery", "role": "user"})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        mine = admin.get("/me/settings", headers=headers).json()
        assert mine["is_teen"] and mine["floor"] is not None
        assert (
            admin.put("/users/mystery/birth-date", json={"birth_date": "2099-01-01"}).status_code
            == 422
        )
        r = admin.put("/users/mystery/birth-date", json={"birth_date": "1990-04-01"})
        assert r.status_code == 200 and r.json()["birth_date"] == "1990-04-01"
        mine = admin.get("/me/settings", headers=headers).json()
        assert not mine["is_teen"] and mine["floor"] is None
        dated = admin.post(
            "/users", json={"handle": "dated", "role": "user", "birth_date": "2000-02-29"}
        )
        assert dated.status_code == 201 and dated.json()["birth_year"] == 2000
        clash = admin.post(
            "/users",
            json={
                "handle": "clash",
                "role": "user",
                "birth_date": "2000-02-29",
                "birth_year": 1999,
            },
        )
        assert clash.status_code == 422
