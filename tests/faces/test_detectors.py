"""Every detector backend finds the faces in real fixture photos, with sane landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorError, MediaError
from detectors.faces import build_detector
from detectors.faces.types import DetectedFace, FaceDetector, box_iou
from pipeline.media import load_image
from tests.faces.conftest import DETECTOR_NAMES

# file -> number of faces every backend must find (counted by eye; group
# photo t1.jpg is the six Friends cast members).
EXPECTED = {
    "face_recognition/obama.jpg": 1,
    "face_recognition/biden.jpg": 1,
    "deepface/img2.jpg": 1,
    "face_recognition/two_people.jpg": 2,
    "face_recognition/kit_with_rose.jpg": 2,
    "deepface/couple.jpg": 2,
    "insightface/t1.jpg": 6,
}


def _check_landmarks(face: DetectedFace) -> None:
    lm = face.landmarks
    assert lm.shape == (5, 2) and lm.dtype == np.float32
    x1, y1, x2, y2 = face.box
    pad_x, pad_y = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
    assert np.all(lm[:, 0] >= x1 - pad_x) and np.all(lm[:, 0] <= x2 + pad_x), (face.box, lm)
    assert np.all(lm[:, 1] >= y1 - pad_y) and np.all(lm[:, 1] <= y2 + pad_y), (face.box, lm)
    left_eye, right_eye, nose, mouth_l, mouth_r = lm
    # InsightFace order, viewer's left first; eyes above the nose above the mouth.
    assert left_eye[0] < right_eye[0]
    assert mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


@pytest.mark.parametrize("name", DETECTOR_NAMES)
@pytest.mark.parametrize("file,count", sorted(EXPECTED.items()))
def test_finds_faces_with_landmarks_inside_boxes(
    detectors_by_name: dict[str, FaceDetector], faces_dir: Path, name: str, file: str, count: int
) -> None:
    rgb = load_image(faces_dir / file)
    faces = detectors_by_name[name].detect(rgb)
    assert len(faces) == count, [f.box for f in faces]
    h, w = rgb.shape[:2]
    for face in faces:
        assert 0 <= face.box[0] < face.box[2] <= w and 0 <= face.box[1] < face.box[3] <= h
        _check_landmarks(face)


def test_backends_agree_on_where_the_faces_are(
    detectors_by_name: dict[str, FaceDetector], faces_dir: Path
) -> None:
    rgb = load_image(faces_dir / "insightface/t1.jpg")
    found = {n: d.detect(rgb) for n, d in detectors_by_name.items()}
    for other in ("dlib-hog", "yunet"):
        errors = []
        for face in found["scrfd"]:
            best = max(box_iou(face.box, f.box) for f in found[other])
            assert best > 0.3, (other, face.box)
            twin = max(found[other], key=lambda f: box_iou(face.box, f.box))
            eye_dist = np.linalg.norm(face.landmarks[1] - face.landmarks[0])
            errors.extend(
                np.linalg.norm(face.landmarks[:2] - twin.landmarks[:2], axis=1) / eye_dist
            )
        # Eyes, in units of the eye distance: small faces turned in a group
        # photo, so typically a tenth off, never half.
        assert float(np.median(errors)) < 0.2, (other, errors)
        assert max(errors) < 0.5, (other, errors)


def test_model_info_declares_licence(detectors_by_name: dict[str, FaceDetector]) -> None:
    assert "non-commercial" in detectors_by_name["scrfd"].info.licence
    assert "CC0" in detectors_by_name["dlib-hog"].info.licence
    assert "MIT" in detectors_by_name["yunet"].info.licence
    ids = {d.info.model_id for d in detectors_by_name.values()}
    assert len(ids) == 3


def test_big_image_is_downscaled_and_boxes_map_back(
    detectors_by_name: dict[str, FaceDetector], faces_dir: Path
) -> None:
    import cv2

    rgb = load_image(faces_dir / "face_recognition/two_people.jpg")
    big = cv2.resize(rgb, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    for name in ("dlib-hog", "yunet"):
        small_faces = sorted(detectors_by_name[name].detect(rgb), key=lambda f: f.box[0])
        big_faces = sorted(detectors_by_name[name].detect(big), key=lambda f: f.box[0])
        assert len(big_faces) == len(small_faces) == 2
        for s, b in zip(small_faces, big_faces, strict=True):
            scaled = tuple(v / 3 for v in b.box)
            assert box_iou(s.box, scaled) > 0.6, (name, s.box, scaled)


def test_no_face_and_bad_arrays(detectors_by_name: dict[str, FaceDetector]) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    flat = np.full((200, 200, 3), 128, np.uint8)
    for det in detectors_by_name.values():
        assert det.detect(flat) == []
        assert isinstance(det.detect(noise), list)
        with pytest.raises(MediaError):
            det.detect(np.zeros((100, 100), np.uint8))
        with pytest.raises(MediaError):
            det.detect(np.zeros((100, 100, 3), np.uint16))
        with pytest.raises(MediaError):
            det.detect(np.zeros((4, 4, 3), np.uint8))


def test_unknown_backend_names_are_clear_errors(test_models_dir: Path) -> None:
    with pytest.raises(DetectorError, match="unknown face detector"):
        build_detector("mtcnn", test_models_dir)
