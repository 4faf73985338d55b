"""dlib's face ResNet in torch: the same vectors as dlib's runtime, and a reader that refuses other files."""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorError, ModelUnavailable
from detectors.faces import build_embedder, threshold_for
from detectors.faces.dlib_backend import DlibResnetEmbedder, _model_file, dlib_resnet_chips
from detectors.faces.dlib_resnet_torch import (
    MODEL_FILE,
    TorchDlibResnetEmbedder,
    default_model_path,
    read_dlib_resnet,
    read_dlib_resnet_bytes,
)
from detectors.faces.types import FaceDetector, largest_face
from pipeline.media import load_image

THREADS = 4
ROUNDS = 3


@pytest.fixture(scope="module")
def torch_embedder() -> TorchDlibResnetEmbedder:
    return TorchDlibResnetEmbedder()


@pytest.fixture(scope="module")
def reference() -> DlibResnetEmbedder:
    return DlibResnetEmbedder()


@pytest.fixture(scope="module")
def chips(detectors_by_name: dict[str, FaceDetector], faces_dir: Path) -> list[np.ndarray]:
    """Seven real face chips: six people in one photo and one portrait."""
    out: list[np.ndarray] = []
    for name in ("insightface/t1.jpg", "face_recognition/obama.jpg"):
        rgb = load_image(faces_dir / name)
        out += dlib_resnet_chips(rgb, detectors_by_name["yunet"].detect(rgb))
    assert len(out) == 7
    return out


@dataclass
class _Embedded:
    """Every face YuNet finds in every PAIRS.tsv image, embedded by both runtimes."""

    reference: dict[str, np.ndarray]  # file -> (faces, 128), dlib's runtime
    torch: dict[str, np.ndarray]  # file -> (faces, 128), the torch runtime
    largest: dict[str, int]  # file -> row of its largest face
    pairs: list[dict[str, str]]


@pytest.fixture(scope="module")
def embedded(
    detectors_by_name: dict[str, FaceDetector],
    faces_dir: Path,
    torch_embedder: TorchDlibResnetEmbedder,
    reference: DlibResnetEmbedder,
) -> _Embedded:
    with open(faces_dir / "PAIRS.tsv", newline="", encoding="utf-8") as f:
        pairs = list(csv.DictReader(f, delimiter="\t"))
    result = _Embedded({}, {}, {}, pairs)
    for name in sorted({p[k] for p in pairs for k in ("file_a", "file_b")}):
        rgb = load_image(faces_dir / name)
        faces = detectors_by_name["yunet"].detect(rgb)
        face = largest_face(faces)
        if face is None:
            continue
        result.reference[name] = reference.embed(rgb, faces)
        result.torch[name] = torch_embedder.embed(rgb, faces)
        result.largest[name] = faces.index(face)
    return result


@pytest.mark.slow
def test_torch_vectors_equal_dlibs_on_every_fixture_face(embedded: _Embedded) -> None:
    ref = np.concatenate(list(embedded.reference.values()))
    out = np.concatenate([embedded.torch[k] for k in embedded.reference])
    assert len(ref) >= 60 and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    cosine = (ref * out).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    # Measured: 2.5e-7 at most (float32 rounding); 1e-4 leaves room for other CPUs' kernels.
    assert np.abs(ref - out).max() < 1e-4


@pytest.mark.slow
def test_same_person_decisions_on_the_pairs_are_identical(embedded: _Embedded) -> None:
    thr = threshold_for("dlib-resnet-v1").value
    decided = 0
    for pair in embedded.pairs:
        a, b = pair["file_a"], pair["file_b"]
        if a not in embedded.largest or b not in embedded.largest:
            continue

        def sim(vectors: dict[str, np.ndarray], a: str = a, b: str = b) -> float:
            return float(vectors[a][embedded.largest[a]] @ vectors[b][embedded.largest[b]])

        s_ref, s_torch = sim(embedded.reference), sim(embedded.torch)
        assert (s_ref >= thr) == (s_torch >= thr), (pair, s_ref, s_torch)
        assert abs(s_ref - s_torch) < 1e-4
        decided += 1
    assert decided >= 200


def test_batched_and_single_chip_calls_agree(
    torch_embedder: TorchDlibResnetEmbedder, chips: list[np.ndarray]
) -> None:
    batched = torch_embedder.embed_chips(chips)
    single = np.concatenate([torch_embedder.embed_chips([c]) for c in chips])
    assert batched.shape == (7, 128) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)
    assert torch_embedder.embed_chips([]).shape == (0, 128)
    with pytest.raises(DetectorError, match="face chips must be"):
        torch_embedder.embed_chips([chips[0], chips[0][:112, :112]])


def test_embed_matches_the_reference_on_a_group_photo(
    detectors_by_name: dict[str, FaceDetector],
    faces_dir: Path,
    torch_embedder: TorchDlibResnetEmbedder,
    reference: DlibResnetEmbedder,
) -> None:
    rgb = load_image(faces_dir / "insightface/t1.jpg")
    faces = detectors_by_name["yunet"].detect(rgb)
    ours, theirs = torch_embedder.embed(rgb, faces), reference.embed(rgb, faces)
    assert ours.shape == theirs.shape == (6, 128)
    assert (ours * theirs).sum(axis=1).min() >= 0.9999
    assert torch_embedder.embed(rgb, []).shape == (0, 128)


def test_concurrent_calls_give_the_serial_vectors(
    torch_embedder: TorchDlibResnetEmbedder, chips: list[np.ndarray]
) -> None:
    # Each job embeds a different slice of the chips (batch sizes 1 to 3).
    jobs = [chips[i : i + 1 + i % 3] for i in range(len(chips))]
    serial = [torch_embedder.embed_chips(job) for job in jobs]
    results: list[tuple[int, np.ndarray]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(offset: int) -> None:
        try:
            start.wait()
            for r in range(ROUNDS * len(jobs)):
                j = (offset + r) % len(jobs)
                vectors = torch_embedder.embed_chips(jobs[j])
                with lock:
                    results.append((j, vectors))
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == THREADS * ROUNDS * len(jobs)
    for j, vectors in results:
        np.testing.assert_allclose(vectors, serial[j], rtol=0, atol=1e-6)


def test_info_keeps_dlibs_model_id_and_says_torch(
    torch_embedder: TorchDlibResnetEmbedder,
) -> None:
    assert torch_embedder.info.model_id == "dlib-resnet-v1"
    assert torch_embedder.info.embedding_dim == 128
    assert "dlib's weights run in torch" in torch_embedder.info.notes


def test_the_reader_returns_every_array_with_its_shape() -> None:
    arrays = read_dlib_resnet(default_model_path())
    assert arrays["stem.conv.weight"].shape == (32, 3, 7, 7)
    assert arrays["units.13.conv2.weight"].shape == (256, 256, 3, 3)
    assert arrays["fc.weight"].shape == (128, 256)
    np.testing.assert_allclose(arrays["input.mean"], [122.782, 117.001, 104.298], atol=1e-3)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return default_model_path().read_bytes()


@pytest.mark.parametrize("keep", [0, 1, 40, 5000, 0.5, 0.999])
def test_a_truncated_file_is_refused_clearly(model_bytes: bytes, keep: float) -> None:
    n = int(len(model_bytes) * keep) if isinstance(keep, float) else keep
    with pytest.raises(ModelUnavailable, match="not dlib's face recognition ResNet"):
        read_dlib_resnet_bytes(model_bytes[:n], "cut.dat")


def test_trailing_bytes_are_refused(model_bytes: bytes) -> None:
    with pytest.raises(ModelUnavailable, match="bytes follow the network"):
        read_dlib_resnet_bytes(model_bytes + b"\x00" * 8, "long.dat")


@pytest.mark.parametrize(
    "other", ["mmod_human_face_detector.dat", "shape_predictor_5_face_landmarks.dat"]
)
def test_other_dlib_files_are_refused(other: str) -> None:
    # The MMOD detector is a dlib network too, with another layer sequence.
    with pytest.raises(ModelUnavailable, match="not dlib's face recognition ResNet"):
        read_dlib_resnet(Path(_model_file(other)))


def test_a_changed_layer_setting_is_refused(model_bytes: bytes) -> None:
    # The stem convolution's settings, coded as dlib codes integers (a length
    # byte, then the value): 32 filters, 7x7, stride 2x2. Stride 3 instead:
    # the same size and layout, another network.
    settings = b"\x01\x20\x01\x07\x01\x07\x01\x02\x01\x02"
    assert model_bytes.count(settings) == 1
    changed = model_bytes.replace(settings, settings[:-4] + b"\x01\x03\x01\x03")
    with pytest.raises(ModelUnavailable, match=r"convolution stem\.conv.*expected"):
        read_dlib_resnet_bytes(changed, "changed.dat")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="cannot read"):
        TorchDlibResnetEmbedder(tmp_path / MODEL_FILE)


def test_build_embedder_runs_torch_and_falls_back_to_dlib(
    tmp_path: Path, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(build_embedder("dlib-resnet", None, threads=1), TorchDlibResnetEmbedder)
    assert isinstance(build_embedder("dlib-resnet-reference", None), DlibResnetEmbedder)
    broken = tmp_path / MODEL_FILE
    broken.write_bytes(model_bytes[:1000])
    monkeypatch.setattr("detectors.faces.dlib_resnet_torch.default_model_path", lambda: broken)
    fallback = build_embedder("dlib-resnet", None, threads=1)
    assert isinstance(fallback, DlibResnetEmbedder)
    assert fallback.info.model_id == "dlib-resnet-v1"
    assert "torch runtime unavailable" in fallback.info.notes
