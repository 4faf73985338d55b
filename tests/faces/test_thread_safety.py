"""Face backends shared by many threads give exactly the serial results (issues 11 and 12).

The pipeline builds one detector and one embedder per process and calls them
from every request thread and the job worker at once. Before the fix, one
dlib HOG detector called from four threads crashed the process (segmentation
fault / glibc heap corruption). Here the real models (dlib from pip, SCRFD
and YuNet from the shared models folder) run on real fixture photos from four
threads at once, and every result must equal the one computed alone.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.base import ModelUnavailable
from detectors.concurrency import InstancePool
from detectors.faces import build_detector, build_embedder
from detectors.faces.types import DetectedFace, FaceDetector, FaceEmbedder
from pipeline.media import load_image

THREADS = 4
ROUNDS = 1  # every image this many times per thread (so THREADS * ROUNDS calls per image)
FILES = (
    "face_recognition/obama.jpg",
    "face_recognition/biden.jpg",
    "face_recognition/two_people.jpg",
    "face_recognition/kit_with_rose.jpg",
    "deepface/img2.jpg",
    "deepface/img5.jpg",
    "deepface/img6.jpg",
    "deepface/img11.jpg",
    "deepface/img27.jpg",
    "deepface/img44.jpg",
    "deepface/couple.jpg",
    "insightface/t1.jpg",
)


@pytest.fixture(scope="module")
def images(fixtures_dir: Path) -> list[np.ndarray]:
    return [load_image(fixtures_dir / "faces" / f) for f in FILES]


@pytest.fixture(scope="module")
def detectors(test_models_dir: Path) -> dict[str, FaceDetector]:
    """One shared instance per backend, as the pipeline holds them; pools may grow to THREADS."""
    return {
        "dlib-hog": build_detector("dlib-hog", None, threads=THREADS),
        "dlib-hog-video": build_detector("dlib-hog", None, threads=THREADS, for_video=True),
        "yunet": build_detector("yunet", test_models_dir, threads=THREADS),
        "scrfd": build_detector("scrfd", test_models_dir, threads=THREADS),
    }


@pytest.fixture(scope="module")
def embedders(test_models_dir: Path) -> dict[str, FaceEmbedder]:
    found = {"dlib-resnet": build_embedder("dlib-resnet", None, threads=THREADS)}
    # The shared models folder may hold no ArcFace weights; its test then skips, loudly.
    with contextlib.suppress(ModelUnavailable):
        found["arcface"] = build_embedder("arcface", test_models_dir, threads=THREADS)
    return found


def _hammer(fn: Callable[[int], Any], n: int) -> list[Any]:
    """``fn(i)`` for every i in range(n), ROUNDS times each, in a shuffled order on THREADS threads.

    Returns, per call, (i, result). A barrier lines the threads up so their
    first calls overlap.
    """
    order = [i for _ in range(ROUNDS * THREADS) for i in range(n)]
    random.Random(11).shuffle(order)
    barrier = threading.Barrier(THREADS)

    def worker(k: int) -> list[tuple[int, Any]]:
        barrier.wait()
        return [(i, fn(i)) for i in order[k::THREADS]]

    with ThreadPoolExecutor(THREADS) as ex:
        parts = list(ex.map(worker, range(THREADS)))
    return [pair for part in parts for pair in part]


def _assert_same_faces(got: Sequence[DetectedFace], want: Sequence[DetectedFace]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.box == w.box
        assert g.score == w.score
        np.testing.assert_array_equal(g.landmarks, w.landmarks)
        assert g.pose == w.pose


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dlib-hog", "dlib-hog-video", "yunet", "scrfd"])
def test_detector_shared_by_threads_matches_serial(
    detectors: dict[str, FaceDetector], images: list[np.ndarray], name: str
) -> None:
    det = detectors[name]
    serial = [det.detect(rgb) for rgb in images]
    assert sum(len(f) for f in serial) >= len(images)  # the photos do have faces
    results = _hammer(lambda i: det.detect(images[i]), len(images))
    assert len(results) == ROUNDS * THREADS * len(images)
    for i, faces in results:
        _assert_same_faces(faces, serial[i])
    pool = getattr(det, "_pool", None)
    if pool is not None:
        assert 1 <= pool.made <= THREADS


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dlib-resnet", "arcface"])
def test_embedder_shared_by_threads_matches_serial(
    detectors: dict[str, FaceDetector],
    embedders: dict[str, FaceEmbedder],
    images: list[np.ndarray],
    name: str,
) -> None:
    if name not in embedders:
        pytest.skip(f"SKIPPED LOUDLY: no {name} weights in the shared models folder")
    emb = embedders[name]
    faces = [detectors["scrfd"].detect(rgb) for rgb in images]
    serial = [emb.embed(rgb, f) for rgb, f in zip(images, faces, strict=True)]
    results = _hammer(lambda i: emb.embed(images[i], faces[i]), len(images))
    for i, vectors in results:
        assert vectors.shape == serial[i].shape
        np.testing.assert_allclose(vectors, serial[i], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_scan_like_mix_of_models_at_once(
    detectors: dict[str, FaceDetector],
    embedders: dict[str, FaceEmbedder],
    images: list[np.ndarray],
) -> None:
    """Several scans at once: each call detects with one backend and embeds its largest faces."""
    names = ["dlib-hog-video", "yunet", "scrfd"]
    emb = embedders["dlib-resnet"]

    def scan(i: int, name: str) -> tuple[list[DetectedFace], np.ndarray]:
        faces = detectors[name].detect(images[i])
        largest = sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return faces, emb.embed(images[i], largest[:2])

    jobs = [(i, n) for i in range(6) for n in names]
    serial = [scan(i, n) for i, n in jobs]
    results = _hammer(lambda j: scan(*jobs[j]), len(jobs))
    for j, (faces, vectors) in results:
        _assert_same_faces(faces, serial[j][0])
        np.testing.assert_allclose(vectors, serial[j][1], rtol=0, atol=1e-5)


# -- the pool itself (no models) ------------------------------------------------------


def test_pool_never_makes_more_than_its_size_and_reuses_instances() -> None:
    made: list[object] = []
    lock = threading.Lock()

    def factory() -> object:
        with lock:
            made.append(object())
            return made[-1]

    pool: InstancePool[object] = InstancePool(factory, 2)
    inside = 0
    most_inside = 0
    count_lock = threading.Lock()
    held: set[int] = set()

    def use(_: int) -> None:
        nonlocal inside, most_inside
        with pool.use() as instance:
            with count_lock:
                assert id(instance) not in held  # never lent to two callers at once
                held.add(id(instance))
                inside += 1
                most_inside = max(most_inside, inside)
            time.sleep(0.002)
            with count_lock:
                inside -= 1
                held.discard(id(instance))

    with ThreadPoolExecutor(6) as ex:
        list(ex.map(use, range(60)))
    assert len(made) == pool.made <= 2
    assert most_inside <= 2


def test_pool_lends_the_first_instance_and_survives_a_failing_factory() -> None:
    first = object()
    calls = 0

    def failing() -> object:
        nonlocal calls
        calls += 1
        raise RuntimeError("weights vanished")

    pool: InstancePool[object] = InstancePool(failing, 2, first=first)
    with pool.use() as a:
        assert a is first
        with pytest.raises(RuntimeError), pool.use():
            pass
        assert pool.made == 1  # the failed build gave its slot back
    with pool.use() as again:
        assert again is first
    assert calls == 1


def test_pool_waits_for_a_free_instance_when_full() -> None:
    pool: InstancePool[object] = InstancePool(object, 1)
    order: list[str] = []
    entered = threading.Event()

    def holder() -> None:
        with pool.use():
            entered.set()
            time.sleep(0.05)
            order.append("first done")

    t = threading.Thread(target=holder)
    t.start()
    entered.wait()
    with pool.use():
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]
    assert pool.made == 1
