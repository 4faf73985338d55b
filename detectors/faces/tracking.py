"""Faces in video: link detections across sampled frames into tracks, embed a few good frames per track.

A track is the same person over time, linked by box overlap (IoU) with a
centre-distance fallback for the larger moves between frames sampled half a
second apart; no embeddings are used to link, so a 10-second clip costs one
detection per sampled frame plus a handful of embeddings per person. The
frames to embed are picked by a quality score (sharpness, size, frontalness
from the detector's head pose) and spread over the track.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.base import DetectorError, Explanation
from detectors.faces.pose import frontalness
from detectors.faces.types import (
    DetectedFace,
    FaceDetector,
    FaceEmbedder,
    box_iou,
    check_rgb,
)


@dataclass(frozen=True)
class TrackSample:
    """One detection of a tracked face at time ``t``."""

    t: float
    face: DetectedFace
    quality: float


@dataclass
class FaceTrack:
    """The same face over time: its samples and embeddings of its best frames."""

    id: int
    samples: list[TrackSample] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    embedding_times: list[float] = field(default_factory=list)
    embedding_model: str | None = None
    detector_model: str | None = None

    def explanation(self) -> Explanation:
        """How this track was made, for the evidence a moderator sees next to a match."""
        best = max(self.samples, key=lambda s: s.quality)
        return Explanation(
            model_id=self.embedding_model or self.detector_model or "unknown",
            method="IoU face tracking over sampled frames; embeddings of the best frames",
            score=float(best.face.score),
            details={
                "detector": self.detector_model,
                "embedder": self.embedding_model,
                "start_s": self.start_s,
                "end_s": self.end_s,
                "samples": len(self.samples),
                "embedding_times": self.embedding_times,
                "best_quality": round(best.quality, 3),
                "best_box": [round(float(v), 1) for v in best.face.box],
            },
        )

    @property
    def start_s(self) -> float:
        return self.samples[0].t

    @property
    def end_s(self) -> float:
        return self.samples[-1].t

    @property
    def times(self) -> list[float]:
        return [s.t for s in self.samples]

    @property
    def boxes(self) -> np.ndarray:
        return np.array([s.face.box for s in self.samples], dtype=np.float32).reshape(-1, 4)

    @property
    def landmarks(self) -> np.ndarray:
        return np.array([s.face.landmarks for s in self.samples], dtype=np.float32).reshape(
            -1, 5, 2
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "samples": len(self.samples),
            "embedding_times": [round(t, 3) for t in self.embedding_times],
            "embedding_model": self.embedding_model,
        }


def sharpness(rgb: np.ndarray, face: DetectedFace, side: int = 64) -> float:
    """Variance of the Laplacian of the face, resampled to ``side`` pixels so sizes compare."""
    import cv2

    x1, y1, x2, y2 = (int(np.rint(v)) for v in face.box)
    crop = rgb[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
    if crop.size == 0:
        return 0.0
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def face_quality(rgb: np.ndarray, face: DetectedFace) -> float:
    """Higher is a better frame to embed: frontal, sharp, big enough."""
    size = min(face.width, face.height)
    size_term = min(1.0, size / 112.0)  # beyond ArcFace's chip size, more pixels add little
    sharp_term = min(1.0, sharpness(rgb, face) / 300.0)
    return frontalness(face.head_pose) * (0.5 + 0.5 * sharp_term) * size_term


def _linkable(last: DetectedFace, face: DetectedFace, iou_threshold: float) -> float:
    """Link score between a track's last box and a new one; 0 when they cannot be the same."""
    iou = box_iou(last.box, face.box)
    if iou >= iou_threshold:
        return 1.0 + iou
    size_a, size_b = max(last.width, last.height), max(face.width, face.height)
    if size_a <= 0 or size_b <= 0 or not 0.5 <= size_a / size_b <= 2.0:
        return 0.0
    ca = np.array([(last.box[0] + last.box[2]) / 2, (last.box[1] + last.box[3]) / 2])
    cb = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
    distance = float(np.linalg.norm(ca - cb)) / max(size_a, size_b)
    # Half a box of movement between samples is still the same head.
    return max(0.0, 1.0 - distance / 0.5) if distance < 0.5 else 0.0


@dataclass
class _Candidate:
    t: float
    quality: float
    crop: np.ndarray
    face: DetectedFace  # in crop coordinates


def _crop_around(
    rgb: np.ndarray, face: DetectedFace, margin: float = 0.6
) -> tuple[np.ndarray, DetectedFace]:
    """A copy of the region around a face (so whole frames need not be kept) and the face in it."""
    h, w = rgb.shape[:2]
    pad = margin * max(face.width, face.height)
    x1 = int(max(0, np.floor(face.box[0] - pad)))
    y1 = int(max(0, np.floor(face.box[1] - pad)))
    x2 = int(min(w, np.ceil(face.box[2] + pad)))
    y2 = int(min(h, np.ceil(face.box[3] + pad)))
    crop = np.ascontiguousarray(rgb[y1:y2, x1:x2])
    return crop, face.shifted(x1, y1)


def _pick_spread(cands: list[_Candidate], k: int, min_gap_s: float) -> list[_Candidate]:
    """Best-quality candidates, at least ``min_gap_s`` apart where possible."""
    chosen: list[_Candidate] = []
    for c in sorted(cands, key=lambda c: -c.quality):
        if all(abs(c.t - o.t) >= min_gap_s for o in chosen):
            chosen.append(c)
        if len(chosen) == k:
            break
    return sorted(chosen, key=lambda c: c.t)


def _thumb_histogram(rgb: np.ndarray) -> np.ndarray:
    import cv2

    small = cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def is_cut(previous: np.ndarray | None, current: np.ndarray, min_correlation: float) -> bool:
    """A scene cut between two sampled frames: their colour histograms stop correlating."""
    import cv2

    if previous is None:
        return False
    return float(cv2.compareHist(previous, current, cv2.HISTCMP_CORREL)) < min_correlation


def track_faces(
    frames: Iterable[Any],
    detector: FaceDetector,
    embedder: FaceEmbedder | None = None,
    per_track: int = 3,
    iou_threshold: float = 0.3,
    max_gap_s: float = 1.5,
    min_quality: float = 0.05,
    cut_correlation: float | None = 0.5,
    small_every_s: float | None = 1.0,
) -> list[FaceTrack]:
    """Tracks of faces over ``frames`` ((t, rgb) pairs or objects with ``.t`` and ``.rgb``).

    With an ``embedder``, each track gets up to ``per_track`` embeddings from
    its best frames (quality >= ``min_quality`` where any frame reaches it).
    A face unseen for more than ``max_gap_s`` ends its track, and so does a
    scene cut (colour-histogram correlation of consecutive sampled frames
    under ``cut_correlation``; ``None`` turns cut detection off): without
    embeddings to link, a different person framed the same way after a cut
    would otherwise continue the previous person's track.
    """
    if per_track < 1:
        raise DetectorError("per_track must be at least 1")
    tracks: list[FaceTrack] = []
    active: list[FaceTrack] = []
    candidates: dict[int, list[_Candidate]] = {}
    keep = per_track * 3
    last_t = -np.inf
    previous_hist: np.ndarray | None = None
    last_small_t, small_found = -np.inf, False
    for item in frames:
        t, rgb = (item.t, item.rgb) if hasattr(item, "rgb") else item
        t = float(t)
        if t < last_t:
            raise DetectorError("frames must come in time order")
        last_t = t
        rgb = check_rgb(rgb)
        if cut_correlation is not None:
            hist = _thumb_histogram(rgb)
            if is_cut(previous_hist, hist, cut_correlation):
                active = []
            previous_hist = hist
        faces = detector.detect(rgb)
        if not faces and small_every_s is not None:
            if small_found or t - last_small_t >= small_every_s - 1e-6:
                faces = detector.detect_small(rgb)
                last_small_t, small_found = t, bool(faces)
        else:
            small_found = False
        active = [tr for tr in active if t - tr.end_s <= max_gap_s]
        pairs = sorted(
            (
                (score, ti, fi)
                for ti, tr in enumerate(active)
                for fi, f in enumerate(faces)
                if (score := _linkable(tr.samples[-1].face, f, iou_threshold)) > 0
            ),
            reverse=True,
        )
        used_tracks: set[int] = set()
        assigned: dict[int, FaceTrack] = {}
        for _, ti, fi in pairs:
            if ti in used_tracks or fi in assigned:
                continue
            used_tracks.add(ti)
            assigned[fi] = active[ti]
        for fi, face in enumerate(faces):
            track = assigned.get(fi)
            if track is None:
                track = FaceTrack(id=len(tracks) + 1, detector_model=detector.info.model_id)
                tracks.append(track)
                active.append(track)
                candidates[track.id] = []
            quality = face_quality(rgb, face)
            track.samples.append(TrackSample(t=t, face=face, quality=quality))
            if embedder is not None:
                pool = candidates[track.id]
                if len(pool) < keep or quality > min(c.quality for c in pool):
                    crop, shifted = _crop_around(rgb, face)
                    pool.append(_Candidate(t=t, quality=quality, crop=crop, face=shifted))
                    if len(pool) > keep:
                        pool.remove(min(pool, key=lambda c: c.quality))
    if embedder is not None:
        for track in tracks:
            pool = candidates[track.id]
            good = [c for c in pool if c.quality >= min_quality] or pool
            span = track.end_s - track.start_s
            chosen = _pick_spread(
                good, per_track, min_gap_s=span / (per_track * 2) if span > 0 else 0
            )
            vectors = [embedder.embed(c.crop, [c.face])[0] for c in chosen]
            track.embeddings = np.stack(vectors).astype(np.float32)
            track.embedding_times = [c.t for c in chosen]
            track.embedding_model = embedder.info.model_id
    return tracks
