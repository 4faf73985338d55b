"""The generate flow through the real server: gate, RANDOM-WEIGHT generator, watermark, C2PA, own output.

One module-scoped server (``gen_server``) generates with the tiny
random-weight diffusers model; everything else is real: the gate and the
default policy, c2pa signing with the data directory's development CA, the
blob store, the own-output fingerprint index in DuckDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.fingerprint import OwnOutputIndex, keyframe_hashes
from detectors.provenance import verify
from generator.signing import TRAINED_ALGORITHMIC_MEDIA
from generator.video import DiffusersTextToVideo
from generator.watermark import watermark_box, watermark_frame
from tests.conftest import LiveServer
from tests.generate.conftest import SIZE, dev_anchors
from tests.provenance.conftest import remux


@pytest.fixture(scope="module")
def clip(gen_server: LiveServer) -> dict[str, Any]:
    with gen_server.client("adult") as c:
        r = c.post("/generate", json={"prompt": "a lighthouse in a storm", "seconds": 1.0})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def signed_mp4(gen_server: LiveServer, clip: dict[str, Any], tmp_path_factory: Any) -> Path:
    with gen_server.client("adult") as c:
        r = c.get(f"/clips/{clip['clip_id']}/media")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    path.write_bytes(r.content)
    return path


def test_generate_publishes_a_labelled_signed_clip(clip: dict[str, Any]) -> None:
    assert clip["clip_id"] and clip["status"] == "published"
    assert clip["decision"]["outcome"] in ("allow", "label")
    assert clip["decision"]["id"] == clip["decision_id"]
    assert clip["prompt_decision"]["stage"] == "prompt"
    assert clip["random_weights"] is True and "RANDOM" in clip["model"]
    assert clip["manifest_id"].startswith("urn:")
    assert clip["signing"]["development_certificate"] is True
    assert "cert" not in clip["signing"]  # no server paths to clients
    assert clip["frames"] == 8


def test_signed_mp4_verifies_trusted_with_the_dev_ca(
    gen_server: LiveServer, clip: dict[str, Any], signed_mp4: Path
) -> None:
    trusted = verify(signed_mp4, dev_anchors(gen_server))
    assert trusted.state == "trusted", trusted.reason
    assert trusted.manifest_id == clip["manifest_id"]
    assert trusted.ai_generated is True
    assert trusted.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert trusted.generation is not None
    assert trusted.generation["decision_id"] == clip["decision_id"]
    assert trusted.generation["clip_id"] == clip["clip_id"]
    assert trusted.generation["model"] == clip["model"]
    untrusted = verify(signed_mp4, None)
    assert untrusted.state == "valid_untrusted" and untrusted.integrity == "valid"


def test_watermark_is_burned_in(
    clip: dict[str, Any], signed_mp4: Path, tiny_t2v: DiffusersTextToVideo
) -> None:
    import av

    # The generator is deterministic per seed: regenerate the unmarked frames.
    fps = 8.0
    raw = tiny_t2v.generate(
        "a lighthouse in a storm", seconds=1.0, fps=fps, width=SIZE, height=SIZE, seed=clip["seed"]
    )
    with av.open(str(signed_mp4)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(raw)
    for i in (0, len(raw) - 1):
        t = i / fps
        x0, y0, x1, y1 = watermark_box(t, SIZE, SIZE)
        got = decoded[i][y0:y1, x0:x1].astype(np.float32)
        marked = watermark_frame(raw[i], t)[y0:y1, x0:x1].astype(np.float32)
        unmarked = raw[i][y0:y1, x0:x1].astype(np.float32)
        err_marked = float(np.abs(got - marked).mean())
        err_unmarked = float(np.abs(got - unmarked).mean())
        # H.264 blurs, but the decoded pixels are the marked ones, not the raw ones.
        assert err_marked < err_unmarked / 2, (t, err_marked, err_unmarked)


def test_stripped_remux_is_recognised_as_own_output(
    gen_server: LiveServer, clip: dict[str, Any], signed_mp4: Path, tmp_path: Path
) -> None:
    stripped = remux(signed_mp4, tmp_path / "stripped.mp4")
    assert verify(stripped).state == "absent"  # the C2PA box did not survive
    with gen_server.client("teen") as c:
        r = c.post("/provenance/verify", files={"file": ("x.mp4", stripped.read_bytes())})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["state"] == "absent"
    assert report["own_output"] == clip["clip_id"]
    assert report["own_output_evidence"]["method"] == "pdq-keyframes"
    # The signed file itself: found by its sha256, and trusted only with the dev CA.
    with gen_server.client("teen") as c:
        r = c.post("/provenance/verify", files={"file": ("y.mp4", signed_mp4.read_bytes())})
    assert r.json()["own_output"] == clip["clip_id"]
    assert r.json()["own_output_evidence"]["method"] == "sha256"
    assert r.json()["state"] == "valid_untrusted"  # the server has no anchors configured


def test_gate_scan_of_a_stripped_copy_names_the_clip(
    gen_server: LiveServer, clip: dict[str, Any], signed_mp4: Path, tmp_path: Path
) -> None:
    stripped = remux(signed_mp4, tmp_path / "reupload.mp4")
    with gen_server.client("adult") as c:
        r = c.post("/scan", files={"file": ("reupload.mp4", stripped.read_bytes())})
    assert r.status_code == 200, r.text
    # The uploader is told the outcome, not the evidence.
    answer = r.json()
    assert "signals" not in answer and "explanation" not in answer["decision"]
    # A moderator sees the provenance signal that names the generated clip.
    with gen_server.client("moderator") as c:
        decisions = c.get(f"/clips/{answer['clip_id']}/decisions").json()["decisions"]
    assert [d["id"] for d in decisions] == [answer["decision_id"]]
    prov = [s for s in decisions[0]["signals"] if s["kind"] == "provenance.state"]
    assert len(prov) == 1
    assert prov[0]["own_output"] == clip["clip_id"]
    assert prov[0]["state"] == "absent"


def test_fingerprints_persist_and_fast_index_agrees_with_brute_force(
    gen_server: LiveServer, clip: dict[str, Any], signed_mp4: Path, tmp_path: Path
) -> None:
    ctx = gen_server.services.pipeline
    rows = ctx.store.query_dicts(
        "SELECT clip_id, kind, value, t, quality FROM clip_fingerprints WHERE clip_id = ?",
        [clip["clip_id"]],
    )
    assert {r["kind"] for r in rows} == {"sha256", "pdq"}
    assert all(r["quality"] is not None for r in rows if r["kind"] == "pdq")
    stripped = remux(signed_mp4, tmp_path / "again.mp4")
    frames = ctx.provenance.keyframes(stripped)
    hashes = keyframe_hashes(frames)
    all_rows = ctx.store.query_dicts(
        "SELECT clip_id, kind, value, t, quality FROM clip_fingerprints"
    )
    fast = OwnOutputIndex.from_rows(all_rows, backend="mih").lookup(None, hashes)
    brute = OwnOutputIndex.from_rows(all_rows, backend="brute").lookup(None, hashes)
    assert fast is not None and brute is not None
    assert (fast.clip_id, fast.score, fast.details["median_distance"]) == (
        brute.clip_id, brute.score, brute.details["median_distance"],
    )  # fmt: skip
    ctx.provenance.reload()  # from the table again, as after a restart
    again = ctx.provenance.lookup(frames)
    assert again is not None and again.clip_id == clip["clip_id"]


def test_remix_carries_the_parent_as_ingredient(
    gen_server: LiveServer, clip: dict[str, Any], tmp_path: Path
) -> None:
    with gen_server.client("teen") as c:
        r = c.post(
            "/generate",
            json={"prompt": "the lighthouse at dawn", "parent_clip_id": clip["clip_id"],
                  "seconds": 0.5},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        remix = r.json()
        assert remix["clip_id"] and remix["clip_id"] != clip["clip_id"]
        assert remix["parent_clip_id"] == clip["clip_id"]
        media = c.get(f"/clips/{remix['clip_id']}/media")
    assert media.status_code == 200
    path = tmp_path / "remix.mp4"
    path.write_bytes(media.content)
    report = verify(path, dev_anchors(gen_server))
    assert report.state == "trusted"
    assert report.generation is not None
    assert report.generation["parent_clip_id"] == clip["clip_id"]
    parents = [i for i in report.ingredients if i["clip_id"] == clip["clip_id"]]
    assert len(parents) == 1
    assert parents[0]["relationship"] == "inputTo"
    assert parents[0]["manifest_id"] == clip["manifest_id"]
    assert parents[0]["ai_generated"] is True


def test_media_access_and_bad_requests(gen_server: LiveServer, clip: dict[str, Any]) -> None:
    with gen_server.client("guardian") as c:
        # Published: any signed-in account may fetch it.
        assert c.get(f"/clips/{clip['clip_id']}/media").status_code == 200
        assert c.get("/clips/clip_doesnotexist/media").status_code == 404
        assert c.post("/generate", json={"prompt": ""}).status_code == 422
        assert c.post("/generate", json={"prompt": "x", "seconds": 60}).status_code == 422
        r = c.post("/generate", json={"prompt": "x", "parent_clip_id": "clip_nope"})
        assert r.status_code == 404
        r = c.post("/provenance/verify", files={"file": ("empty.mp4", b"")})
        assert r.status_code == 422
        r = c.post("/provenance/verify", files={"file": ("junk.jpg", b"not media at all")})
        assert r.status_code == 200 and r.json()["state"] == "unsupported"
        assert r.json()["own_output"] is None
    assert gen_server.client().get(f"/clips/{clip['clip_id']}/media").status_code == 401


def test_audit_chain_holds(gen_server: LiveServer, clip: dict[str, Any]) -> None:
    store = gen_server.services.store
    assert store.verify_audit().ok
    names = {r[0] for r in store.query("SELECT DISTINCT event FROM audit_log")}
    assert {"clip.signed", "clip.fingerprinted", "clip.status_changed"} <= names


def test_generate_as_a_durable_job(gen_server: LiveServer) -> None:
    from store.jobs import get_job

    with gen_server.client("adult") as c:
        r = c.post("/generate?wait=false", json={"prompt": "a kite over dunes", "seconds": 0.5})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    ctx = gen_server.services.pipeline
    # The test server runs without its lifespan worker: run one job here, as the worker would.
    worker = ctx.worker(worker_id="test-worker")
    assert worker.run_once() is True
    job = get_job(ctx.store, job_id)
    assert job.kind == "generate" and job.status == "done", job.last_error
    assert job.result is not None and job.result["status"] == "published"
    row = ctx.store.query("SELECT status, prompt FROM clips WHERE id = ?", [job.result["clip_id"]])
    assert row == [("published", "a kite over dunes")]
