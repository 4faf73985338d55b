"""The visible watermark is burned in where watermark_box says, and it moves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.watermark import (
    HOP_S,
    WatermarkError,
    watermark_box,
    watermark_frame,
    watermark_frames,
    watermark_video,
)
from pipeline.media import iter_frames, probe_video

from .conftest import make_mp4, synthetic_frames


def test_frame_marked_inside_box_only() -> None:
    frame = next(synthetic_frames(seed=3))
    marked = watermark_frame(frame, t=0.0)
    x0, y0, x1, y1 = watermark_box(0.0, frame.shape[1], frame.shape[0])
    diff = np.abs(marked.astype(int) - frame.astype(int)).sum(axis=2)
    inside = diff[y0:y1, x0:x1]
    assert (inside > 30).mean() > 0.5  # most of the badge visibly changes pixels
    outside = diff.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() == 0
    assert marked.shape == frame.shape and marked.dtype == np.uint8


def test_position_moves_over_time() -> None:
    boxes = {watermark_box(k * HOP_S, 1280, 720) for k in range(5)}
    assert len(boxes) == 5
    # Between hops it glides: a time inside the glide is at neither anchor.
    mid = watermark_box(HOP_S - 0.2, 1280, 720)
    assert mid not in boxes
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= 1280 and 0 <= y0 < y1 <= 720


def test_frames_iterator_and_bad_frames() -> None:
    frames = [(i / 24, f) for i, f in enumerate(synthetic_frames(seed=4, seconds=0.25))]
    out = list(watermark_frames(frames))
    assert [t for t, _ in out] == [t for t, _ in frames]
    with pytest.raises(WatermarkError):
        watermark_frame(np.zeros((8, 8, 3), dtype=np.uint8), 0.0)
    with pytest.raises(WatermarkError):
        watermark_frame(np.zeros((100, 100), dtype=np.uint8), 0.0)


def test_video_marked_moving_and_audio_kept(work: Path) -> None:
    src = make_mp4(work / "with_audio.mp4", seed=5, seconds=4.5, with_audio=True)
    out = watermark_video(src, work / "marked.mp4", threads=1)
    before, after = probe_video(src), probe_video(out)
    assert (after.width, after.height) == (before.width, before.height)
    assert after.has_audio and before.has_audio
    assert abs(after.duration_s - before.duration_s) < 0.2
    originals = {round(f.t, 2): f.rgb for f in iter_frames(src, every_s=HOP_S)}
    # Every frame of the copy: the re-encode places B-frames where its own content
    # leads it, so a sparse sample of the copy may land one frame off the original's.
    marked = {round(f.t, 2): f.rgb for f in iter_frames(out, every_s=1 / 48)}
    assert set(originals) <= set(marked)
    changed_boxes = []
    for t in sorted(originals):
        x0, y0, x1, y1 = watermark_box(t, after.width, after.height)
        diff = np.abs(marked[t].astype(int) - originals[t].astype(int)).sum(axis=2)
        # H.264 re-encoding adds small differences everywhere; the badge adds large ones.
        inside = diff[y0:y1, x0:x1].mean()
        mask = np.ones(diff.shape, dtype=bool)
        mask[y0:y1, x0:x1] = False
        assert inside > 20 and inside > 5 * diff[mask].mean()
        changed_boxes.append((x0, y0))
    assert len(set(changed_boxes)) == len(changed_boxes) >= 3


def test_video_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(WatermarkError):
        watermark_video(junk, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(WatermarkError, match="different file"):
        watermark_video(junk, junk)
