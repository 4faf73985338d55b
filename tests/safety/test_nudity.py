"""NudeNet with its real weights: loads, finds nothing exposed in benign fixtures, rejects bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.base import MediaError
from detectors.nudity import NudeNetDetector, NudityDetector
from pipeline.media import iter_frames, load_image


@pytest.fixture(scope="module")
def detector() -> NudeNetDetector:
    return NudeNetDetector(threads=1)


def test_model_info_records_licence(detector: NudityDetector) -> None:
    assert detector.info.model_id == "nudenet-3.4.2-320n"
    assert "AGPL-3.0" in detector.info.licence


def test_benign_photo_has_no_exposed_sexual_class(
    detector: NudityDetector, fixtures_dir: Path
) -> None:
    result = detector.detect(load_image(fixtures_dir / "faces" / "deepface" / "couple.jpg"))
    # The real model runs: it finds the faces, and nothing sexual.
    assert any(d.group == "face" for d in result.detections)
    assert result.sexual_score == 0.0
    assert not result.flagged
    assert result.exposed_classes == []
    signal = result.to_signal()
    assert signal.kind == "nudity.score" and signal.data["score"] == 0.0
    assert signal.explanation.threshold == 0.5


def test_benign_video_keyframes(detector: NudityDetector, fixtures_dir: Path) -> None:
    frames = list(iter_frames(fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4", every_s=2.0))
    results = [detector.detect(f.rgb, t=f.t) for f in frames]
    assert results and not any(r.flagged for r in results)
    assert results[-1].t == frames[-1].t


def test_bad_input(detector: NudityDetector) -> None:
    with pytest.raises(MediaError):
        detector.detect(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(MediaError):
        detector.detect(np.zeros((64, 64, 4), np.uint8))
    with pytest.raises(ValueError):
        NudeNetDetector(threshold=0.0)


def _frames_of_every_shape(fixtures_dir: Path) -> list[np.ndarray]:
    """Keyframes of every fixture video, stills, and a tall and an odd-sized crop of them."""
    frames = [
        f.rgb
        for video in sorted((fixtures_dir / "videos").glob("*.mp4"))
        for f in iter_frames(video, every_s=1.5, max_frames=6)
    ]
    stills = sorted((fixtures_dir / "faces" / "deepface").glob("*.jpg"))[:6]
    frames += [load_image(p) for p in stills]
    wide = frames[0]
    frames.append(np.ascontiguousarray(wide[:, : wide.shape[0] // 2]))  # taller than wide
    frames.append(np.ascontiguousarray(wide[7:340, 11:528]))  # odd sizes, padding on both
    return frames


def test_own_processing_equals_upstream_nudenet(
    detector: NudeNetDetector, fixtures_dir: Path
) -> None:
    """_raw's array pre/post-processing gives upstream NudeDetector.detect's detections exactly."""
    frames = _frames_of_every_shape(fixtures_dir)
    found = 0
    for rgb in frames:
        ours, upstream = detector._raw(rgb), detector.reference_raw(rgb)
        assert ours == upstream
        found += len(ours)
    # Not vacuous: the frames hold detections (faces, covered and exposed classes).
    assert found >= 20
