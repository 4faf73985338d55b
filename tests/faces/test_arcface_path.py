"""The ArcFace embedding code path, run on a tiny RANDOM-WEIGHT ONNX stand-in.

No InsightFace recognition weights exist offline, so this builds a small
random-weight network with ArcFace's interface (N x 3 x 112 x 112 in, N x D
out) to exercise loading, alignment, preprocessing, batching and
normalisation. Its vectors mean nothing about identity; no accuracy is
claimed from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.base import ModelUnavailable
from detectors.faces import available_backends, build_embedder, compare
from detectors.faces.onnx_backends import ArcFaceEmbedder
from detectors.faces.types import FaceDetector
from pipeline.media import load_image


def _random_arcface(path: Path, dim: int = 64, batch: int | str = "N") -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    conv_w = numpy_helper.from_array(rng.normal(size=(8, 3, 8, 8)).astype(np.float32), "conv_w")
    fc_w = numpy_helper.from_array(rng.normal(size=(8 * 14 * 14, dim)).astype(np.float32), "fc_w")
    fc_b = numpy_helper.from_array(np.zeros(dim, np.float32), "fc_b")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input.1", "conv_w"], ["c"], strides=[8, 8]),
            helper.make_node("Flatten", ["c"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["683"]),
        ],
        "random_arcface_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [batch, dim])],
        initializer=[conv_w, fc_w, fc_b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


@pytest.mark.parametrize("batch", ["N", 1])
def test_random_weight_arcface_embeds_any_detectors_faces(
    tmp_path: Path, detectors_by_name: dict[str, FaceDetector], fixtures_dir: Path, batch: int | str
) -> None:
    # w600k_r50 has no known hash here, so the file loads as "unverified".
    _random_arcface(tmp_path / "insightface-arcface" / "w600k_r50.onnx", batch=batch)
    embedder = build_embedder("arcface", tmp_path, threads=1)
    assert isinstance(embedder, ArcFaceEmbedder)
    assert embedder.info.embedding_dim == 64 and embedder.info.input_size == (112, 112)
    assert "non-commercial" in embedder.info.licence and "unknown" in embedder.info.notes
    rgb = load_image(fixtures_dir / "faces" / "insightface" / "t1.jpg")
    for det in detectors_by_name.values():
        faces = det.detect(rgb)
        vectors = embedder.embed(rgb, faces)
        assert vectors.shape == (len(faces), 64) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        # Batched and one-by-one give the same vectors.
        single = embedder.embed(rgb, faces[:1])
        np.testing.assert_allclose(single[0], vectors[0], atol=1e-5)
    assert embedder.embed(rgb, []).shape == (0, 64)


def test_arcface_without_a_measured_threshold_refuses_to_compare(
    tmp_path: Path, detectors_by_name: dict[str, FaceDetector], fixtures_dir: Path
) -> None:
    _random_arcface(tmp_path / "insightface-arcface" / "w600k_r50.onnx")
    embedder = build_embedder("arcface", tmp_path, threads=1)
    img = load_image(fixtures_dir / "faces" / "face_recognition" / "obama.jpg")
    with pytest.raises(ModelUnavailable, match="no measured same-person threshold"):
        compare(img, img, detectors_by_name["yunet"], embedder)
    assert compare(img, img, detectors_by_name["yunet"], embedder, threshold=0.5).same_person
    listed = {i.model_id: i for i in available_backends(tmp_path)}
    assert "insightface-arcface-w600k_r50" in listed


def test_onnx_with_the_wrong_input_size_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "wrong",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "insightface-arcface" / "w600k_r50.onnx"
    path.parent.mkdir(parents=True)
    onnx.save(model, str(path))
    with pytest.raises(ModelUnavailable, match="does not take 112x112"):
        ArcFaceEmbedder(tmp_path)
