"""The cameo and likeness routes on a real server, and the CLI contract, with real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.answers import REASON_TEXT
from tests.conftest import FIXTURES, REPO, TEST_MODELS, LiveServer


def test_cameo_routes(live_server: LiveServer, clips: dict[str, Path]) -> None:
    live = live_server
    with live.client("adult") as adult, live.client("teen") as teen:
        steps = adult.post("/cameos/challenge").json()["steps"]
        assert len(steps) == 3
        with clips["still"].open("rb") as fh:
            r = adult.post("/cameos", files={"recording": ("me.mp4", fh, "video/mp4")})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["code"]) == ("refused", "no_motion")
        assert r.json()["reason"]
        me = adult.get("/cameos/me").json()
        assert me["cameo"] is None and me["last_attempt"]["status"] == "refused"
        # No active cameo: nothing to change, a clear 404, never a 500.
        assert (
            adult.put("/cameos/me/permission", json={"permission": "everyone"}).status_code == 404
        )
        assert adult.post("/cameos/me/revoke").status_code == 404
        bad = adult.put("/cameos/me/permission", json={"permission": "the-world"})
        assert bad.status_code == 422
        consent = teen.get("/cameos/adult/consent").json()
        assert consent == {
            "allowed": False,
            "consent": "denied",
            "reason": "@adult has no cameo",
            "cameo_id": None,
        }
        assert teen.get("/cameos/nobody-here/consent").status_code == 404
        assert adult.get("/cameos/me/clips").json() == {"clips": []}
    with live.client("admin") as admin, live.client("moderator") as mod:
        with clips["s18_crop"].open("rb") as fh:
            r = admin.post(
                "/likeness/protected",
                data={"name": "A Public Figure"},
                files={"photos": ("p.png", fh, "image/png")},
            )
        assert r.status_code == 200, r.text
        assert r.json()["embeddings"] == 1
        listed = mod.get("/likeness/protected").json()["protected"]
        assert [p["name"] for p in listed] == ["A Public Figure"]
        with clips["s18_crop"].open("rb") as fh:
            found = mod.post("/likeness/match", files={"file": ("x.png", fh, "image/png")}).json()
        assert [(m["kind"], m["name"]) for m in found["matches"]] == [
            ("protected", "A Public Figure")
        ]
        garbage = mod.post(
            "/likeness/match", files={"file": ("x.png", b"not an image", "image/png")}
        )
        assert garbage.status_code == 422


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GREENROOM_MODELS_DIR": str(TEST_MODELS),
        "GREENROOM_FIXTURES_DIR": str(FIXTURES),
        "GREENROOM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "greenroom", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def test_cli_contract(tmp_path: Path, clips: dict[str, Path]) -> None:
    data = str(tmp_path / "data")
    assert _cli("init", "--data-dir", data).returncode == 0
    assert (
        _cli(
            "user",
            "add",
            "dana",
            "--role",
            "user",
            "--birth-year",
            "1990",
            "--data-dir",
            data,
            "--json",
        ).returncode
        == 0
    )
    out = _cli(
        "likeness",
        "protect",
        "--name",
        "A Public Figure",
        str(clips["s18_crop"]),
        "--data-dir",
        data,
        "--json",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) >= {"id", "name", "embeddings"} and doc["embeddings"] == 1
    out = _cli("likeness", "match", str(clips["s18_crop"]), "--data-dir", data, "--json")
    matches = json.loads(out.stdout)["matches"]
    assert [(m["kind"], m["id"]) for m in matches] == [("protected", doc["id"])]
    assert set(matches[0]) >= {"kind", "id", "name", "similarity", "start_s", "end_s"}
    out = _cli(
        "cameo",
        "enroll",
        "--user",
        "dana",
        str(clips["still"]),
        "--challenge",
        "left,up",
        "--data-dir",
        data,
        "--json",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    enrolled = json.loads(out.stdout)
    assert set(enrolled) >= {"id", "status", "reason"} and enrolled["status"] == "refused"
    listed = json.loads(
        _cli("cameo", "list", "--user", "dana", "--data-dir", data, "--json").stdout
    )
    assert listed["cameos"][0]["status"] == "refused"
    missing = _cli("likeness", "match", "/no/such.mp4", "--data-dir", data, "--json")
    assert missing.returncode == 2 and "error" in json.loads(missing.stdout)
    no_cameo = _cli("cameo", "revoke", "--user", "dana", "--data-dir", data, "--json")
    assert no_cameo.returncode == 2 and "no cameo" in json.loads(no_cameo.stdout)["error"]
    bad = _cli(
        "cameo",
        "enroll",
        "--user",
        "dana",
        str(clips["still"]),
        "--challenge",
        "sideways",
        "--data-dir",
        data,
        "--json",
    )
    assert bad.returncode == 2


def test_prompt_gate_blocks_an_adult_non_mutual_asking_for_a_teens_cameo(
    live_server: LiveServer,
) -> None:
    """The teen cameo rule (ctx.teens) through the API: blocked, with a reason that hides the age."""
    from store.cameos import Cameos

    live = live_server
    svc = live.services
    teen, adult = live.users["teen"], live.users["adult"]
    with svc.store.transaction() as tx:  # an enrolled cameo; consent needs no recording
        Cameos(svc.store).create(
            tx,
            teen.id,
            status="active",
            permission="mutuals",
            reason=None,
            recording_sha256=None,
            challenge=["left"],
        )
    body = {"prompt": "two friends wave at the camera", "cameos": ["teen"]}
    with live.client("adult") as client:
        doc = client.post("/prompt-check", json=body).json()
    assert doc["decision"]["outcome"] == "block", doc
    assert "cameo_no_consent_prompt" in [r["id"] for r in doc["decision"]["rules"]]
    # The requester gets the rule in plain words and no evidence (signals, explanation).
    assert "cameo_no_consent" in doc["decision"]["reason_codes"]
    assert REASON_TEXT["cameo_no_consent"] in doc["decision"]["reasons"]
    assert doc["decision"]["next"]["appeal"]["allowed"] is True
    assert "signals" not in doc and "explanation" not in doc["decision"]
    text = json.dumps(doc)
    assert "teen" not in text  # the owner's age is not disclosed to the requester
    assert "mutual" not in text  # nor the owner's settings: that is staff evidence
    # Staff find the consent reason recorded with the decision, and it hides the age too.
    recorded = svc.store.query(
        "SELECT g.data FROM decisions d JOIN signals g ON g.scan_id = d.scan_id WHERE d.id = ?",
        [doc["decision_id"]],
    )
    evidence = json.dumps([json.loads(row[0]) for row in recorded])
    assert "this cameo is limited to mutual followers" in evidence
    assert "teen's" not in evidence
    # Mutuals: the same request passes the teen rule (the cameo allows mutuals).
    with svc.store.transaction() as tx:
        svc.users.follow(tx, teen.id, adult.id)
        svc.users.follow(tx, adult.id, teen.id)
    with live.client("adult") as client:
        doc = client.post("/prompt-check", json=body).json()
    assert doc["decision"]["outcome"] != "block" or "cameo_no_consent_prompt" not in [
        r["id"] for r in doc["decision"]["rules"]
    ], doc
