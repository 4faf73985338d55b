"""Policy versions in the store through the server: save, refuse invalid, activate, roll back, shadow, backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import LiveServer
from tests.gate.conftest import BROKEN_RULE, REVIEW_UPLOADS_RULE, counts, with_rule


def _scan(live: LiveServer, who: str, path: Path) -> dict[str, Any]:
    with live.client(who) as client, path.open("rb") as handle:
        response = client.post("/scan", files={"file": (path.name, handle)})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_save_activate_rollback_shadow_backtest(live_server: LiveServer, face_image: Path) -> None:
    live = live_server
    store = live.services.store
    with live.client("admin") as admin:
        listing = admin.get("/policies").json()
        assert [v["seq"] for v in listing["versions"]] == [1]
        v1 = listing["active"]
        assert listing["versions"][0]["message"] == "shipped default policy"

        # Invalid: 422 with the location of every problem; nothing stored, v1 still active.
        before = counts(store)
        bad = admin.post("/policies", json={"files": with_rule(BROKEN_RULE), "message": "oops"})
        assert bad.status_code == 422
        errors = bad.json()["errors"]
        assert {"file": "content.yaml", "rule": "broken_rule", "field": "condition"}.items() <= (
            errors[0].items()
        )
        check = admin.post("/policies/validate", json={"files": with_rule(BROKEN_RULE)}).json()
        assert check["ok"] is False and check["errors"][0]["rule"] == "broken_rule"
        junk = admin.post("/policies", json={"files": {"a.yaml": "rules: [: :"}, "message": "x"})
        assert junk.status_code == 422 and junk.json()["errors"][0]["file"] == "a.yaml"
        assert counts(store) == before
        assert admin.get("/policies/active").json()["id"] == v1

        # A scan under v1 (allowed: no rule sends plain uploads anywhere).
        first = _scan(live, "adult", face_image)
        assert first["decision"]["version"] == v1

        saved = admin.post(
            "/policies", json={"files": with_rule(REVIEW_UPLOADS_RULE), "message": "review all"}
        )
        assert saved.status_code == 201, saved.text
        v2 = saved.json()["id"]
        assert saved.json()["seq"] == 2 and saved.json()["active"] is False
        again = admin.post(
            "/policies", json={"files": with_rule(REVIEW_UPLOADS_RULE), "message": "same again"}
        ).json()
        assert again["id"] == v2 and again["created"] is False
        shown = admin.get(f"/policies/{v2}").json()
        assert "uploads_reviewed" in {r["id"] for r in shown["rules"]}
        assert shown["bundle"]["version"] == v2

        # Shadow v2: recorded on the decision, never enforced.
        assert admin.post("/policies/shadow", json={"version_id": v2}).json()["shadow"] == v2
        shadowed = _scan(live, "adult", face_image)
        assert shadowed["decision"]["outcome"] == first["decision"]["outcome"]
        decisions = admin.get(f"/clips/{shadowed['clip_id']}/decisions").json()["decisions"]
        shadow = decisions[0]["shadow"]
        assert shadow["version"] == v2
        assert shadow["comparison"]["outcome"] == "review"
        assert shadow["comparison"]["rules_added"] == ["uploads_reviewed"]
        assert admin.post("/policies/shadow", json={"version_id": None}).json()["shadow"] is None

        # Backtest v2 over the stored scans: reports changes, writes nothing.
        before = counts(store)
        report = admin.post("/policies/backtest", json={"version_id": v2, "last": 50})
        assert report.status_code == 200, report.text
        report_doc = report.json()
        assert report_doc["records"] == report_doc["scans"] == 2
        expected_changes = 0 if first["decision"]["outcome"] == "review" else 2
        assert report_doc["outcome_changed"] == expected_changes
        assert report_doc["rules"]["uploads_reviewed"]["added"] == 2
        assert {c for ids in report_doc["examples"].values() for c in ids} <= {
            first["clip_id"],
            shadowed["clip_id"],
        }
        by_files = admin.post(
            "/policies/backtest", json={"files": with_rule(REVIEW_UPLOADS_RULE), "last": 1}
        ).json()
        assert by_files["records"] == 1 and by_files["candidate_version"] == v2
        assert counts(store) == before

        # Activate v2: uploads now go to review; roll back to v1: they do not.
        activated = admin.post(f"/policies/{v2}/activate").json()
        assert activated == {"active": v2, "previous": v1}
        assert _scan(live, "adult", face_image)["decision"]["outcome"] == "review"
        assert admin.post("/policies/1/activate").json()["active"] == v1
        rolled = _scan(live, "adult", face_image)
        assert rolled["decision"]["version"] == v1
        assert rolled["decision"]["outcome"] == first["decision"]["outcome"]
        assert admin.post("/policies/doesnotexist/activate").status_code == 404

    events = [
        r[0]
        for r in store.query("SELECT event FROM audit_log WHERE event LIKE 'policy.%' ORDER BY seq")
    ]
    # v1 saved + activated, v2 saved, shadow on, shadow off, activate v2, roll back to v1.
    assert events.count("policy.version_saved") == 2
    assert events.count("policy.state_changed") == 5
    assert store.verify_audit().ok
