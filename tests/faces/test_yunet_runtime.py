"""YuNet on ONNX Runtime (the default) against OpenCV's FaceDetectorYN (the reference): the same faces.

``detectors.faces.yunet_ort`` repeats FaceDetectorYN's padding, decoding and
NMS around the network; these tests hold it to OpenCV's rows on fixture
stills and video frames at the working sizes the detector uses, and through
the whole detector (both passes, merging, the small-face pass).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.faces.yunet_backend import YunetDetector, find_yunet
from detectors.faces.yunet_ort import OrtYunet
from pipeline.media import iter_frames, load_image


@pytest.fixture(scope="module")
def images(fixtures_dir: Path) -> list[np.ndarray]:
    stills = sorted((fixtures_dir / "faces").rglob("*.jpg"))[::4][:30]
    out = [load_image(p) for p in stills]
    for name, every in (("sintel_trailer_clip_720p.mp4", 2.0), ("musetalk_yongen_anime.mp4", 3.0)):
        out += [f.rgb for f in iter_frames(fixtures_dir / "videos" / name, every_s=every)]
    return out


def _working(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    small = cv2.resize(
        rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
    )
    return cv2.cvtColor(small, cv2.COLOR_RGB2BGR)


def test_onnxruntime_rows_match_opencvs(images: list[np.ndarray]) -> None:
    path, _ = find_yunet(None)
    ort_yunet = OrtYunet(path, 0.6, 0.3)
    reference = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.6, 0.3)
    faces = 0
    for rgb in images:
        for side in (320, 640, 1280):
            bgr = _working(rgb, side)
            reference.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, expected = reference.detect(bgr)
            expected = np.zeros((0, 15), np.float32) if expected is None else expected
            got = ort_yunet.rows(bgr)
            assert got.shape == expected.shape, (side, got[:, 14], expected[:, 14])
            np.testing.assert_allclose(got, expected, atol=1e-3)
            faces += len(got)
    assert faces >= 40  # the comparison saw faces, not only empty frames


def test_the_detector_finds_the_same_faces_on_either_runtime(images: list[np.ndarray]) -> None:
    kwargs = dict(threads=1, fine_pad=0.0, coarse_if_needed=True, small_pass_side=1280)
    fast = YunetDetector(None, **kwargs)  # type: ignore[arg-type]
    reference = YunetDetector(None, runtime="opencv", **kwargs)  # type: ignore[arg-type]
    assert fast.runtime == "onnxruntime" and "onnxruntime" in fast.info.notes
    for rgb in images:
        for method in ("detect", "detect_small"):
            got = getattr(fast, method)(rgb)
            expected = getattr(reference, method)(rgb)
            assert len(got) == len(expected)
            for a, b in zip(got, expected, strict=True):
                np.testing.assert_allclose(a.box, b.box, atol=1e-2)
                np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-2)
                assert abs(a.score - b.score) < 1e-3


def test_one_session_serves_concurrent_callers(images: list[np.ndarray]) -> None:
    detector = YunetDetector(None, threads=2)
    frames = images[:12]
    serial = [detector.detect(rgb) for rgb in frames]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(detector.detect, frames * 3))
    for i, faces in enumerate(parallel):
        expected = serial[i % len(frames)]
        assert [f.box for f in faces] == [f.box for f in expected]


def test_an_unknown_runtime_is_refused() -> None:
    from detectors.base import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="unknown YuNet runtime"):
        YunetDetector(None, runtime="tensorrt")
