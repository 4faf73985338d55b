"""bench.peer's own logic, without the peer library: the sampling grid and the appearance rules.

The peer venv (face_recognition, 100 MB of models) is not installed by the
suite; what is tested here is what decides the figures: that the library is
given the very frames Greenroom samples, and how its appearances are cut and
matched to Greenroom's tracks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.peer import appearances, compare, found_by
from bench.peer_worker import sampled_frames
from pipeline.intake import DEFAULT_EVERY_S
from pipeline.media import iter_frames


def test_worker_samples_the_frames_greenroom_samples(fixtures_dir: Path) -> None:
    # Big Buck Bunny's segment: 1280x720 at 24 fps, so the 0.5 s grid falls between
    # frames and the scaling to 640 px is exercised.
    video = fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"
    ours = list(iter_frames(video, every_s=DEFAULT_EVERY_S, max_side=640))
    peer = list(sampled_frames(video, DEFAULT_EVERY_S, 640))
    assert [t for t, _ in peer] == [f.t for f in ours]
    for (_, rgb), frame in zip(peer, ours, strict=True):
        assert rgb.shape == frame.rgb.shape == (360, 640, 3)
        assert np.array_equal(rgb, frame.rgb)


def test_every_frame_when_the_interval_is_zero(fixtures_dir: Path) -> None:
    video = fixtures_dir / "videos" / "bbb_bunny_720p_seg49-51.mp4"
    times = [t for t, _ in sampled_frames(video, 0.0, 320)]
    assert times == sorted(times)
    assert len(times) == len(list(iter_frames(video, every_s=0.0, max_side=320)))


def _sample(t: float, *distances: dict[str, float]) -> dict[str, Any]:
    return {"t": t, "faces": [{"box": [0, 0, 0, 0], "distances": d} for d in distances]}


def test_appearances_are_runs_of_samples_within_the_tolerance() -> None:
    samples = [
        _sample(0.0),
        _sample(0.5, {"a": 0.61, "b": 0.3}),  # only the other person
        _sample(1.0, {"a": 0.6}),  # the tolerance itself counts
        _sample(1.5, {"a": 0.9}, {"a": 0.4}),  # any face in the frame
        _sample(2.0, {"a": 0.7}),
        _sample(2.5, {"a": 0.2}),
    ]
    assert appearances(samples, "a") == [(1.0, 1.5), (2.5, 2.5)]
    assert appearances(samples, "b") == [(0.5, 0.5)]
    assert appearances(samples, "c") == []


def test_found_when_a_track_of_the_person_starts_within_a_second() -> None:
    appearance = (0.85, 2.5)
    assert found_by(appearance, [[1.85, 5.0, 0.99]]) == [1.85, 5.0, 0.99]
    assert found_by(appearance, [[0.0, 1.0, 0.97]]) == [0.0, 1.0, 0.97]  # earlier, still on
    assert found_by(appearance, [[3.0, 5.5, 0.99]]) is None  # the 4.0 s case
    assert found_by(appearance, [[0.0, 0.5, 0.99]]) is None  # over before it began
    assert found_by(appearance, []) is None


def test_compare_matches_by_person_and_marks_who_is_in_the_clip() -> None:
    peer = [
        {
            "clip": "stage_60.mp4",
            "samples": [
                _sample(0.0, {"man (d13)": 0.5, "woman (d3)": 0.8}),
                _sample(0.5, {"man (d13)": 0.55, "woman (d3)": 0.59}),
                _sample(1.0),
                _sample(3.0, {"man (d13)": 0.3, "woman (d3)": 0.8}),
            ],
        }
    ]
    ours = [{"clip": "stage_60.mp4", "segments": {"man (d13)": [[3.0, 5.5, 0.99]]}}]
    rows = compare(peer, ours, ["woman (d3)", "man (d13)"])
    by_person = {r["person"]: r for r in rows}
    assert by_person["man (d13)"]["present"]
    assert [a["found"] for a in by_person["man (d13)"]["library"]] == [False, True]
    assert not by_person["woman (d3)"]["present"]
    assert [(a["start_s"], a["found"]) for a in by_person["woman (d3)"]["library"]] == [
        (0.5, False)
    ]
