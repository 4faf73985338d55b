"""Held uploads of real people: a photorealistic face that is no consenting cameo goes to a human.

First the realism check itself on the shared fixtures with the real face
detectors: real people in faces/ and videos/ against the characters/
cartoons, posterised (flat-colour) versions of real faces, and the animated
videos -- including what it gets wrong (documented in
``detectors/faces/realism.py``). Then the whole path on a live server: an
upload or remix source showing a stranger is held in the ``real_people``
queue; cartoons and scenes without people are published; the uploader's
own cameo and a consenting cameo are not held; the uploader is told why in
words, a moderator sees the face track.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

import detectors  # noqa: F401  (import hook before any model library)
from detectors.faces import DEFAULT_DETECTOR, build_detector
from detectors.faces.realism import FLAT_LIMIT, face_realism, flat_fraction, judge
from detectors.faces.tracking import track_faces
from pipeline.answers import REASON_TEXT
from pipeline.media import iter_frames, load_image
from tests.conftest import LiveServer, start_live_server
from tests.likeness.conftest import D3_CHALLENGE

pytestmark = pytest.mark.slow

REAL_STILLS = [
    "deepface/img1.jpg",
    "deepface/img5.jpg",
    "deepface/img26.jpg",
    "deepface/img59.jpg",  # the weakest single face dlib finds (score 0.35)
    "deepface/couple.jpg",
    "deepface/selfie-many-people.jpg",
    "face_recognition/obama_and_biden.jpg",
    "face_recognition/kit_with_rose.jpg",
    "face_recognition/obama-240p.jpg",
    "insightface/t1.jpg",
]


def posterise(rgb: np.ndarray, colours: int = 6) -> np.ndarray:
    """A flat-colour cartoon of a photo: k-means colours, smoothed fills, dark outlines."""
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(pixels, colours, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    flat = centres.astype(np.uint8)[labels.flatten()].reshape(rgb.shape)
    flat = cv2.medianBlur(flat, 7)
    grey = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 7)
    edges = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    return np.where(edges[..., None] == 0, 0, flat).astype(np.uint8)


def _png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def hog(test_models_dir: Path) -> Any:
    return build_detector("dlib-hog", test_models_dir, 1)


@pytest.fixture(scope="module")
def yunet(test_models_dir: Path) -> Any:
    return build_detector("yunet", test_models_dir, 1)


# -- the realism check on the fixtures ---------------------------------------------------------


@pytest.mark.parametrize("name", REAL_STILLS)
def test_real_faces_in_photos_are_photorealistic(hog: Any, fixtures_dir: Path, name: str) -> None:
    rgb = load_image(fixtures_dir / "faces" / name)
    faces = hog.detect(rgb)
    assert faces, name
    for face in faces:
        verdict = face_realism(rgb, face, hog.info.model_id)
        assert verdict.photorealistic, (name, verdict)
        assert verdict.flat_fraction is None or verdict.flat_fraction < FLAT_LIMIT


def test_cartoon_characters(hog: Any, yunet: Any, fixtures_dir: Path) -> None:
    """dlib HOG finds no face in any character; YuNet's few cartoon "faces" are unsure and held.

    Holding every face YuNet is unsure of (so no small or blurred real face is
    published unheld) sends these to review: the measured cost of the safe
    side (``python -m bench.realism``: 3 drawn faces, all under the cut).
    """
    images = sorted((fixtures_dir / "characters").rglob("*.png")) + sorted(
        (fixtures_dir / "characters").rglob("*.jpg")
    )
    assert len(images) >= 15
    yunet_found = 0
    for path in images:
        rgb = load_image(path)
        assert hog.detect(rgb) == [], path.name
        for face in yunet.detect(rgb):
            yunet_found += 1
            verdict = face_realism(rgb, face, yunet.info.model_id)
            assert not verdict.confident, (path.name, verdict)
            assert verdict.photorealistic, (path.name, verdict)
    assert yunet_found >= 2  # the check is exercised, not vacuous


@pytest.mark.parametrize(
    "name", ["deepface/img1.jpg", "deepface/img5.jpg", "face_recognition/obama.jpg"]
)
def test_flat_colour_versions_of_real_faces_read_as_drawings(
    hog: Any, fixtures_dir: Path, name: str
) -> None:
    photo = load_image(fixtures_dir / "faces" / name)
    cartoon = posterise(photo)
    faces = hog.detect(cartoon)
    assert faces, "the detector still finds the posterised face"
    for face in faces:
        flat = flat_fraction(cartoon, face)
        assert flat is not None and flat >= FLAT_LIMIT
        assert not face_realism(cartoon, face, hog.info.model_id).photorealistic
    # The photo itself stays photographic under the same detector.
    assert all(face_realism(photo, f, hog.info.model_id).photorealistic for f in hog.detect(photo))


def _track_verdicts(path: Path, test_models_dir: Path) -> list[Any]:
    detector = build_detector(DEFAULT_DETECTOR, test_models_dir, 1, for_video=True)
    frames = list(iter_frames(path, every_s=0.5, max_side=1280))
    by_t = {f.t: f.rgb for f in frames}
    return [
        judge(
            max(s.face.score for s in track.samples),
            [flat_fraction(by_t[s.t], s.face) for s in track.samples[:8]],
            detector.info.model_id,
        )
        for track in track_faces(frames, detector, None)
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("liveportrait_d3_woman_talking.mp4", True),
        ("liveportrait_s18_woman.mp4", True),
        # Documented misses (realism.py): painterly and CG faces are not flat, and YuNet
        # finds a few unsure "faces" in Big Buck Bunny, so they are held for a human.
        # If this starts passing, update the documentation.
        ("bbb_bunny_720p_seg49-51.mp4", True),
        ("musetalk_yongen_anime.mp4", True),
        ("sintel_trailer_clip_720p.mp4", True),
    ],
)
def test_video_tracks(
    fixtures_dir: Path, test_models_dir: Path, name: str, expected: bool | None
) -> None:
    verdicts = _track_verdicts(fixtures_dir / "videos" / name, test_models_dir)
    if expected is None:
        assert verdicts == []
    else:
        assert verdicts and any(v.photorealistic == expected for v in verdicts), verdicts


# -- the whole path on a live server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_live_server(tmp_path_factory.mktemp("unknown-faces") / "data")


def _post(client: httpx.Client, url: str, name: str, data: bytes, **form: str) -> dict[str, Any]:
    r = client.post(url, files={"file": (name, data)}, data=form)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _upload(live: LiveServer, who: str, path: Path, **form: str) -> dict[str, Any]:
    with live.client(who) as client:
        return _post(client, "/clips", path.name, path.read_bytes(), **form)


def _staff_signals(live: LiveServer, clip_id: str) -> list[dict[str, Any]]:
    with live.client("moderator") as mod:
        decisions = mod.get(f"/clips/{clip_id}/decisions").json()["decisions"]
    return decisions[0]["signals"]  # type: ignore[no-any-return]


def test_a_strangers_photo_is_held_for_the_real_people_queue(
    live: LiveServer, fixtures_dir: Path
) -> None:
    doc = _upload(live, "adult", fixtures_dir / "faces" / "deepface" / "img5.jpg", prompt="hi")
    assert doc["status"] == "queued" and doc["queued"], doc
    decision = doc["decision"]
    assert decision["outcome"] == "review"
    assert "unknown_real_person" in decision["reason_codes"]
    assert REASON_TEXT["unknown_real_person"] in decision["reasons"]
    # The uploader gets no evidence (the rule's name, yes; no signal, score or box).
    text = str(doc)
    for secret in ("likeness.unknown_face", "flat_fraction", "'box'", "photorealistic"):
        assert secret not in text, secret
    with live.client("moderator") as mod:
        items = mod.get("/queues/real_people").json()["items"]
    item = next(i for i in items if i["clip_id"] == doc["clip_id"])
    assert item["priority"] == 35
    rules = {r["id"]: r for r in item["evidence"]["decision"]["rules"]}
    assert "unknown_face_upload_review" in rules
    faces = [s for s in item["evidence"]["signals"] if s["kind"] == "likeness.unknown_face"]
    assert len(faces) == 1 and faces[0]["photorealistic"] is True
    assert faces[0]["detector"] == "yunet-2023mar" and faces[0]["explanation"]["method"]
    assert faces[0]["flat_fraction"] < FLAT_LIMIT and len(faces[0]["box"]) == 4


def test_a_group_photo_is_held_with_a_track_per_face(live: LiveServer, fixtures_dir: Path) -> None:
    doc = _upload(live, "adult", fixtures_dir / "faces" / "face_recognition" / "two_people.jpg")
    assert doc["status"] == "queued", doc
    faces = [
        s for s in _staff_signals(live, doc["clip_id"]) if s["kind"] == "likeness.unknown_face"
    ]
    assert len(faces) == 2 and all(f["photorealistic"] for f in faces)


@pytest.mark.parametrize(
    "relative",
    ["characters/go_gopher/gophercolor.png", "characters/tux/tux_speech.png"],
)
def test_cartoons_without_faces_are_published(
    live: LiveServer, fixtures_dir: Path, relative: str
) -> None:
    doc = _upload(live, "adult", fixtures_dir / relative)
    assert doc["status"] == "published", doc
    assert "unknown_real_person" not in doc["decision"]["reason_codes"]


@pytest.mark.parametrize(
    "relative",
    [
        "characters/peppercarrot/peppercarrot_icon.png",
        "characters/big_buck_bunny/bbb_bunny_02.jpg",
        "videos/bbb_bunny_720p_seg49-51.mp4",
    ],
)
def test_cartoons_the_detector_is_unsure_of_go_to_review(
    live: LiveServer, fixtures_dir: Path, relative: str
) -> None:
    """YuNet (the default) finds unsure "faces" here; unsure faces are held, not cleared.

    The price of never publishing a small or blurred real face unheld
    (``detectors/faces/realism.py``): if a better realism cue clears these,
    move them back to the published cases.
    """
    doc = _upload(live, "adult", fixtures_dir / relative)
    assert doc["status"] == "queued", doc
    assert "unknown_real_person" in doc["decision"]["reason_codes"]
    faces = [
        s for s in _staff_signals(live, doc["clip_id"]) if s["kind"] == "likeness.unknown_face"
    ]
    assert faces and all(f["photorealistic"] for f in faces)
    assert any(f["score"] < f["min_score"] for f in faces)


def test_a_flat_colour_cartoon_of_a_face_is_published(live: LiveServer, fixtures_dir: Path) -> None:
    cartoon = posterise(load_image(fixtures_dir / "faces" / "deepface" / "img5.jpg"))
    with live.client("adult") as client:
        doc = _post(client, "/clips", "cartoon.png", _png(cartoon))
    assert doc["status"] == "published", doc
    faces = [
        s for s in _staff_signals(live, doc["clip_id"]) if s["kind"] == "likeness.unknown_face"
    ]
    assert faces and not any(f["photorealistic"] for f in faces)  # found, judged a drawing


def test_a_remix_source_showing_a_stranger_is_held(live: LiveServer, fixtures_dir: Path) -> None:
    parent = _upload(live, "adult", fixtures_dir / "characters" / "tux" / "tux_boot.png")
    assert parent["status"] == "published", parent
    photo = fixtures_dir / "faces" / "deepface" / "img1.jpg"
    with live.client("guardian") as client:
        doc = _post(client, f"/clips/{parent['clip_id']}/remix", photo.name, photo.read_bytes())
    assert doc["stage"] == "remix" and doc["status"] == "queued", doc
    assert "unknown_real_person" in doc["decision"]["reason_codes"]


def test_own_cameo_and_consenting_cameo_are_not_held(
    live: LiveServer, clips: dict[str, Path]
) -> None:
    """The uploader's own face (their cameo) passes; so does a cameo whose owner consented."""
    likeness = live.services.pipeline.likeness
    adult = live.users["adult"]
    enrolled = likeness.enroll(adult, clips["recording"], D3_CHALLENGE)
    assert enrolled.status == "active", enrolled.reason

    own = _upload(live, "adult", clips["rest_a"], prompt="me, talking")
    assert own["status"] == "published", own
    signals = _staff_signals(live, own["clip_id"])
    matches = [s for s in signals if s["kind"] == "likeness.match"]
    assert matches and matches[0]["cameo_id"] == enrolled.id and matches[0]["consent"] == "granted"
    assert not [s for s in signals if s["kind"] == "likeness.unknown_face"]

    # Someone else uploading the same person: held by the consent rules, not as a stranger.
    other = _upload(live, "guardian", clips["rest_b"])
    assert other["status"] == "blocked", other
    assert "cameo_no_consent" in other["decision"]["reason_codes"]
    assert "unknown_real_person" not in other["decision"]["reason_codes"]
    # Once the owner lets everyone use it, the same upload is published.
    likeness.set_permission(adult, "everyone")
    allowed = _upload(live, "guardian", clips["rest_b"])
    assert allowed["status"] == "published", allowed
