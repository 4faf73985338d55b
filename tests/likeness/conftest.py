"""Clips for the likeness tests, cut once per session from the fixture videos (see clips.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.likeness.clips import frame_at, side_by_side, splice, still

D3 = "liveportrait_d3_woman_talking.mp4"
D13 = "liveportrait_d13_man_selfie_talking.mp4"
S18 = "liveportrait_s18_woman.mp4"
# The head movements liveportrait_d3 really shows in its first 7.7 s (measured by the
# live check at 10 samples/s; directions are the person's own): right 0.4-0.9 s,
# left 5.0-6.2 s, right 6.9-7.4 s.
D3_CHALLENGE = ["right", "left", "right"]


@pytest.fixture(scope="session")
def clips(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    videos = fixtures_dir / "videos"
    out = tmp_path_factory.mktemp("likeness-clips")
    d3, d13, s18 = videos / D3, videos / D13, videos / S18
    crop = frame_at(s18, 2.0)[40:440, 540:940]  # the s18 woman's head, from a 1280x720 frame
    Image.fromarray(crop).save(out / "s18_crop.png")
    return {
        "recording": splice(out / "recording.mp4", [(d3, 0.0, 7.7)]),
        "rest_a": splice(out / "rest_a.mp4", [(d3, 7.7, 9.8)]),
        "rest_b": splice(out / "rest_b.mp4", [(d3, 9.8, 12.0)]),
        "still": still(out / "still.mp4", frame_at(d3, 2.0)),
        "two_people": side_by_side(out / "two.mp4", d3, d13, 4.0),
        "swap": splice(out / "swap.mp4", [(d3, 0.0, 4.0), (s18, 0.0, 4.0)]),
        "s18_crop": out / "s18_crop.png",
        **{name: videos / name for name in (D3, D13, S18)},
        "sintel": videos / "sintel_trailer_clip_720p.mp4",
        "anime": videos / "musetalk_yongen_anime.mp4",
        "bunny": videos / "bbb_bunny_720p_seg49-51.mp4",
        # Snowy mountains, nobody in them (YuNet finds unsure "faces" in Big Buck Bunny).
        "scenery": splice(
            out / "scenery.mp4", [(videos / "sintel_trailer_clip_720p.mp4", 0.0, 4.0)]
        ),
    }
