"""YuNet as the default (issue 15): unsure faces are held, small faces in video are found.

- The unknown-real-face check (``detectors/faces/realism.py``) holds a face
  YuNet scores under its confidence cut unless it is flat colour fills: the
  fixtures' low-confidence real faces (small and blurred people in group
  photos) must all be held. ``python -m bench.realism`` prints the counts.
- The small-face pass (``YunetDetector.detect_small``, run by
  ``track_faces`` on faceless frames): a 720p frame with a face too small for
  the 640-pixel working size is found at the keyframe's resolution, and on the
  stage clip (``tests.likeness.clips.stage``) a man standing small for the
  first 3 s is tracked from the start, not from when he is seen close.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.faces import build_detector
from detectors.faces.realism import FLAT_LIMIT, face_realism, judge, min_score
from detectors.faces.tracking import track_faces
from detectors.faces.types import FaceDetector
from pipeline.media import iter_frames, load_image

YUNET = "yunet-2023mar"
# Stills in shared/fixtures/faces with real people YuNet scores under its cut
# (bench.realism lists them all: 12 faces in 6 photos).
UNSURE_REAL = [
    "deepface/img31.jpg",
    "deepface/img54.jpg",
    "deepface/img62.jpg",
    "deepface/selfie-many-people.jpg",
]


@pytest.fixture(scope="module")
def yunet() -> FaceDetector:
    return build_detector("yunet", None, threads=1, fallback=False)


@pytest.fixture(scope="module")
def yunet_video() -> FaceDetector:
    return build_detector("yunet", None, threads=1, for_video=True, fallback=False)


def test_an_unsure_face_is_held_unless_it_is_flat_fills() -> None:
    cut = min_score(YUNET)
    assert cut > 0.6  # YuNet reports faces from 0.6: there is an unsure band to hold
    unsure = judge(cut - 0.1, [0.02], YUNET)
    assert unsure.photorealistic and not unsure.confident
    assert "not confident" in unsure.why
    assert judge(cut - 0.1, [None], YUNET).photorealistic  # too small to judge: held too
    drawing = judge(cut - 0.1, [FLAT_LIMIT + 0.05], YUNET)
    assert not drawing.photorealistic and not drawing.confident
    sure = judge(cut + 0.05, [0.02], YUNET)
    assert sure.photorealistic and sure.confident
    assert sure.to_dict()["confident"] is True and unsure.to_dict()["confident"] is False


@pytest.mark.slow
@pytest.mark.parametrize("name", UNSURE_REAL)
def test_real_faces_yunet_is_unsure_of_are_held(
    yunet: FaceDetector, fixtures_dir: Path, name: str
) -> None:
    rgb = load_image(fixtures_dir / "faces" / name)
    faces = yunet.detect(rgb)
    unsure = [f for f in faces if f.score < min_score(YUNET)]
    assert unsure, f"YuNet is sure of every face in {name} now: pick another photo"
    for face in faces:
        verdict = face_realism(rgb, face, YUNET)
        assert verdict.photorealistic, (name, face.score, verdict)


def _small_face_frame(fixtures_dir: Path, side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A faceless 720p Sintel frame with one UTKFace crop shrunk to ``side`` px pasted in."""
    backdrop = next(
        iter_frames(fixtures_dir / "videos" / "sintel_trailer_clip_720p.mp4", every_s=1.0)
    ).rgb
    canvas = cv2.resize(backdrop, (1280, 720), interpolation=cv2.INTER_AREA)
    crop = next(iter(sorted((fixtures_dir / "faces" / "utkface_age").glob("*.jpg"))))
    small = cv2.resize(load_image(crop), (side, side), interpolation=cv2.INTER_AREA)
    x0, y0 = 1280 - 250 - side, 720 - 60 - side
    canvas[y0 : y0 + side, x0 : x0 + side] = small
    return canvas, (x0, y0)


@pytest.mark.slow
def test_the_small_face_pass_finds_what_the_working_size_misses(
    yunet_video: FaceDetector, fixtures_dir: Path
) -> None:
    frame, (x0, y0) = _small_face_frame(fixtures_dir, 28)  # a face about 15 px wide
    assert yunet_video.detect(frame) == []
    (face,) = yunet_video.detect_small(frame)
    assert x0 <= (face.box[0] + face.box[2]) / 2 <= x0 + 28
    assert y0 <= (face.box[1] + face.box[3]) / 2 <= y0 + 28
    # Photo detectors have no second pass; neither has a frame at the working size.
    assert build_detector("dlib-hog", None, threads=1, for_video=True).detect_small(frame) == []
    assert yunet_video.detect_small(cv2.resize(frame, (640, 360))) == []


@pytest.mark.slow
def test_a_small_man_on_stage_is_tracked_from_the_start(
    yunet_video: FaceDetector, fixtures_dir: Path, tmp_path: Path
) -> None:
    from tests.likeness.clips import stage

    videos = fixtures_dir / "videos"
    clip = stage(
        tmp_path / "stage.mp4",
        videos / "liveportrait_d13_man_selfie_talking.mp4",
        videos / "sintel_trailer_clip_720p.mp4",
        person_height=60,  # his face about 17 px wide in 720p: under YuNet's reach at 640 px
    )
    frames = list(iter_frames(clip, every_s=0.5, max_side=1280))
    without = track_faces(frames, yunet_video, None, small_every_s=None)
    assert min(t.start_s for t in without) >= 2.9  # found only once he is seen close
    tracks = track_faces(frames, yunet_video, None)
    small = [t for t in tracks if t.start_s < 1.0]
    assert small, [t.to_dict() for t in tracks]
    # Once found, he is followed on every sampled frame while small (not every other one).
    assert small[0].end_s >= 2.4 and len(small[0].samples) >= 5
    assert max(s.face.width for s in small[0].samples) < 40
