"""PDQ perceptual hashing in numpy: the fast path behind :func:`detectors.hashing.pdq_hash`.

The reference is Meta's C++ PDQ as the ``pdqhash`` package binds it
(:func:`detectors.hashing.pdq_hash_reference`); this module is written from
the published algorithm and tested to give the same hashes on real images.

PDQ blurs the float luma with a Jarosz tent filter (two passes of a 1-D box
filter along rows and columns), keeps a 64x64 decimation, takes the 16x16
low-frequency block of its DCT and sets each bit where a coefficient exceeds
the median. The reference filters every pixel and throws almost all of them
away. The filter is linear and separable, so the 64x64 decimation is
``Mv @ Y @ Mh.T`` with Mv (64 x H) and Mh (64 x W) the decimated rows of the
two-pass box filter along each axis; each row has about ``2 * window``
nonzeros, so applying them costs about one pass over the pixels.

What cannot match the reference bit for bit: its box filter keeps float32
running sums, we sum each window afresh. The 64x64 values differ in the last
few float bits, which can flip a bit whose DCT coefficient sits on the median
and move the quality by 1. Everything after the 64x64 decimation (DCT order of
summation, median, quality arithmetic) repeats the reference's float32
operations in its order, so a flat image gets the reference's hash too.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

# Luma weights (ITU-R BT.601), as the reference uses them.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# The reference hashes an image with a side below this as all zero bits, quality 0.
MIN_HASHABLE_DIM = 5
DOWNSAMPLE = 64
DCT_SIZE = 16
JAROSZ_PASSES = 2
# Pixel values converted to float32 at a time (16 MB): a 720p frame in one go,
# larger images in bands of rows.
_CHUNK_VALUES = 4 * 1024 * 1024


def jarosz_window(old: int, new: int = DOWNSAMPLE) -> int:
    """Box window per pass: half a decimated cell, since two passes make the full tent."""
    return (old + 2 * new - 1) // (2 * new)


def box_matrix(n: int, full: int) -> sp.csr_matrix:
    """The reference's 1-D box filter of a length-n vector as an n x n sparse matrix.

    Output i averages input [i + half - full, i + half - 1] clipped to the
    vector (the window is not centred for even sizes, as in the reference),
    dividing by the number of samples actually inside.
    """
    half = (full + 2) // 2
    i = np.arange(n)
    lo = np.maximum(i + half - full, 0)
    hi = np.minimum(i + half - 1, n - 1)
    counts = hi - lo + 1
    rows = np.repeat(i, counts)
    # Column index of each nonzero: lo of its row plus its offset inside the row's window.
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.repeat(lo, counts) + (np.arange(rows.size) - starts)
    vals = np.repeat(1.0 / counts, counts)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def decimation_indices(n: int, out: int = DOWNSAMPLE) -> np.ndarray:
    # Same double arithmetic and truncation as the reference's decimateFloat.
    return np.array([int(((k + 0.5) * n) / out) for k in range(out)], dtype=np.int64)


@lru_cache(maxsize=8)
def axis_matrix(n: int) -> sp.csr_matrix:
    """(64 x n) float32: the decimated rows of JAROSZ_PASSES box filters along an axis of length n."""
    box = box_matrix(n, jarosz_window(n))
    m = box[decimation_indices(n)]
    for _ in range(JAROSZ_PASSES - 1):
        m = m @ box
    # Built in float64, used in float32: scipy's float32 kernel on a float32
    # image is ~4x faster than float64, and the rounding is far below the
    # reference's own float32 running-sum error.
    out = sp.csr_matrix(m, dtype=np.float32)
    out.sort_indices()
    return out


@lru_cache(maxsize=8)
def _column_matrix(w: int) -> sp.csr_matrix:
    """(64 x 3W) float32: the column filter with the luma weights folded in.

    Column 3j + c weights channel c of pixel column j, so applied to the
    (64, 3W) row-filtered interleaved RGB it gives the 64x64 luma decimation.
    """
    mh = axis_matrix(w).astype(np.float64).toarray()  # (64, W)
    weights = np.asarray(LUMA_WEIGHTS)
    folded = (mh[:, :, None] * weights[None, None, :]).reshape(DOWNSAMPLE, 3 * w)
    out = sp.csr_matrix(folded, dtype=np.float32)
    out.sort_indices()
    return out


def _dct_matrix() -> np.ndarray:
    # The reference builds D in double and stores float32: (16, 64).
    i = np.arange(1, DCT_SIZE + 1, dtype=np.float64)[:, None]
    j = np.arange(DOWNSAMPLE, dtype=np.float64)[None, :]
    scale = np.float64(np.float32(math.sqrt(2.0 / DOWNSAMPLE)))
    return (scale * np.cos((math.pi / 2.0 / DOWNSAMPLE) * i * (2 * j + 1))).astype(np.float32)


DCT_MATRIX = _dct_matrix()


def decimated_luma(rgb: np.ndarray) -> np.ndarray:
    """The 64x64 float32 tent-filtered, decimated luma of an RGB uint8 image (H, W, 3)."""
    h, w = rgb.shape[:2]
    # (H, 3W): rows of interleaved RGB; a copy only for non-contiguous views.
    flat = np.ascontiguousarray(rgb).reshape(h, 3 * w)
    if h == DOWNSAMPLE and w == DOWNSAMPLE:
        # The reference skips filtering for 64x64 input; the window is 1 and the
        # decimation the identity anyway, so this only saves work.
        luma = flat.reshape(h, w, 3).astype(np.float64) @ np.asarray(LUMA_WEIGHTS)
        return luma.astype(np.float32)
    # Row filter first (one pass over the image), then the small (64, 3W)
    # result meets the column filter and the luma weights in one product.
    # Sparse products only: a dense BLAS call this small costs more CPU in
    # thread start-up than in arithmetic.
    mv = axis_matrix(h)
    step = max(1, _CHUNK_VALUES // (3 * w))
    if step >= h:
        rows = mv @ flat.astype(np.float32)
    else:
        # Bands of rows, so a large image is never held whole as float32.
        rows = np.zeros((DOWNSAMPLE, 3 * w), dtype=np.float32)
        for r0 in range(0, h, step):
            rows += mv[:, r0 : r0 + step] @ flat[r0 : r0 + step].astype(np.float32)
    out = _column_matrix(w) @ rows.T
    return np.ascontiguousarray(out.T, dtype=np.float32)


def _flat_luma(rgb: np.ndarray) -> float | None:
    """The float32 luma of a single-colour image, else None."""
    first = rgb[0, 0]
    # The first row and column settle almost every real image without a whole-frame compare.
    if not ((rgb[0] == first).all() and (rgb[:, 0] == first).all() and (rgb == first).all()):
        return None
    r, g, b = (float(x) for x in first)
    # The reference's binding sums in double in this order, then stores float32.
    return float(np.float32(r * LUMA_WEIGHTS[0] + g * LUMA_WEIGHTS[1] + b * LUMA_WEIGHTS[2]))


def _running_box(x: np.ndarray, full: int) -> np.ndarray:
    """The reference's box filter along the last axis with its float32 running sum.

    The running sum adds the entering sample, then subtracts the leaving one,
    rounding to float32 each time; a float32 ``cumsum`` (sequential) over the
    terms in that order rounds identically.
    """
    n = x.shape[-1]
    half = (full + 2) // 2
    pairs = np.stack([x[..., full:], -x[..., : n - full]], axis=-1).reshape(*x.shape[:-1], -1)
    terms = np.concatenate([x[..., :full], pairs, -x[..., n - full : n - full + half - 1]], axis=-1)
    sums = np.cumsum(terms, axis=-1, dtype=np.float32)
    # Where each output is read from the running sum, and the window it divides by.
    grow = np.arange(half - 1, full)
    slide = full + 2 * np.arange(n - full) + 1
    shrink = full + 2 * (n - full) + np.arange(half - 1)
    at = np.concatenate([grow, slide, shrink])
    counts = np.concatenate(
        [np.arange(half, full + 1), np.full(n - full, full), full - 1 - np.arange(half - 1)]
    ).astype(np.float32)
    return np.asarray(sums[..., at] / counts, dtype=np.float32)


def _flat_decimation(c: float, h: int, w: int) -> np.ndarray:
    """The reference's 64x64 buffer for an h x w image of constant luma c, rounding included.

    Only flat images come here: their DCT coefficients are rounding noise,
    so matching the reference means repeating its rounding. Slow for a
    non-grey colour (~60 ms at 720p), which is fine for a frame that carries
    no information and is rare.
    """
    if (h == DOWNSAMPLE and w == DOWNSAMPLE) or c == int(c):
        # No filter at 64x64; and whole-number luma (grey, black: fades in video)
        # sums and divides exactly in float32, so the filter returns c itself.
        return np.full((DOWNSAMPLE, DOWNSAMPLE), c, dtype=np.float32)
    wr, wc = jarosz_window(w), jarosz_window(h)
    rows, cols = decimation_indices(h), decimation_indices(w)
    buf = np.full((h, w), c, dtype=np.float32)
    for rep in range(JAROSZ_PASSES):
        buf = _running_box(buf, wr)
        if rep == JAROSZ_PASSES - 1:
            # Columns are filtered independently: only the kept ones are needed.
            buf = buf[:, cols]
        buf = _running_box(np.ascontiguousarray(buf.T), wc).T
    return np.ascontiguousarray(buf[rows], dtype=np.float32)


def quality(a: np.ndarray) -> int:
    """PDQ's image-domain quality: the sum of quantised neighbour gradients, scaled, capped at 100."""
    a = a.astype(np.float32, copy=False)
    hundred, scale = np.float32(100), np.float32(255)
    total = 0
    for d in (a[:-1, :] - a[1:, :], a[:, :-1] - a[:, 1:]):
        # float32 products and quotients truncated toward zero, as the reference's int cast.
        total += int(np.abs(np.trunc((d * hundred) / scale)).sum())
    return min(total // 90, 100)


def dct16(a: np.ndarray) -> np.ndarray:
    """B = D A D^T for the 16 lowest nonzero frequencies, summed in the reference's order.

    The reference accumulates each float32 dot product term by term; a
    running sum (``cumsum``, sequential by definition) rounds exactly as it does,
    which matters for flat images whose coefficients are pure rounding noise.
    """
    d = DCT_MATRIX
    a32 = a.astype(np.float32, copy=False)
    t = np.cumsum(d[:, :, None] * a32[None, :, :], axis=1, dtype=np.float32)[:, -1, :]
    b = np.cumsum(t[:, None, :] * d[None, :, :], axis=2, dtype=np.float32)[:, :, -1]
    return np.asarray(b)


def hash_bits(b: np.ndarray) -> np.ndarray:
    """256 bits, bit k = i*16 + j set when B[i, j] exceeds the median.

    The reference's median (Torben's) of 256 values is the 128th smallest,
    so about half the bits are set.
    """
    values = b.reshape(-1)
    median = np.partition(values, 127)[127]
    return (values > median).astype(np.uint8)


def pdq_hash_bytes(rgb: np.ndarray) -> tuple[bytes, int]:
    """The 32-byte PDQ hash and quality of a validated RGB uint8 image (H, W, 3).

    Bytes follow the pdqhash package's vector packed most significant bit
    first: the vector runs from bit 255 down to bit 0.
    """
    h, w = rgb.shape[:2]
    if h < MIN_HASHABLE_DIM or w < MIN_HASHABLE_DIM:
        return bytes(32), 0
    a = decimated_luma(rgb)
    if float(a.max()) - float(a.min()) < 1e-3:
        # A flat decimation: the DCT is rounding noise. For a one-colour image
        # the reference's noise is reproducible, so reproduce it.
        c = _flat_luma(rgb)
        if c is not None:
            a = _flat_decimation(c, h, w)
    bits = hash_bits(dct16(a))
    return np.packbits(bits[::-1]).tobytes(), quality(a)
