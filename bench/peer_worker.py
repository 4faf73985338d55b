"""The peer side of ``bench.peer``: the ``face_recognition`` library on the bench's clips.

Runs under the peer's own virtualenv (``bench/.peer-venv``: face_recognition,
dlib, numpy, pillow, av), never the main one, so it imports nothing from
Greenroom. Reads one JSON request on stdin::

    {"people": {"name": ["photo.png", ...]}, "clips": ["a.mp4", ...],
     "every_s": 0.5, "max_side": 1280, "every_frame": ["a.mp4"]}

enrols each person from their photos (the largest face of each), then for
every clip decodes frames on the same grid Greenroom samples (the first frame
at or after ``0, every_s, 2*every_s, ...``; ``every_s`` 0 is every frame),
downscales the longer side to ``max_side`` and runs the library's documented
defaults: ``face_locations`` (HOG, one upsample), ``face_encodings`` (5-point
landmarks, one jitter) and ``face_distance``. Models are loaded by the
enrolment before any clip is timed (warm). Prints one JSON object on stdout:
per clip, per sampled time, the faces with their distance to each person
(the minimum over that person's photos), and decode and face-work seconds
(wall and this process's CPU).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import av
import numpy as np


def sampled_frames(
    path: Path, every_s: float, max_side: int | None
) -> Iterator[tuple[float, np.ndarray]]:
    """(time, RGB) on Greenroom's sampling grid and output size (``pipeline.media._decode``).

    Each sample is the first frame at or after its grid time; the next grid
    point follows the frame's own time, and frames larger than ``max_side``
    are scaled in the decoder's colour conversion (bilinear), as Greenroom
    does. Unlike Greenroom, every frame is decoded: the library has no
    sampling of its own, so this is what a caller of it would write.
    """
    next_t = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            t = float(frame.time) if frame.time is not None else next_t
            if t + 1e-6 < next_t:
                continue
            w, h = frame.width, frame.height
            if max_side and max(w, h) > max_side:
                scale = max_side / max(w, h)
                w, h = max(1, round(w * scale)), max(1, round(h * scale))
            if (w, h) == (frame.width, frame.height):
                rgb = frame.to_ndarray(format="rgb24")
            else:
                rgb = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="BILINEAR")
            yield t, rgb
            next_t = (int((t + 1e-6) / every_s) + 1) * every_s if every_s > 0 else t


def _largest(locations: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    if not locations:
        return []
    return [max(locations, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))]


def run_clip(
    path: Path, people: dict[str, np.ndarray], every_s: float, max_side: int | None
) -> dict[str, Any]:
    """One clip: faces and distances per sampled time, decode and face-work seconds."""
    import face_recognition

    samples: list[dict[str, Any]] = []
    decode_wall = decode_cpu = face_wall = face_cpu = 0.0
    frames = sampled_frames(path, every_s, max_side)
    while True:
        # Decode and face work interleave (every frame of a clip would not fit in
        # memory as a list); each step is timed on its own.
        w0, c0 = time.perf_counter(), time.process_time()
        item = next(frames, None)
        w1, c1 = time.perf_counter(), time.process_time()
        decode_wall += w1 - w0
        decode_cpu += c1 - c0
        if item is None:
            break
        t, rgb = item
        locations = face_recognition.face_locations(rgb)
        encodings = face_recognition.face_encodings(rgb, locations)
        faces = []
        for box, enc in zip(locations, encodings, strict=True):
            distances = {
                name: float(face_recognition.face_distance(known, enc).min())
                for name, known in people.items()
            }
            faces.append({"box": list(box), "distances": distances})
        face_wall += time.perf_counter() - w1
        face_cpu += time.process_time() - c1
        samples.append({"t": round(t, 4), "faces": faces})
    return {
        "clip": path.name,
        "every_s": every_s,
        "max_side": max_side,
        "samples": samples,
        "decode_s": round(decode_wall, 3),
        "decode_cpu_s": round(decode_cpu, 3),
        "face_s": round(face_wall, 3),
        "face_cpu_s": round(face_cpu, 3),
    }


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main() -> None:
    import dlib
    import face_recognition
    import face_recognition_models
    import PIL

    request = json.load(sys.stdin)
    every_s = float(request["every_s"])
    max_side = request.get("max_side")
    w0, c0 = time.perf_counter(), time.process_time()
    people: dict[str, np.ndarray] = {}
    for name, photos in request["people"].items():
        encodings = []
        for photo in photos:
            rgb = face_recognition.load_image_file(photo)
            boxes = _largest(face_recognition.face_locations(rgb))
            if not boxes:
                raise SystemExit(f"no face found in enrolment photo {photo}")
            encodings.append(face_recognition.face_encodings(rgb, boxes)[0])
        people[name] = np.stack(encodings)
    enrol = {"s": round(time.perf_counter() - w0, 3), "cpu_s": round(time.process_time() - c0, 3)}
    clips = [run_clip(Path(p), people, every_s, max_side) for p in request["clips"]]
    every_frame = [run_clip(Path(p), people, 0.0, max_side) for p in request.get("every_frame", [])]
    out = {
        "versions": {
            "python": sys.version.split()[0],
            # The package's own __version__ says 1.2.3 in the 1.3.0 release.
            "face_recognition": metadata.version("face_recognition"),
            "face_recognition_models": metadata.version("face_recognition_models"),
            "dlib": dlib.__version__,
            "numpy": np.__version__,
            "pillow": PIL.__version__,
            "av": av.__version__,
            "resnet_model_sha256": _sha256(
                face_recognition_models.face_recognition_model_location()
            ),
        },
        "settings": {
            "detector": "face_locations: HOG, number_of_times_to_upsample=1 (default)",
            "encoder": "face_encodings: model='small' (5 points), num_jitters=1 (default)",
            "dlib_threads": "dlib's own (DLIB_NUM_THREADS unset)",
        },
        "enrolment": enrol,
        "clips": clips,
        "every_frame": every_frame,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
