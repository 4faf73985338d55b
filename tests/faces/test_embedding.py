"""Embedders and same-person comparison on real photos; ArcFace file verification."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorError, ModelUnavailable
from detectors.faces import (
    ARCFACE_TEMPLATE_112,
    NoFaceFound,
    align_face,
    build_embedder,
    compare,
    embed_largest,
    threshold_for,
)
from detectors.faces.onnx_backends import KNOWN_FILES, ArcFaceEmbedder, verify_model_file
from detectors.faces.thresholds import THRESHOLDS
from detectors.faces.types import FaceDetector, FaceEmbedder, largest_face, similarity_transform
from pipeline.media import load_image


def _pairs(faces_dir: Path) -> list[dict[str, str]]:
    with open(faces_dir / "PAIRS.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_dlib_embeddings_are_unit_vectors(
    detectors_by_name: dict[str, FaceDetector], dlib_embedder: FaceEmbedder, faces_dir: Path
) -> None:
    rgb = load_image(faces_dir / "insightface/t1.jpg")
    faces = detectors_by_name["dlib-hog"].detect(rgb)
    vectors = dlib_embedder.embed(rgb, faces)
    assert vectors.shape == (6, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Six different people: no two of them pass the same-person threshold.
    sims = vectors @ vectors.T
    thr = threshold_for(dlib_embedder.info.model_id).value
    assert (sims[~np.eye(6, dtype=bool)] < thr).all()
    assert dlib_embedder.embed(rgb, []).shape == (0, 128)


def test_verification_accuracy_on_a_sample_of_pairs(
    detectors_by_name: dict[str, FaceDetector], dlib_embedder: FaceEmbedder, faces_dir: Path
) -> None:
    pairs = _pairs(faces_dir)
    same = [p for p in pairs if p["label"] == "same"][::8]
    diff = [p for p in pairs if p["label"] == "different"][::3]
    sample = same + diff
    cache: dict[str, np.ndarray] = {}

    def vec(name: str) -> np.ndarray:
        if name not in cache:
            rgb = load_image(faces_dir / name)
            cache[name] = embed_largest(rgb, detectors_by_name["dlib-hog"], dlib_embedder)[1]
        return cache[name]

    thr = threshold_for(dlib_embedder.info.model_id).value
    correct = sum(
        (float(vec(p["file_a"]) @ vec(p["file_b"])) >= thr) == (p["label"] == "same")
        for p in sample
    )
    accuracy = correct / len(sample)
    assert len(same) >= 20 and len(diff) >= 20
    assert accuracy >= 0.9, accuracy
    # Same-person pairs score higher than different-person pairs on average, by a margin.
    s = np.mean([vec(p["file_a"]) @ vec(p["file_b"]) for p in same])
    d = np.mean([vec(p["file_a"]) @ vec(p["file_b"]) for p in diff])
    assert s - d > 0.05, (s, d)


@pytest.mark.parametrize("other", ["scrfd", "yunet"])
def test_any_detectors_landmarks_feed_the_dlib_embedder(
    detectors_by_name: dict[str, FaceDetector],
    dlib_embedder: FaceEmbedder,
    faces_dir: Path,
    other: str,
) -> None:
    thr = threshold_for(dlib_embedder.info.model_id).value
    for file in ("face_recognition/obama.jpg", "deepface/img2.jpg", "face_recognition/biden.jpg"):
        rgb = load_image(faces_dir / file)
        _, ref = embed_largest(rgb, detectors_by_name["dlib-hog"], dlib_embedder)
        _, vec = embed_largest(rgb, detectors_by_name[other], dlib_embedder)
        assert float(ref @ vec) >= thr, (file, other, float(ref @ vec))


def test_compare_same_and_different_and_no_face(
    detectors_by_name: dict[str, FaceDetector], dlib_embedder: FaceEmbedder, faces_dir: Path
) -> None:
    det = detectors_by_name["dlib-hog"]
    biden = load_image(faces_dir / "face_recognition/biden.jpg")
    biden2 = load_image(faces_dir / "face_recognition/biden2.jpg")
    obama = load_image(faces_dir / "face_recognition/obama.jpg")
    same = compare(biden, biden2, det, dlib_embedder)
    assert same.same_person and same.similarity >= same.threshold
    assert same.model == "dlib-resnet-v1" and same.explanation.threshold == same.threshold
    diff = compare(biden, obama, det, dlib_embedder)
    assert not diff.same_person and diff.similarity < diff.threshold
    blank = np.full((240, 240, 3), 200, np.uint8)
    with pytest.raises(NoFaceFound, match="no face found in the second image"):
        compare(biden, blank, det, dlib_embedder)
    forced = compare(biden, obama, det, dlib_embedder, threshold=0.5)
    assert forced.same_person and forced.threshold == 0.5


def test_align_face_maps_landmarks_onto_the_template(faces_dir: Path) -> None:
    rgb = load_image(faces_dir / "face_recognition/obama.jpg")
    # Landmarks that are an exact similarity of the template land exactly on it.
    angle, scale, shift = 0.3, 2.5, np.array([200.0, 150.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lm = (ARCFACE_TEMPLATE_112 @ rot.T * scale + shift).astype(np.float32)
    matrix = similarity_transform(lm, ARCFACE_TEMPLATE_112)
    mapped = lm @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, ARCFACE_TEMPLATE_112, atol=1e-3)
    assert align_face(rgb, lm, 112).shape == (112, 112, 3)
    assert align_face(rgb, lm, 224).shape == (224, 224, 3)
    with pytest.raises(DetectorError):
        align_face(rgb, np.zeros((5, 2), np.float32), 112)
    with pytest.raises(DetectorError):
        align_face(rgb, np.full((5, 2), np.nan, np.float32), 112)


def test_thresholds_are_data_with_a_source() -> None:
    for model_id, thr in THRESHOLDS.items():
        assert 0.0 < thr.value < 1.0 and "bench.faces" in thr.source, model_id
    with pytest.raises(ModelUnavailable, match="no measured same-person threshold"):
        threshold_for("insightface-arcface-w600k_mbf")


def test_arcface_absent_is_a_clear_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="ArcFace face embedder weights not found"):
        build_embedder("arcface", tmp_path)
    with pytest.raises(ModelUnavailable, match="needs a models directory"):
        build_embedder("arcface", None)


def test_arcface_file_failing_verification_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "insightface-arcface"
    folder.mkdir()
    bad = folder / "w600k_mbf.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModelUnavailable, match="not the official 13616099"):
        ArcFaceEmbedder(tmp_path)
    # Right size, wrong content: the sha256 check catches it before loading.
    with open(bad, "wb") as f:
        f.truncate(KNOWN_FILES["w600k_mbf.onnx"].size)
    with pytest.raises(ModelUnavailable, match="fails sha256 verification"):
        build_embedder("arcface", tmp_path)


def test_unknown_arcface_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "insightface-arcface"
    folder.mkdir()
    (folder / "w600k_r50.onnx").write_bytes(b"\x00" * 1000)
    assert verify_model_file(folder / "w600k_r50.onnx") is False  # no known hash
    with pytest.raises(ModelUnavailable, match="cannot load ArcFace"):
        ArcFaceEmbedder(tmp_path)


def test_known_detector_files_verify(test_models_dir: Path) -> None:
    assert verify_model_file(test_models_dir / "insightface-scrfd/det_500m.onnx") is True
    assert verify_model_file(test_models_dir / "yunet/face_detection_yunet_2023mar.onnx") is True


def test_largest_face_picks_by_area(
    detectors_by_name: dict[str, FaceDetector], faces_dir: Path
) -> None:
    faces = detectors_by_name["scrfd"].detect(load_image(faces_dir / "insightface/t1.jpg"))
    biggest = largest_face(faces)
    assert biggest is not None and biggest.area == max(f.area for f in faces)
    assert largest_face([]) is None
