"""The gate's throughput work: lean isolated children, per-scan shared frame work, the sampling setting.

- Decoder and C2PA children fork from a fork server and do not re-run the
  parent's main module (which, for the server or ``bench.gate``, imports the
  whole application in every child).
- :class:`pipeline.sources.FrameMemo` computes each frame's face detections
  and PDQ hash once per scan, whichever sources ask.
- ``keyframe_every_s`` (a setting) samples every frame at 0: the every-frame
  baseline of ``bench.gate --throughput`` is this setting, not other code.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from detectors.faces import build_detector
from detectors.hashing import pdq_hash
from greenroom.settings import Limits, Settings
from greenroom.wiring import pipeline_config
from pipeline.intake import MediaIntake, keyframes
from pipeline.media import decode_video, limits_from
from pipeline.models import Models
from pipeline.safety import MAX_FACE_FRAMES, MAX_NUDITY_FRAMES, SafetySource
from pipeline.sources import FrameMemo
from store.blobs import BlobStore
from store.db import Store

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def videos(fixtures_dir: Path) -> Path:
    return fixtures_dir / "videos"


_CHILD_WORK = """
import os
import sys
from pathlib import Path

if __name__ not in ("__main__",):
    # Run again in a child (as __mp_main__, or a package main run for a child).
    with open(os.environ["MARKER"], "a") as marker:
        marker.write(__name__ + "\\n")
else:
    from detectors.provenance import verify_isolated
    from pipeline.media import decode_video, isolation_context

    clip = Path(sys.argv[1])
    decoded = decode_video(clip, every_s=1.0)
    report = verify_isolated(clip, mp_context=isolation_context())
    print(len(decoded.frames), report.state)
"""


def _run_main(cmd: list[str], cwd: Path, marker: Path, clip: Path) -> tuple[str, str]:
    env = {**os.environ, "MARKER": str(marker), "PYTHONPATH": f"{REPO}{os.pathsep}{cwd}"}
    done = subprocess.run(
        [*cmd, str(clip)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    frames, state = done.stdout.split()
    return frames, state


def test_isolated_children_under_a_package_main_do_not_rerun_it(
    tmp_path: Path, videos: Path
) -> None:
    """What the server relies on: started as ``python -m greenroom`` (``greenroom up``, and
    ``greenroom serve`` re-execs itself so), its decoder and C2PA children never re-run
    the main module. A script main is re-run in each child: the contrast, so this test
    would notice if the children stopped being children of a fork server that way."""
    clip = videos / "bbb_bunny_720p_seg49-51.mp4"
    package = tmp_path / "mainpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(_CHILD_WORK)
    marker = tmp_path / "reruns"
    frames, state = _run_main([sys.executable, "-m", "mainpkg"], tmp_path, marker, clip)
    assert int(frames) == 6  # one a second over the 6 s clip
    assert state == "absent"  # no C2PA manifest in the fixture; the child answered
    assert not marker.exists(), marker.read_text()

    script = tmp_path / "script_main.py"
    script.write_text(_CHILD_WORK)
    _run_main([sys.executable, str(script)], tmp_path, marker, clip)
    assert marker.read_text().split() == ["__mp_main__", "__mp_main__"]  # decoder, C2PA


def test_frame_memo_detects_each_frame_once_per_scan(test_models_dir: Path, videos: Path) -> None:
    detector = build_detector("yunet", test_models_dir, 1, for_video=True)
    frames = decode_video(videos / "liveportrait_s18_woman.mp4", every_s=2.0).frames
    memo = FrameMemo()
    shared = memo.detector(detector)
    assert shared.info == detector.info
    for frame in frames:
        first = shared.detect(frame.rgb)
        again = shared.detect(frame.rgb)
        assert first, "the fixture shows a face in every sampled frame"
        # The second source gets the first one's faces, not a second detection.
        assert all(a is b for a, b in zip(first, again, strict=True))
        fresh = detector.detect(frame.rgb)
        assert [f.box for f in first] == [f.box for f in fresh]
    # Another array (even with the same pixels) is another frame: detected anew.
    copy = frames[0].rgb.copy()
    assert shared.detect(copy)[0] is not shared.detect(frames[0].rgb)[0]
    # A different detector (stills settings) does not share the video detector's answers.
    stills = build_detector("yunet", test_models_dir, 1)
    assert memo.detector(stills).detect(frames[0].rgb)[0] is not shared.detect(frames[0].rgb)[0]
    # PDQ hashes: the same hash, computed once.
    assert memo.pdq(frames[0].rgb) is memo.pdq(frames[0].rgb)
    assert memo.pdq(frames[0].rgb) == pdq_hash(frames[0].rgb)
    # Sent to a Ray actor: the memo travels empty (no frames, no lock).
    travelled = pickle.loads(pickle.dumps(memo))
    assert travelled._values == {}
    assert travelled.pdq(frames[0].rgb) == pdq_hash(frames[0].rgb)


def test_every_frame_is_a_setting(tmp_path: Path, videos: Path, test_models_dir: Path) -> None:
    clip = videos / "bbb_bunny_720p_seg49-51.mp4"  # 24 fps, 5.97 s
    with av.open(str(clip)) as container:
        every = sum(1 for _ in container.decode(video=0))  # a plain decode: 144 frames
    sampled = Settings(data_dir=tmp_path / "a", models_dir=test_models_dir)
    full = Settings(
        data_dir=tmp_path / "b",
        models_dir=test_models_dir,
        limits=Limits(keyframe_every_s=0.0, max_keyframes=400),
    )
    assert limits_from(sampled.limits).keyframe_every_s == 0.5
    media = limits_from(full.limits)
    assert (media.keyframe_every_s, media.max_keyframes) == (0.0, 400)
    counts = []
    for settings in (sampled, full):
        config = pipeline_config(settings)
        with Store(settings.data_dir) as store:
            blobs = BlobStore.in_data_dir(store.data_dir, config.max_blob_bytes)
            item = MediaIntake(store, blobs, config.media).ingest(clip)
            frames = keyframes(item, limits=config.media)
        times = [f.t for f in frames]
        assert times == sorted(times)
        counts.append(len(frames))
        safety = SafetySource(Models(config))
        if settings is full:
            # Every frame is looked at: the age and nudity caps are off too.
            assert safety.max_face_frames == safety.max_nudity_frames == 400
            assert np.allclose(np.diff(times), 1 / 24, atol=1e-3)
        else:
            assert (safety.max_face_frames, safety.max_nudity_frames) == (
                MAX_FACE_FRAMES,
                MAX_NUDITY_FRAMES,
            )
    assert counts == [12, every]
