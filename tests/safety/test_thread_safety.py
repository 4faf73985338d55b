"""Safety models shared by many threads give exactly the serial results (issues 11 and 12).

The pipeline holds one age estimator, one nudity detector, one sentence
model and the PDQ hasher per process and calls them from request threads and
the job worker at once. Here the real weights (all from pip) run on real
fixtures from four threads at once; every result must equal the serial one.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.age import AgeEstimate, DlibAgeEstimator
from detectors.faces import build_detector
from detectors.hashing import pdq_hash
from detectors.nudity import NudeNetDetector, NudityResult
from detectors.text_embedding import SentenceEmbedder, default_model_path
from pipeline.media import iter_frames, load_image

THREADS = 4
PHOTOS = (
    "face_recognition/two_people.jpg",
    "face_recognition/kit_with_rose.jpg",
    "deepface/couple.jpg",
    "insightface/t1.jpg",
)
PROMPTS = (
    "a cat playing the piano in a jazz club",
    "a knight fighting a dragon on a burning bridge",
    "two friends hiking up a snowy mountain at dawn",
    "a yellow sponge in square pants who lives in a pineapple under the sea",
    "a time-lapse of a city skyline from day to night",
    "a chef tossing pizza dough in slow motion",
    "an astronaut floating above the earth, cinematic",
    "a close-up of rain drops on a window",
    "a dog surfing a big wave",
    "a crowd cheering at a football match",
    "a robot painting a self portrait",
    "an old man feeding pigeons in a park",
)


def _hammer(fn: Callable[[int], Any], n: int) -> list[tuple[int, Any]]:
    """``fn(i)`` for every i in range(n) from each of THREADS threads, shuffled, first calls lined up."""
    order = [i for _ in range(THREADS) for i in range(n)]
    random.Random(12).shuffle(order)
    barrier = threading.Barrier(THREADS)

    def worker(k: int) -> list[tuple[int, Any]]:
        barrier.wait()
        return [(i, fn(i)) for i in order[k::THREADS]]

    with ThreadPoolExecutor(THREADS) as ex:
        parts = list(ex.map(worker, range(THREADS)))
    return [pair for part in parts for pair in part]


@pytest.fixture(scope="module")
def age_inputs(fixtures_dir: Path) -> list[tuple[np.ndarray, list[Any] | None]]:
    """UTKFace chips (the whole image is the face) and group photos with HOG boxes."""
    chips = sorted((fixtures_dir / "faces" / "utkface_age").glob("*.jpg"))[::2]
    inputs: list[tuple[np.ndarray, list[Any] | None]] = [(load_image(p), None) for p in chips]
    det = build_detector("dlib-hog", None, threads=1)
    for f in PHOTOS:
        rgb = load_image(fixtures_dir / "faces" / f)
        inputs.append((rgb, det.detect(rgb)))
    return inputs


@pytest.fixture(scope="module")
def frames(fixtures_dir: Path) -> list[np.ndarray]:
    """Face photos and video keyframes: what a scan shows the nudity detector."""
    out = [load_image(fixtures_dir / "faces" / f) for f in PHOTOS]
    for video in ("sintel_trailer_clip_720p.mp4", "liveportrait_d3_woman_talking.mp4"):
        out += [f.rgb for f in iter_frames(fixtures_dir / "videos" / video, every_s=2.0)][:4]
    return out


def _age_key(estimates: list[AgeEstimate]) -> list[tuple[Any, ...]]:
    return [(e.age, e.sigma, e.band, e.box) for e in estimates]


@pytest.mark.slow
def test_age_estimator_shared_by_threads_matches_serial(
    age_inputs: list[tuple[np.ndarray, list[Any] | None]],
) -> None:
    estimator = DlibAgeEstimator(threads=THREADS)
    serial = [_age_key(estimator.estimate(rgb, faces)) for rgb, faces in age_inputs]
    assert sum(len(s) for s in serial) > len(age_inputs)  # the photos have several faces
    results = _hammer(lambda i: _age_key(estimator.estimate(*age_inputs[i])), len(age_inputs))
    assert len(results) == THREADS * len(age_inputs)
    for i, got in results:
        assert got == serial[i]
    assert 1 <= estimator._predictors.made <= THREADS


def _nudity_key(result: NudityResult) -> list[tuple[Any, ...]]:
    return [(d.label, d.score, d.box) for d in result.detections] + [
        ("summary", result.sexual_score, result.exposed_score, result.covered_sexual_score)
    ]


@pytest.mark.slow
def test_nudity_detector_shared_by_threads_matches_serial(frames: list[np.ndarray]) -> None:
    detector = NudeNetDetector(threads=THREADS)
    serial = [_nudity_key(detector.detect(rgb)) for rgb in frames]
    assert any(len(s) > 1 for s in serial)  # it does find things (faces at least)
    results = _hammer(lambda i: _nudity_key(detector.detect(frames[i])), len(frames))
    for i, got in results:
        assert got == serial[i]


@pytest.mark.slow
def test_sentence_model_shared_by_threads_matches_serial() -> None:
    # A private embedder with no cache, so every call runs the tokenizer and the model.
    model = SentenceEmbedder(default_model_path(), cache_entries=0)
    texts = list(PROMPTS)
    pairs = [texts[i : i + 2] for i in range(0, len(texts), 2)]  # padded batches too
    serial = [model.embed([t])[0] for t in texts]
    serial_pairs = [model.embed(p) for p in pairs]
    results = _hammer(lambda i: model.embed([texts[i]])[0], len(texts))
    results_pairs = _hammer(lambda i: model.embed(pairs[i]), len(pairs))
    for i, vec in results:
        np.testing.assert_allclose(vec, serial[i], rtol=0, atol=1e-5)
    for i, vecs in results_pairs:
        np.testing.assert_allclose(vecs, serial_pairs[i], rtol=0, atol=1e-5)
    # Every call ran the model (no cache), so the threads really were inside it at once.
    assert model.encoded == (1 + THREADS) * 2 * len(texts)


@pytest.mark.slow
def test_pdq_hash_from_threads_matches_serial(frames: list[np.ndarray]) -> None:
    serial = [pdq_hash(rgb) for rgb in frames]
    for i, got in _hammer(lambda i: pdq_hash(frames[i]), len(frames)):
        assert got == serial[i]
