"""Bad and awkward inputs end in a correct result or a clear error, never a crash."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detectors.base import MediaError
from detectors.faces import NoFaceFound, embed_largest
from detectors.faces.tracking import track_faces
from detectors.faces.types import FaceDetector, FaceEmbedder
from pipeline.media import iter_frames, load_image


@pytest.fixture(scope="module")
def obama_path(fixtures_dir: Path) -> Path:
    return fixtures_dir / "faces" / "face_recognition" / "obama.jpg"


def _save(img: Image.Image, path: Path, fmt: str) -> Path:
    img.save(path, format=fmt)
    return path


@pytest.mark.parametrize("name", ["dlib-hog", "scrfd", "yunet"])
def test_converted_images_still_show_the_face(
    detectors_by_name: dict[str, FaceDetector], obama_path: Path, tmp_path: Path, name: str
) -> None:
    base = Image.open(obama_path).convert("RGB")
    gray = _save(base.convert("L"), tmp_path / "gray.png", "PNG")
    rgba = base.convert("RGBA")
    rgba.putalpha(200)
    rgba_path = _save(rgba, tmp_path / "rgba.png", "PNG")
    arr16 = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    png16 = _save(Image.fromarray(arr16), tmp_path / "sixteen.png", "PNG")
    webp_as_jpg = _save(base, tmp_path / "really_webp.jpg", "WEBP")
    for path in (gray, rgba_path, png16, webp_as_jpg):
        rgb = load_image(path)
        assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
        assert len(detectors_by_name[name].detect(rgb)) == 1, path.name


def test_fixture_webp_named_jpg_and_32bit_png(
    detectors_by_name: dict[str, FaceDetector], dlib_embedder: FaceEmbedder, fixtures_dir: Path
) -> None:
    faces = fixtures_dir / "faces"
    for file in ("deepface/img47.jpg", "face_recognition/32bit.png"):
        rgb = load_image(faces / file)
        face, vec = embed_largest(rgb, detectors_by_name["dlib-hog"], dlib_embedder)
        assert vec.shape == (128,) and face.score > 0


def test_truncated_and_corrupt_images_are_media_errors(obama_path: Path, tmp_path: Path) -> None:
    data = obama_path.read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 3])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + b"\x00" * 500)
    for path in (truncated, garbage):
        with pytest.raises(MediaError):
            load_image(path)


def test_tiny_face_gives_a_result_or_no_face_not_a_crash(
    detectors_by_name: dict[str, FaceDetector], dlib_embedder: FaceEmbedder, obama_path: Path
) -> None:
    img = Image.open(obama_path).convert("RGB")
    img.thumbnail((48, 48))
    rgb = np.asarray(img)
    for det in detectors_by_name.values():
        faces = det.detect(rgb)
        assert isinstance(faces, list)
        if faces:
            assert dlib_embedder.embed(rgb, faces).shape == (len(faces), 128)
        else:
            with pytest.raises(NoFaceFound):
                embed_largest(rgb, det, dlib_embedder)


def test_face_at_the_image_edge_is_aligned_without_error(
    detectors_by_name: dict[str, FaceDetector], dlib_embedder: FaceEmbedder, fixtures_dir: Path
) -> None:
    rgb = load_image(fixtures_dir / "faces" / "face_recognition" / "obama_partial_face.jpg")
    for det in detectors_by_name.values():
        faces = det.detect(rgb)
        vectors = dlib_embedder.embed(rgb, faces)
        assert vectors.shape == (len(faces), 128)
        assert np.all(np.isfinite(vectors))


def test_corrupt_and_truncated_videos_are_media_errors(
    detectors_by_name: dict[str, FaceDetector], fixtures_dir: Path, tmp_path: Path
) -> None:
    data = (fixtures_dir / "videos" / "liveportrait_d3_woman_talking.mp4").read_bytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(data[:32] + bytes(4096))
    with pytest.raises(MediaError):
        track_faces(iter_frames(corrupt), detectors_by_name["yunet"])
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    # The moov atom sits at the end of this file, so half of it is unreadable:
    # either a clear error or the frames before the cut, never a crash.
    try:
        tracks = track_faces(iter_frames(truncated), detectors_by_name["yunet"])
    except MediaError:
        return
    assert isinstance(tracks, list)


def test_in_memory_bytes_and_png_roundtrip(
    detectors_by_name: dict[str, FaceDetector], obama_path: Path
) -> None:
    buf = io.BytesIO()
    Image.open(obama_path).save(buf, format="PNG")
    rgb = load_image(buf.getvalue())
    assert len(detectors_by_name["dlib-hog"].detect(rgb)) == 1
