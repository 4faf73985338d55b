"""The image-side interface for characters and the offline copy detector (perceptual hashes + ORB).

:class:`ImageCharacterMatcher` is what the scan pipeline calls on each
keyframe; backends are interchangeable and declare a :class:`ModelInfo`.

:class:`CopyDetector` works from pip alone (imagehash, OpenCV). It catches
*re-use of registered art*: the reference image itself or a frame, crop,
resize, re-encode, recolour-light or text overlay of it, and the reference
pasted into a larger frame. Two independent tests, either one suffices:

- perceptual hashes (pHash and dHash, 64 bits each) of the whole image and of
  sub-windows at several scales, on both the reference and the query side, so
  a crop of the reference or the reference inside a bigger frame still lines
  up with some window; both hashes must agree within their distances;
- ORB keypoints matched to each reference (ratio test) and verified
  geometrically with a RANSAC homography; the score is the inlier count.

It cannot catch a *new drawing* of the character (other pose, other artist,
3-D render), which shares no pixels with the references: that needs the
semantic open_clip backend (:mod:`detectors.characters.clip`) with real weights.
ORB matching is linear in the number of reference images (fine for hundreds,
slow for tens of thousands; a shared LSH index would be the next step).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import cv2
import imagehash
import numpy as np
import scipy.fft
from PIL import Image

from detectors.base import Explanation, ModelInfo
from detectors.characters.types import CharacterMatch, CharacterRef, check_rgb

COPY_MODEL_ID = "greenroom-copy-detect-v1(phash+dhash+orb)"


class ImageCharacterMatcher(ABC):
    """Find registered characters in one image (a keyframe). Backends add/remove characters one at a time."""

    info: ModelInfo

    @abstractmethod
    def add(self, ref: CharacterRef) -> None:
        """Register or replace a character (its reference images)."""

    @abstractmethod
    def remove(self, character_id: str) -> None:
        """Forget a character; unknown ids are ignored."""

    @abstractmethod
    def features(self, rgb: np.ndarray) -> Any:
        """What :meth:`match` needs of ``rgb`` (H, W, 3 uint8): references play no part.

        Picklable, and a function of the image and :attr:`feature_signature`
        alone, so another process with the same backend may compute it (a Ray
        actor, for a scan's keyframes) and this one match it.
        """

    @abstractmethod
    def match(self, features: Any, t: float | None = None) -> list[CharacterMatch]:
        """Characters in the image ``features`` came from, best first; ``t`` is echoed as evidence."""

    @property
    def feature_signature(self) -> str:
        """Equal on two backends exactly when their :meth:`features` of an image are equal."""
        return self.info.model_id

    def check(self, rgb: np.ndarray, t: float | None = None) -> list[CharacterMatch]:
        """Characters in ``rgb`` (H, W, 3 uint8), best first; ``t`` is the frame time, echoed as evidence."""
        return self.match(self.features(rgb), t)

    def add_many(self, refs: list[CharacterRef]) -> None:
        for ref in refs:
            self.add(ref)


@dataclass
class _RefFeatures:
    character_id: str
    name: str
    image_index: int
    size: tuple[int, int]
    work_size: tuple[int, int]  # (w, h) of the resized image the features come from
    phash: np.ndarray  # (n_windows,) uint64
    dhash: np.ndarray
    windows: list[tuple[float, float, float, float]]  # fractions of the image: x0, y0, x1, y1
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    descriptors: np.ndarray | None = None


@dataclass(frozen=True)
class CopyQuery:
    """A keyframe as the copy detector matches it: window hashes and ORB keypoints."""

    phash: np.ndarray  # (n_windows,) uint64
    dhash: np.ndarray
    windows: list[tuple[float, float, float, float]]
    keypoints: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray | None


def _resize_max(gray: np.ndarray, max_side: int, min_side: int = 0) -> np.ndarray:
    h, w = gray.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if min_side and max(h, w) * scale < min_side:
        # Tiny icons have too few keypoints at their own size.
        scale = min_side / max(h, w)
    if abs(scale - 1.0) < 1e-3:
        return gray
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(
        gray, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=interp
    )


def _hash_bits(h: imagehash.ImageHash) -> np.uint64:
    return np.uint64(int(str(h), 16))


def _bits_to_u64(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans to n uint64, most significant first: imagehash's hex order."""
    return np.packbits(bits, axis=1).view(">u8").astype(np.uint64).ravel()


_FLAT_STD = 12.0  # a window whose grey levels spread less is flat
_PHASH_SIDE = 32  # imagehash's pHash resizes to 32x32 before its DCT
_BOX_FACTOR = 4  # box-average to 4x the hash's size before the Lanczos step


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)


class CopyDetector(ImageCharacterMatcher):
    """Offline near-duplicate / re-use detector of registered reference art."""

    def __init__(
        self,
        phash_max: int = 10,
        dhash_max: int = 14,
        min_inliers: int = 15,
        min_inlier_ratio: float = 0.25,
        ratio: float = 0.75,
        scales: tuple[float, ...] = (1.0, 0.75, 0.5),
        orb_features: int = 1500,
        max_side: int = 800,
        threads: int = 1,
    ) -> None:
        cv2.setNumThreads(max(1, threads))
        self.phash_max, self.dhash_max = phash_max, dhash_max
        self.min_inliers, self.ratio = min_inliers, ratio
        self.min_inlier_ratio = min_inlier_ratio
        self.scales, self.max_side = scales, max_side
        # Concurrency (issue 11): an ORB object is not documented reentrant, and
        # making one costs microseconds, so every call makes its own. The
        # matcher is shared: knnMatch(query, train) is const (it matches on a
        # clone). Checks read a snapshot of ``_refs``; add/remove replace one
        # entry at a time, so a check sees each character before or after.
        self.orb_features = orb_features
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        self._refs: dict[str, list[_RefFeatures]] = {}
        self.info = ModelInfo(
            model_id=COPY_MODEL_ID,
            task="character-image-copy-detection",
            licence="BSD-2-Clause (imagehash) / Apache-2.0 (OpenCV); no learned weights",
            input_size=(max_side, max_side),
            notes="catches copies, crops, resizes, re-encodes and overlays of registered reference art; "
            "not new drawings of a character",
        )

    def __len__(self) -> int:
        return len(self._refs)

    # -- features ---------------------------------------------------------
    def _windows(self, w: int, h: int) -> list[tuple[int, int, int, int]]:
        out: list[tuple[int, int, int, int]] = []
        for s in self.scales:
            ww, wh = max(8, round(w * s)), max(8, round(h * s))
            steps = 1 if s >= 0.999 else round(1 / s * 2) - 1  # half-window stride
            xs = np.linspace(0, w - ww, steps).round().astype(int) if steps > 1 else [0]
            ys = np.linspace(0, h - wh, steps).round().astype(int) if steps > 1 else [0]
            out += [(int(x), int(y), int(x) + ww, int(y) + wh) for y in ys for x in xs]
        return out

    def _hashes(
        self, gray: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float, float]]]:
        """pHash and dHash of every window that is not flat, from two integral images.

        imagehash (:meth:`_hashes_reference`) resizes each window with Lanczos from
        all its pixels: ~16 ms an 800 px frame, a fifth of the characters source on a
        video. Here each window is first box-averaged to 4x the hash's size through
        integral images (a few thousand lookups, whatever the window's size), then
        Lanczos-resized from that; the flatness test reads the same integrals. The
        hashes stay within a few bits of imagehash's (tests pin the bound), the
        windows kept are the same, and references and keyframes are hashed alike.
        """
        h, w = gray.shape
        ii, ii2 = cv2.integral2(gray, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)

        def box_means(x0: int, y0: int, x1: int, y1: int, nx: int, ny: int) -> np.ndarray:
            xs = np.linspace(x0, x1, nx + 1).round().astype(np.intp)
            ys = np.linspace(y0, y1, ny + 1).round().astype(np.intp)
            s = ii[np.ix_(ys, xs)]
            sums = s[1:, 1:] - s[:-1, 1:] - s[1:, :-1] + s[:-1, :-1]
            return (sums / np.outer(np.diff(ys), np.diff(xs))).astype(np.float32)

        def lanczos(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
            # Rounded as imagehash's 8-bit images are: equal neighbours compare False.
            small = Image.fromarray(cells, mode="F").resize(size, Image.Resampling.LANCZOS)
            return np.asarray(small, dtype=np.float64).round()

        phash_px, dhash_px, wins = [], [], []
        for x0, y0, x1, y1 in self._windows(w, h):
            n = (x1 - x0) * (y1 - y0)
            s1 = ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
            s2 = ii2[y1, x1] - ii2[y0, x1] - ii2[y1, x0] + ii2[y0, x0]
            # Flat windows (sky, black borders) hash alike whatever they show.
            if max(0.0, s2 / n - (s1 / n) ** 2) < _FLAT_STD**2:
                continue
            if min(x1 - x0, y1 - y0) < _PHASH_SIDE * _BOX_FACTOR:
                # Too small to box-average first: resize the pixels themselves.
                crop = Image.fromarray(np.ascontiguousarray(gray[y0:y1, x0:x1]))
                p = np.asarray(crop.resize((_PHASH_SIDE,) * 2, Image.Resampling.LANCZOS))
                d = np.asarray(crop.resize((9, 8), Image.Resampling.LANCZOS))
            else:
                side = _PHASH_SIDE * _BOX_FACTOR
                p = lanczos(box_means(x0, y0, x1, y1, side, side), (_PHASH_SIDE,) * 2)
                d = lanczos(box_means(x0, y0, x1, y1, 9 * _BOX_FACTOR, 8 * _BOX_FACTOR), (9, 8))
            phash_px.append(np.asarray(p, dtype=np.float64))
            dhash_px.append(np.asarray(d, dtype=np.float64))
            wins.append((x0 / w, y0 / h, x1 / w, y1 / h))
        if not wins:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64), wins
        # pHash as imagehash computes it: 2-D DCT-II, the 8x8 lowest, above their median.
        dct = scipy.fft.dct(scipy.fft.dct(np.stack(phash_px), axis=1), axis=2)[:, :8, :8]
        low = dct.reshape(len(wins), 64)
        ph = _bits_to_u64(low > np.median(low, axis=1, keepdims=True))
        dpx = np.stack(dhash_px)
        dh = _bits_to_u64((dpx[:, :, 1:] > dpx[:, :, :-1]).reshape(len(wins), 64))
        return ph, dh, wins

    def _hashes_reference(
        self, gray: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float, float]]]:
        """The same windows hashed by imagehash from every pixel: the reference :meth:`_hashes` is tested against."""
        h, w = gray.shape
        ph, dh, wins = [], [], []
        for x0, y0, x1, y1 in self._windows(w, h):
            crop = gray[y0:y1, x0:x1]
            if crop.std() < _FLAT_STD:
                continue
            pil = Image.fromarray(crop)
            ph.append(_hash_bits(imagehash.phash(pil)))
            dh.append(_hash_bits(imagehash.dhash(pil)))
            wins.append((x0 / w, y0 / h, x1 / w, y1 / h))
        return np.array(ph, dtype=np.uint64), np.array(dh, dtype=np.uint64), wins

    def _orb_features(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        orb = cv2.ORB_create(nfeatures=self.orb_features)  # type: ignore[attr-defined]  # missing from OpenCV 5 stubs
        kps, desc = orb.detectAndCompute(gray, None)
        pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
        return pts, desc

    def add(self, ref: CharacterRef) -> None:
        feats: list[_RefFeatures] = []
        for i, img in enumerate(ref.reference_images):
            gray = cv2.cvtColor(check_rgb(img, f"reference image {i}"), cv2.COLOR_RGB2GRAY)
            small = _resize_max(gray, self.max_side, min_side=320)
            ph, dh, wins = self._hashes(small)
            pts, desc = self._orb_features(small)
            feats.append(
                _RefFeatures(
                    ref.character_id,
                    ref.name,
                    i,
                    (img.shape[1], img.shape[0]),
                    (small.shape[1], small.shape[0]),
                    ph,
                    dh,
                    wins,
                    pts,
                    desc,
                )
            )
        self._refs[ref.character_id] = feats

    def remove(self, character_id: str) -> None:
        self._refs.pop(character_id, None)

    # -- matching ---------------------------------------------------------
    def _orb_inliers(
        self, q_pts: np.ndarray, q_desc: np.ndarray, ref: _RefFeatures
    ) -> tuple[int, int]:
        if ref.descriptors is None or len(ref.descriptors) < 4 or len(q_desc) < 4:
            return 0, 0
        pairs = self._matcher.knnMatch(ref.descriptors, q_desc, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < self.ratio * p[1].distance]
        if len(good) < max(4, self.min_inliers // 2):
            return 0, len(good)
        src = ref.keypoints[[m.queryIdx for m in good]].reshape(-1, 1, 2)
        dst = q_pts[[m.trainIdx for m in good]].reshape(-1, 1, 2)
        hom, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
        if hom is None or mask is None:
            return 0, len(good)
        det = float(np.linalg.det(hom[:2, :2]))
        # A mirror or a collapse to a line is not the art re-used; reject it.
        if not (1e-3 < det < 1e3):
            return 0, len(good)
        w, h = ref.work_size
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32).reshape(-1, 1, 2)
        quad = cv2.perspectiveTransform(corners, hom).reshape(-1, 2)
        # The reference's outline must land as a convex, untwisted quadrilateral.
        if not cv2.isContourConvex(quad.astype(np.float32)):
            return 0, len(good)
        inliers = int(mask.sum())
        if inliers < self.min_inlier_ratio * len(good):
            return 0, len(good)
        return inliers, len(good)

    @property
    def feature_signature(self) -> str:
        return f"{self.info.model_id}:side={self.max_side}:scales={self.scales}:orb={self.orb_features}"

    def features(self, rgb: np.ndarray) -> CopyQuery:
        gray = cv2.cvtColor(check_rgb(rgb, "image"), cv2.COLOR_RGB2GRAY)
        small = _resize_max(gray, self.max_side, min_side=320)
        q_ph, q_dh, q_wins = self._hashes(small)
        q_pts, q_desc = self._orb_features(small)
        return CopyQuery(q_ph, q_dh, q_wins, q_pts, q_desc)

    def match(self, features: Any, t: float | None = None) -> list[CharacterMatch]:
        if not isinstance(features, CopyQuery):
            raise TypeError("the copy detector matches the CopyQuery its features() made")
        q_ph, q_dh, q_wins = features.phash, features.dhash, features.windows
        q_pts, q_desc = features.keypoints, features.descriptors
        out: list[CharacterMatch] = []
        for feats in list(self._refs.values()):
            best: tuple[tuple[float, float], CharacterMatch] | None = None
            for ref in feats:
                m = self._match_hash(ref, q_ph, q_dh, q_wins, t)
                if m is None and q_desc is not None:
                    m = self._match_orb(ref, q_pts, q_desc, t)
                if m is not None:
                    # A hash hit is a near-exact copy: stronger evidence than any inlier count.
                    rank = (1.0 if m.backend == "image.copy.hash" else 0.0, m.score)
                    if best is None or rank > best[0]:
                        best = (rank, m)
            if best is not None:
                out.append(best[1])
        out.sort(key=lambda m: (m.backend != "image.copy.hash", -m.score, m.character_id))
        return out

    def _match_hash(
        self, ref: _RefFeatures, q_ph: np.ndarray, q_dh: np.ndarray, q_wins: list, t: float | None
    ) -> CharacterMatch | None:
        if not len(q_ph) or not len(ref.phash):
            return None
        dp = _popcount(q_ph[:, None] ^ ref.phash[None, :])
        dd = _popcount(q_dh[:, None] ^ ref.dhash[None, :])
        ok = (dp <= self.phash_max) & (dd <= self.dhash_max)
        if not ok.any():
            return None
        cand = np.where(ok, dp + dd, 10_000)
        qi, ri = np.unravel_index(int(np.argmin(cand)), cand.shape)
        d_p, d_d = int(dp[qi, ri]), int(dd[qi, ri])
        score = round(1.0 - d_p / 64.0, 4)
        threshold = round(1.0 - self.phash_max / 64.0, 4)
        evidence = {
            "source": "image",
            "method": "perceptual_hash",
            "reference_image": ref.image_index,
            "phash_distance": d_p,
            "dhash_distance": d_d,
            "query_window": [round(v, 3) for v in q_wins[qi]],
            "reference_window": [round(v, 3) for v in ref.windows[ri]],
            "t": t,
        }
        expl = Explanation(
            self.info.model_id,
            f"pHash (<= {self.phash_max}/64 bits) and dHash (<= {self.dhash_max}/64) over multi-scale windows",
            score,
            threshold,
            evidence,
        )
        return CharacterMatch(
            ref.character_id, ref.name, score, threshold, "image.copy.hash", evidence, expl
        )

    def _match_orb(
        self, ref: _RefFeatures, q_pts: np.ndarray, q_desc: np.ndarray, t: float | None
    ) -> CharacterMatch | None:
        inliers, good = self._orb_inliers(q_pts, q_desc, ref)
        if inliers < self.min_inliers:
            return None
        evidence = {
            "source": "image",
            "method": "orb_ransac",
            "reference_image": ref.image_index,
            "inliers": inliers,
            "ratio_test_matches": good,
            "reference_keypoints": len(ref.keypoints),
            "t": t,
        }
        expl = Explanation(
            self.info.model_id,
            f"ORB keypoints, ratio test {self.ratio}, RANSAC homography; score = inlier count",
            float(inliers),
            float(self.min_inliers),
            evidence,
        )
        return CharacterMatch(
            ref.character_id,
            ref.name,
            float(inliers),
            float(self.min_inliers),
            "image.copy.orb",
            evidence,
            expl,
        )
