"""The text-to-video interface and its RANDOM-WEIGHT diffusers backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.video import (
    TINY_MODEL_ID,
    DiffusersTextToVideo,
    GeneratorError,
    build_text_to_video,
    describe_text_to_video,
    find_pipeline_folders,
)


@pytest.mark.parametrize(
    ("seconds", "fps", "width", "height"), [(1.0, 8, 128, 64), (0.5, 4, 64, 96)]
)
def test_frames_have_the_requested_shape(
    tiny_t2v: DiffusersTextToVideo, seconds: float, fps: int, width: int, height: int
) -> None:
    frames = tiny_t2v.generate("a red kite", seconds=seconds, fps=fps, width=width, height=height)
    assert len(frames) == round(seconds * fps)
    for f in frames:
        assert f.shape == (height, width, 3)
        assert f.dtype == np.uint8
    # Random weights still make pictures with texture, not a flat field.
    assert float(np.std(frames[0])) > 5.0


def test_is_labelled_random_weight(tiny_t2v: DiffusersTextToVideo) -> None:
    info = tiny_t2v.info
    assert info.random_weights is True
    assert info.model_id == TINY_MODEL_ID and "RANDOM" in info.model_id
    assert "RANDOM-WEIGHT" in info.notes
    assert info.to_dict()["random_weights"] is True


def test_seed_decides_the_output(tiny_t2v: DiffusersTextToVideo) -> None:
    a = tiny_t2v.generate("a boat", seconds=0.25, fps=4, width=64, height=64, seed=7)
    b = tiny_t2v.generate("a boat", seconds=0.25, fps=4, width=64, height=64, seed=7)
    c = tiny_t2v.generate("a boat", seconds=0.25, fps=4, width=64, height=64, seed=8)
    assert np.array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": "  "}, "prompt is empty"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": 100}, "seconds"),
        ({"fps": 0}, "fps"),
        ({"width": 100}, "width"),
        ({"height": 4096}, "height"),
    ],
)
def test_bad_requests_are_refused_clearly(
    tiny_t2v: DiffusersTextToVideo, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"prompt": "a cat", "seconds": 0.25, "fps": 4, "width": 64,
                               "height": 64} | kwargs  # fmt: skip
    with pytest.raises(GeneratorError, match=message):
        tiny_t2v.generate(**args)  # type: ignore[arg-type]


def test_real_pipeline_folders_are_found_and_bad_ones_refused(tmp_path: Path) -> None:
    assert describe_text_to_video(tmp_path) == TINY_MODEL_ID
    assert find_pipeline_folders(tmp_path) == []
    folder = tmp_path / "diffusers" / "broken-t2v"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "TextToVideoSDPipeline"}')
    assert find_pipeline_folders(tmp_path) == [folder]
    assert describe_text_to_video(tmp_path) == "diffusers/broken-t2v"
    with pytest.raises(GeneratorError, match="broken-t2v"):
        build_text_to_video(tmp_path, "auto")
    with pytest.raises(GeneratorError, match="no diffusers pipeline named"):
        build_text_to_video(tmp_path, "missing")
