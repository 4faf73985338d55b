"""Image side: the copy detector on real fixture art, the open_clip path with a random-weight model, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.characters import negative_images, transforms
from detectors.base import MediaError, ModelUnavailable
from detectors.characters import (
    CharacterRef,
    CopyDetector,
    OpenClipMatcher,
    build_character_detectors,
    find_open_clip_models,
    write_random_tiny_model,
)
from pipeline.media import load_image


@pytest.fixture(scope="module")
def detector(fixture_characters) -> CopyDetector:
    det = CopyDetector()
    det.add_many(fixture_characters[0])
    return det


@pytest.mark.parametrize("cid", ["go_gopher", "ferris", "tux", "big_buck_bunny", "pepper"])
def test_transformed_copies_are_caught(
    detector: CopyDetector, fixture_characters, cid: str
) -> None:
    ref = next(r for r in fixture_characters[0] if r.character_id == cid)
    for name, img in transforms(ref.reference_images[0]).items():
        got = detector.check(img, t=1.5)
        assert [m.character_id for m in got] == [cid], name
        m = got[0]
        assert m.score >= m.threshold and m.evidence["t"] == 1.5
        assert m.evidence["method"] in ("perceptual_hash", "orb_ransac")
        assert m.explanation.model_id == detector.info.model_id


class _ImagehashWindows(CopyDetector):
    """The copy detector hashing its windows with imagehash itself: the reference."""

    _hashes = CopyDetector._hashes_reference


def _hash_hits(det: CopyDetector, img: np.ndarray) -> set[str]:
    return {m.character_id for m in det.check(img) if m.evidence["method"] == "perceptual_hash"}


def test_window_hashes_stay_close_to_imagehash(fixture_characters, fixtures_dir: Path) -> None:
    """Same windows kept; pHash and dHash within a few bits of imagehash's, window by window."""
    import cv2

    from detectors.characters.image import _popcount, _resize_max

    det = CopyDetector()
    images = [img for r in fixture_characters[0] for img in r.reference_images]
    images += negative_images(fixtures_dir, limit=6)
    d_p: list[int] = []
    d_d: list[int] = []
    for img in images:
        gray = _resize_max(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 800, min_side=320)
        fast, ref = det._hashes(gray), det._hashes_reference(gray)
        assert fast[2] == ref[2]
        d_p += _popcount(fast[0] ^ ref[0]).tolist()
        d_d += _popcount(fast[1] ^ ref[1]).tolist()
    assert len(d_p) > 100
    # Measured on these fixtures: pHash mean 0.6 bits (max 4), dHash mean 1.5 (max 10).
    assert np.mean(d_p) <= 1.0 and max(d_p) <= 6
    assert np.mean(d_d) <= 2.5 and max(d_d) <= 12


def test_small_windows_hash_exactly_as_imagehash() -> None:
    """Windows under 4x the hash size skip the box step: imagehash's own resize, same bits."""
    import cv2

    rng = np.random.default_rng(3)
    gray = cv2.GaussianBlur(rng.integers(0, 256, (200, 240), dtype=np.uint8), (3, 3), 1)
    det = CopyDetector()
    fast, ref = det._hashes(gray), det._hashes_reference(gray)
    assert fast[2] == ref[2] and len(ref[2]) == 14
    small = [i for i, (x0, y0, x1, y1) in enumerate(ref[2]) if (y1 - y0) * 200 < 128]
    assert small
    assert (fast[0][small] == ref[0][small]).all() and (fast[1][small] == ref[1][small]).all()


def test_hash_matches_equal_the_imagehash_reference(fixture_characters, fixtures_dir: Path) -> None:
    """Every transformed copy, held-out image and negative: the same characters found by hash."""
    fast, ref = CopyDetector(), _ImagehashWindows()
    fast.add_many(fixture_characters[0])
    ref.add_many(fixture_characters[0])
    cases = [
        t_img for r in fixture_characters[0] for t_img in transforms(r.reference_images[0]).values()
    ]
    cases += [img for imgs in fixture_characters[1].values() for img in imgs]
    cases += negative_images(fixtures_dir, limit=8)
    found = 0
    for img in cases:
        expected = _hash_hits(ref, img)
        assert _hash_hits(fast, img) == expected
        found += bool(expected)
    assert found >= 10  # the hash path is exercised, not only ORB


def test_held_out_frame_and_art(detector: CopyDetector, fixture_characters) -> None:
    holdout = fixture_characters[1]
    # bbb_bunny_02 is a later frame of the same shot as registered bbb_bunny_01;
    # tux_boot_old is an older rendering of the registered Tux.
    assert [m.character_id for m in detector.check(holdout["big_buck_bunny"][0])] == [
        "big_buck_bunny"
    ]
    assert [m.character_id for m in detector.check(holdout["tux"][0])] == ["tux"]


def test_unrelated_photos_do_not_match(detector: CopyDetector, fixtures_dir: Path) -> None:
    negatives = negative_images(fixtures_dir, limit=8)
    assert negatives
    for img in negatives:
        assert detector.check(img) == []
    flat = np.full((200, 300, 3), 255, np.uint8)
    assert detector.check(flat) == []


def test_remove_forgets_character(fixture_characters) -> None:
    ref = fixture_characters[0][0]
    det = CopyDetector()
    det.add(ref)
    assert det.check(ref.reference_images[0])
    det.remove(ref.character_id)
    assert det.check(ref.reference_images[0]) == [] and len(det) == 0


def test_bad_images(detector: CopyDetector, tmp_path: Path) -> None:
    not_image = tmp_path / "ref.png"
    not_image.write_text("this is not a picture")
    with pytest.raises(MediaError, match="not a recognised image"):
        load_image(not_image)
    with pytest.raises(MediaError, match="RGB uint8"):
        detector.check(np.zeros((50, 50), np.uint8))
    with pytest.raises(MediaError, match="not a decoded image"):
        detector.check("frame.png")  # type: ignore[arg-type]
    with pytest.raises(MediaError, match="too small"):
        CharacterRef("x", "X", reference_images=(np.zeros((4, 4, 3), np.uint8),))


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_random_tiny_model(root / "open_clip" / "tiny")
    (root / "open_clip" / "incomplete").mkdir()  # no config, no weights: ignored
    return root


def test_open_clip_random_weight_path(tiny_models_dir: Path, fixture_characters) -> None:
    (folder,) = find_open_clip_models(tiny_models_dir)
    refs = fixture_characters[0]
    fast, slow = OpenClipMatcher(folder), OpenClipMatcher(folder, brute_force=True)
    assert (
        fast.info.random_weights
        and "RANDOM WEIGHTS" in fast.info.notes
        and fast.info.embedding_dim == 32
    )
    fast.add_many(refs)
    slow.add_many(refs)
    query = refs[2].reference_images[0]
    a, b = fast.check(query, t=0.5), slow.check(query, t=0.5)
    assert [(m.character_id, m.backend) for m in a] == [(m.character_id, m.backend) for m in b]
    assert np.allclose([m.score for m in a], [m.score for m in b], atol=1e-4)
    # The query is itself a reference image: cosine 1 to it, whatever the weights.
    top = next(m for m in a if m.character_id == refs[2].character_id)
    assert top.backend == "image.clip.reference" and top.score == pytest.approx(1.0, abs=1e-4)
    assert top.evidence["random_weights"] is True
    fast.remove(refs[2].character_id)
    assert refs[2].character_id not in {m.character_id for m in fast.check(query)}


def test_open_clip_missing_or_broken(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        OpenClipMatcher(tmp_path)
    assert find_open_clip_models(tmp_path) == [] and find_open_clip_models(None) == []


def test_factory_picks_available_backends(tiny_models_dir: Path, fixture_characters) -> None:
    refs = fixture_characters[0][:2]
    dets = build_character_detectors(refs, tiny_models_dir, semantic=False)
    assert [type(b).__name__ for b in dets.image] == ["CopyDetector", "OpenClipMatcher"]
    got = dets.check_image(refs[0].reference_images[0])
    assert got[0].character_id == refs[0].character_id and got[0].backend.startswith("image.copy")
    assert {m.character_id for m in dets.prompt.check("Go Gopher on a bike")} == {"go_gopher"}
    only_copy = build_character_detectors(refs, None, semantic=False)
    assert [type(b).__name__ for b in only_copy.image] == ["CopyDetector"]


def test_features_made_by_registry_free_backends_match_here(
    tiny_models_dir: Path, fixture_characters
) -> None:
    """A process with no character (a Ray actor) computes features; the registry's matches them."""
    import pickle

    refs = fixture_characters[0]
    here = build_character_detectors(refs, tiny_models_dir, semantic=False)
    elsewhere = build_character_detectors([], tiny_models_dir, semantic=False)
    assert here.image_signature == elsewhere.image_signature
    assert len(here.image_signature) == 2  # the copy detector and the CLIP backend
    holdout = fixture_characters[1]
    for image in (holdout["tux"][0], holdout["big_buck_bunny"][0], refs[1].reference_images[0]):
        shipped = pickle.loads(pickle.dumps(elsewhere.image_features(image)))
        assert elsewhere.match_image(shipped, t=2.0) == []  # it holds no character
        got = here.match_image(shipped, t=2.0)
        want = here.check_image(image, t=2.0)
        assert [(m.character_id, m.backend, m.score) for m in got] == [
            (m.character_id, m.backend, m.score) for m in want
        ]
        assert got and got[0].evidence["t"] == 2.0
    # Settings that change the features change the signature.
    assert CopyDetector(max_side=640).feature_signature != CopyDetector().feature_signature
    with pytest.raises(ValueError, match="feature sets"):
        here.match_image([], t=0.0)
