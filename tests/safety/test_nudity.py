"""NudeNet with its real weights: loads, finds nothing exposed in benign fixtures, rejects bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.base import MediaError
from detectors.nudity import NudeNetDetector, NudityDetector
from pipeline.media import iter_frames, load_image


@pytest.fixture(scope="module")
def detector() -> NudityDetector:
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
