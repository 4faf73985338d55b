"""Faces in video: tracks over sampled frames of real clips, a few good frames embedded per track."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorError
from detectors.faces import ARCFACE_TEMPLATE_112, build_detector, threshold_for
from detectors.faces.pose import frontalness, pose_from_insightface5
from detectors.faces.tracking import track_faces
from detectors.faces.types import FaceEmbedder
from pipeline.media import iter_frames, load_image, probe_video


@pytest.fixture(scope="module")
def video_detector(test_models_dir: Path):  # type: ignore[no-untyped-def]
    return build_detector("dlib-hog", test_models_dir, threads=1, for_video=True)


def test_talking_head_is_one_track_spanning_the_clip(
    fixtures_dir: Path,
    video_detector,
    dlib_embedder: FaceEmbedder,  # type: ignore[no-untyped-def]
) -> None:
    video = fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4"
    duration = probe_video(video).duration_s
    tracks = track_faces(
        iter_frames(video, every_s=0.5), video_detector, dlib_embedder, per_track=3
    )
    assert len(tracks) == 1, [t.to_dict() for t in tracks]
    track = tracks[0]
    assert track.end_s - track.start_s >= 0.8 * duration
    assert len(track.samples) >= 18 and track.boxes.shape == (len(track.samples), 4)
    assert track.landmarks.shape == (len(track.samples), 5, 2)
    # A handful of embeddings, not one per frame, from frames inside the track and spread out.
    assert track.embeddings.shape == (3, 128)
    assert all(track.start_s <= t <= track.end_s for t in track.embedding_times)
    assert track.embedding_times[-1] - track.embedding_times[0] >= 2.0
    assert track.embedding_model == "dlib-resnet-v1"
    why = track.explanation()
    assert why.model_id == "dlib-resnet-v1" and why.details["detector"] == "dlib-hog-5pt"
    assert why.details["embedding_times"] == track.embedding_times
    # The same person in each chosen frame.
    sims = track.embeddings @ track.embeddings.T
    assert sims.min() >= threshold_for("dlib-resnet-v1").value, sims


def test_clip_without_people_has_no_long_tracks(
    fixtures_dir: Path,
    video_detector,  # type: ignore[no-untyped-def]
) -> None:
    video = fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"
    tracks = track_faces(iter_frames(video, every_s=0.5), video_detector)
    assert all(len(t.samples) <= 2 for t in tracks), [t.to_dict() for t in tracks]


def _paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> np.ndarray:
    out = canvas.copy()
    out[y : y + img.shape[0], x : x + img.shape[1]] = img
    return out


def test_two_people_moving_stay_two_tracks_and_a_gap_splits_a_track(
    faces_dir: Path,
    video_detector,
    dlib_embedder: FaceEmbedder,  # type: ignore[no-untyped-def]
) -> None:
    import cv2

    def head(file: str) -> np.ndarray:
        rgb = load_image(faces_dir / file)
        x1, y1, x2, y2 = video_detector.detect(rgb)[0].box
        pad = 0.5 * (x2 - x1)
        crop = rgb[int(max(0, y1 - pad)) : int(y2 + pad), int(max(0, x1 - pad)) : int(x2 + pad)]
        return cv2.resize(crop, (240, 240))

    obama = head("face_recognition/obama.jpg")
    biden = head("face_recognition/biden.jpg")
    canvas = np.full((540, 960, 3), 90, np.uint8)
    frames = []
    for i in range(6):  # both drift right by 20 px per sample
        frame = _paste(canvas, obama, 20 + 20 * i, 100)
        frames.append((i * 0.5, _paste(frame, biden, 500 + 20 * i, 120)))
    # Obama leaves for 3 s, then comes back: a new track.
    frames.append((6.0, _paste(canvas, obama, 140, 100)))
    tracks = track_faces(frames, video_detector, dlib_embedder, per_track=2, max_gap_s=1.5)
    assert len(tracks) == 3, [t.to_dict() for t in tracks]
    first, second, third = sorted(tracks, key=lambda t: (t.start_s, t.boxes[0][0]))
    assert (first.start_s, first.end_s, second.end_s) == (0.0, 2.5, 2.5)
    assert third.start_s == third.end_s == 6.0
    thr = threshold_for("dlib-resnet-v1").value
    # Same person across the gap, different people side by side.
    assert float(first.embeddings[0] @ third.embeddings[0]) >= thr
    assert float(first.embeddings[0] @ second.embeddings[0]) < thr


def test_a_scene_cut_ends_tracks_even_at_the_same_place(
    faces_dir: Path,
    video_detector,  # type: ignore[no-untyped-def]
) -> None:
    import cv2

    def framed(file: str, background: tuple[int, int, int]) -> np.ndarray:
        rgb = load_image(faces_dir / file)
        x1, y1, x2, y2 = video_detector.detect(rgb)[0].box
        pad = 0.5 * (x2 - x1)
        crop = rgb[int(max(0, y1 - pad)) : int(y2 + pad), int(max(0, x1 - pad)) : int(x2 + pad)]
        canvas = np.zeros((540, 960, 3), np.uint8)
        canvas[:] = background
        return _paste(canvas, cv2.resize(crop, (260, 260)), 350, 140)

    shot_a = framed("face_recognition/obama.jpg", (30, 60, 160))
    shot_b = framed("face_recognition/biden.jpg", (200, 170, 40))
    frames = [(0.0, shot_a), (0.5, shot_a), (1.0, shot_b), (1.5, shot_b)]
    tracks = track_faces(frames, video_detector)
    assert [(t.start_s, t.end_s) for t in tracks] == [(0.0, 0.5), (1.0, 1.5)]
    merged = track_faces(frames, video_detector, cut_correlation=None)
    assert len(merged) == 1  # what the cut detector prevents


def test_frames_out_of_order_are_refused(video_detector) -> None:  # type: ignore[no-untyped-def]
    blank = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(DetectorError, match="time order"):
        track_faces([(1.0, blank), (0.5, blank)], video_detector)


def test_frontalness_prefers_frontal_faces() -> None:
    frontal = ARCFACE_TEMPLATE_112.copy()
    turned = frontal.copy()
    turned[2, 0] += 15  # nose towards one side: head turned
    assert frontalness(pose_from_insightface5(frontal)) > 0.95
    assert frontalness(pose_from_insightface5(turned)) < 0.6
