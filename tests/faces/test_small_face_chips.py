"""Small faces are framed for dlib's ResNet from dlib's own points (issue 12, ``DlibLandmarkRefiner``).

On the stage clip a man stands small (face about 36 px) for 3 s. YuNet finds
him, but its points on so few pixels frame the 150 px chip a few pixels off,
and his track scored under the track threshold against his own photo; the
``face_recognition`` library, which places dlib's 5-point predictor on the
box, named him from the first frame. These tests hold the refinement to that.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.faces import build_detector
from detectors.faces.dlib_backend import (
    REFINE_BELOW_PX,
    DlibLandmarkRefiner,
    DlibResnetEmbedder,
)
from detectors.faces.dlib_resnet_torch import TorchDlibResnetEmbedder
from detectors.faces.thresholds import track_threshold_for
from detectors.faces.tracking import track_faces
from detectors.faces.types import DetectedFace, FaceDetector
from pipeline.media import iter_frames

MAN = "liveportrait_d13_man_selfie_talking.mp4"


@pytest.fixture(scope="module")
def yunet_video() -> FaceDetector:
    return build_detector("yunet", None, threads=1, for_video=True, fallback=False)


@pytest.fixture(scope="module")
def stage_frames(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list:
    from tests.likeness.clips import stage

    videos = fixtures_dir / "videos"
    clip = stage(
        tmp_path_factory.mktemp("stage") / "stage_90.mp4",
        videos / MAN,
        videos / "sintel_trailer_clip_720p.mp4",
        person_height=90,
    )
    return list(iter_frames(clip, every_s=0.5, max_side=1280))


def _small_track_similarity(
    frames: list, detector: FaceDetector, embedder: TorchDlibResnetEmbedder, owner: np.ndarray
) -> float:
    tracks = track_faces(frames, detector, embedder)
    (small,) = [t for t in tracks if t.start_s < 1.0]
    assert max(s.face.width for s in small.samples) < REFINE_BELOW_PX
    mean = small.embeddings.mean(axis=0)
    return float(mean @ owner / np.linalg.norm(mean))


@pytest.mark.slow
def test_a_small_man_on_stage_is_named_from_the_start(
    yunet_video: FaceDetector, stage_frames: list, fixtures_dir: Path
) -> None:
    from tests.likeness.clips import frame_at

    refined = TorchDlibResnetEmbedder()
    plain = TorchDlibResnetEmbedder(refine_landmarks=False)
    photo = frame_at(fixtures_dir / "videos" / MAN, 5.0)
    (face,) = yunet_video.detect(photo)
    assert face.width >= REFINE_BELOW_PX  # the photo's face is big: both frame it alike
    owner = refined.embed(photo, [face])[0]
    assert np.allclose(owner, plain.embed(photo, [face])[0])

    threshold = track_threshold_for(refined.info.model_id).value
    with_dlib_points = _small_track_similarity(stage_frames, yunet_video, refined, owner)
    with_yunet_points = _small_track_similarity(stage_frames, yunet_video, plain, owner)
    assert with_dlib_points >= threshold, (with_dlib_points, with_yunet_points)
    assert with_dlib_points > with_yunet_points + 0.005


@pytest.mark.slow
def test_dlib_and_torch_runtimes_frame_small_faces_alike(
    yunet_video: FaceDetector, stage_frames: list
) -> None:
    frame = stage_frames[0].rgb
    faces = yunet_video.detect(frame) or yunet_video.detect_small(frame)
    assert faces and max(faces[0].width, faces[0].height) < REFINE_BELOW_PX
    torch_chips = TorchDlibResnetEmbedder().chips(frame, faces)
    dlib_chips = DlibResnetEmbedder().chips(frame, faces)
    assert all(np.array_equal(a, b) for a, b in zip(torch_chips, dlib_chips, strict=True))
    unrefined = TorchDlibResnetEmbedder(refine_landmarks=False).chips(frame, faces)
    assert not np.array_equal(torch_chips[0], unrefined[0])


def test_refinement_leaves_big_faces_and_points_dlib_disagrees_with(
    yunet_video: FaceDetector, stage_frames: list
) -> None:
    refiner = DlibLandmarkRefiner(threads=1)
    frame = stage_frames[0].rgb
    faces = yunet_video.detect(frame) or yunet_video.detect_small(frame)
    (small,) = faces
    (moved,) = refiner.refine(frame, [small])
    assert not np.array_equal(moved.landmarks, small.landmarks)
    assert moved.box == small.box and moved.score == small.score
    # dlib's points stay near the detector's: within half the eye distance on average.
    eye_gap = float(np.linalg.norm(small.landmarks[0] - small.landmarks[1]))
    assert np.mean(np.linalg.norm(moved.landmarks - small.landmarks, axis=1)) <= 0.5 * eye_gap

    # A big face keeps its detector's points untouched.
    big = DetectedFace(
        box=(100.0, 100.0, 100.0 + REFINE_BELOW_PX, 100.0 + REFINE_BELOW_PX),
        score=0.9,
        landmarks=small.landmarks,
    )
    assert refiner.refine(frame, [big])[0] is big
    # Points far from where dlib puts them (a bad box, another detector's
    # convention) are kept rather than swapped for dlib's guess.
    far = DetectedFace(
        box=small.box, score=small.score, landmarks=small.landmarks + np.float32([0.0, 40.0])
    )
    assert np.array_equal(refiner.refine(frame, [far])[0].landmarks, far.landmarks)
