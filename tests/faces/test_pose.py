"""Head pose from each backend's own landmarks: dlib HOG's raw points move with the head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.faces import build_detector
from detectors.faces.pose import DLIB5, INSIGHTFACE5, pose_from_dlib5, pose_from_insightface5
from detectors.faces.types import ARCFACE_TEMPLATE_112, FaceDetector, largest_face
from pipeline.media import iter_frames


def test_pose_signs_and_units_on_synthetic_points() -> None:
    still = pose_from_insightface5(ARCFACE_TEMPLATE_112)
    assert abs(still.yaw) < 0.01 and still.method == INSIGHTFACE5
    to_their_left = ARCFACE_TEMPLATE_112.copy()
    to_their_left[2, 0] += 10  # nose towards the image's right
    nod_down = ARCFACE_TEMPLATE_112.copy()
    nod_down[2, 1] += 10
    assert pose_from_insightface5(to_their_left).yaw > still.yaw + 0.05
    assert pose_from_insightface5(nod_down).pitch > still.pitch + 0.05
    # dlib order: viewer-right eye corners, viewer-left eye corners, nose base.
    dlib5 = np.array([[80, 50], [66, 50], [30, 50], [44, 50], [55, 80]], np.float32)
    pose = pose_from_dlib5(dlib5)
    assert pose.method == DLIB5 and abs(pose.yaw) < 1e-6 and pose.pitch > 0.5
    assert pose_from_dlib5(np.zeros((5, 2))).yaw == 0.0  # degenerate points: no crash


@pytest.fixture(scope="module")
def d3_frames(fixtures_dir: Path) -> list:  # type: ignore[type-arg]
    video = fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4"
    return list(iter_frames(video, every_s=0.2, max_side=640))


def _yaws(detector: FaceDetector, frames: list) -> np.ndarray:  # type: ignore[type-arg]
    out = []
    for frame in frames:
        face = largest_face(detector.detect(frame.rgb))
        out.append(np.nan if face is None else face.head_pose.yaw)
    return np.asarray(out)


def test_dlib_hog_pose_follows_the_head_turns(d3_frames: list) -> None:  # type: ignore[type-arg]
    """The regression this pins: dlib's template-fit landmarks gave frontalness 1.0 always."""
    from detectors.faces.pose import frontalness

    detector = build_detector("dlib-hog", None, threads=1, for_video=True)
    face = largest_face(detector.detect(d3_frames[0].rgb))
    assert face is not None and face.pose is not None and face.pose.method == DLIB5
    yaws = _yaws(detector, d3_frames)
    dev = np.abs(yaws - np.nanmedian(yaws))
    assert np.nanmax(dev) >= 0.10  # d3 turns its head (about 0.13 on this scale)
    assert np.nanpercentile(dev, 50) < 0.05  # and mostly looks ahead
    quality = [frontalness(pose_from_dlib5_of(detector, f.rgb)) for f in d3_frames[:5]]
    assert all(q < 1.0 for q in quality)  # a real measurement, not the template's 1.0


def pose_from_dlib5_of(detector: FaceDetector, rgb: np.ndarray):  # type: ignore[no-untyped-def]
    face = largest_face(detector.detect(rgb))
    assert face is not None
    return face.head_pose


def test_yunet_pose_turns_the_same_way_as_dlib(
    d3_frames: list,  # type: ignore[type-arg]
    detectors_by_name: dict[str, FaceDetector],
) -> None:
    dlib_yaw = _yaws(build_detector("dlib-hog", None, threads=1, for_video=True), d3_frames)
    yunet_yaw = _yaws(detectors_by_name["yunet"], d3_frames)
    dlib_dev = dlib_yaw - np.nanmedian(dlib_yaw)
    yunet_dev = yunet_yaw - np.nanmedian(yunet_yaw)
    both = np.isfinite(dlib_dev) & np.isfinite(yunet_dev)
    assert both.sum() >= 0.8 * len(d3_frames)
    peak = int(np.argmax(np.where(both, np.abs(dlib_dev), -1.0)))
    assert abs(dlib_dev[peak]) >= 0.08
    assert np.sign(yunet_dev[peak]) == np.sign(dlib_dev[peak])
    assert abs(yunet_dev[peak]) >= 0.5 * abs(dlib_dev[peak])  # same scale, roughly
