"""Vectorised geometric sketching: the algorithm of ``geosketch.gs`` (Hie et al. 2019) in numpy.

Same covering as the reference: data shifted to the positive orthant and scaled by its maximum; along each
dimension points are grouped greedily into intervals of width ``unit`` (a new interval starts at the first
point beyond ``start + unit``); the boxes are the non-empty cells of that plaid grid; ``unit`` is found by
the same binary search until the number of boxes is within ``k * (1 +- alpha)`` (``k = N``). Sampling is the
reference's round-robin in distribution: each round visits every non-empty box once in random order and takes
a random remaining point from it; the last, partial round visits a uniformly random subset of boxes.

The reference loops over cells and dimensions in Python (about 290 s per 1 M cells x 50 PCs on one core
here). The covering here is computed by compiled kernels (:mod:`cellplateau.selection._plaid_kernels`, numba):
each column's scaled values are bucketed once (no sort), interval starts come from successor queries on the
buckets, every point's box is a 64-bit hash of its interval tuple (a look-up grid, corrected exactly) and box ids
come from an open-addressing table. The arithmetic (shift, scale, ``start + unit``) is geosketch's, in the input
dtype, so the number of boxes is the reference's; two different boxes share a hash with probability about
``N^2 / 2^65`` (under 1e-7 at 1 M cells).
"""

from __future__ import annotations

import numpy as np

_BLOCK = 1 << 16     # points hashed per block before the box count is checked against the limit


class _Covering:
    """Geosketch's plaid covering of ``X``, for any box side ``unit``, without sorting any column."""

    def __init__(self, X: np.ndarray, *, n_buckets: int | None = None):
        from cellplateau.selection import _plaid_kernels as k

        self._k = k
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        self.X = np.ascontiguousarray(X)
        n, d = self.X.shape
        self.mins = self.X.min(0)
        maxs = self.X.max(0)
        # geosketch: X - X.min(0), then X /= X.max(), in the input dtype
        self.scale = np.array([(maxs - self.mins).max()], dtype=self.X.dtype)
        if self.scale[0] == 0:
            self.scale[0] = 1
        self.ptp = ((maxs - self.mins) / self.scale[0]).astype(self.X.dtype)
        self.n_buckets = int(n_buckets or max(16, min(n // 64, 1 << 14)))
        self.inv = self.n_buckets / np.maximum(self.ptp.astype(np.float64), 1e-300)
        self.values = np.empty((d, n), dtype=self.X.dtype)
        self.offsets = np.zeros((d, self.n_buckets + 1), dtype=np.int64)
        self.bmin = np.full((d, self.n_buckets), np.inf, dtype=self.X.dtype)
        for a in range(0, d, 8):        # 8 columns at a time, transposed so each column is contiguous
            b = min(a + 8, d)
            k.bucket_columns(np.ascontiguousarray(self.X[:, a:b].T), self.mins[a:b], self.scale, self.inv[a:b],
                             self.values[a:b], self.offsets[a:b], self.bmin[a:b])
        self._hashes = np.empty(n, dtype=np.uint64)
        size = 1 << int(max(2 * n, 2) - 1).bit_length()
        self._keys = np.empty(size, dtype=np.uint64)
        self._slots = np.empty(size, dtype=np.int64)

    def boxes(self, unit: float, *, limit: int | None = None) -> tuple[np.ndarray | None, int]:
        """``(box id of every point (first-seen order), number of boxes)`` for box side ``unit``.

        With ``limit``, counting stops as soon as there are more than ``limit`` boxes: ``(None, count > limit)``.
        """
        k = self._k
        n = len(self.X)
        limit = n if limit is None else int(limit)
        u = np.array([unit], dtype=self.X.dtype)
        dims = np.flatnonzero(self.ptp > u[0]).astype(np.int64)
        starts = [k.interval_starts(self.values[j], self.offsets[j], self.bmin[j], self.inv[j], u) for j in dims]
        ptr = np.zeros(len(dims) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in starts], out=ptr[1:])
        flat = np.concatenate(starts) if starts else np.zeros(0, self.X.dtype)
        # a look-up grid of 2 cells per interval over each dimension's starts (a guess, corrected exactly)
        luts, lut_inv = [], np.empty(len(dims))
        for i, s in enumerate(starts):
            span = float(s[-1]) - float(s[0])
            m = 2 * len(s) + 1
            lut_inv[i] = m / span if span > 0 else 0.0
            edges = float(s[0]) + np.arange(m) / lut_inv[i] if span > 0 else np.full(1, float(s[0]))
            luts.append(np.searchsorted(s.astype(np.float64), edges, side="right") - 1)
        lut_ptr = np.zeros(len(dims) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in luts], out=lut_ptr[1:])
        lut = np.clip(np.concatenate(luts), 0, None).astype(np.int64) if luts else np.zeros(0, np.int64)
        ids = np.empty(n, dtype=np.int64)
        self._slots.fill(-1)
        n_boxes = 0
        for a in range(0, n, _BLOCK):       # hash a block (parallel), number its boxes; stop once over the limit
            b = min(a + _BLOCK, n)
            k.box_hashes(self.X[a:b], self.mins, self.scale, dims, flat, ptr, lut, lut_ptr, lut_inv,
                         self._hashes[a:b])
            n_boxes = int(k.insert_ids(self._hashes[a:b], ids[a:b], self._keys, self._slots, n_boxes, limit))
            if n_boxes > limit:
                return None, n_boxes
        return ids, n_boxes


def cover(X: np.ndarray, k: int, *, alpha: float = 0.1, max_iter: int = 200) -> np.ndarray:
    """Box ids of the plaid covering with about ``k`` boxes (geosketch's binary search on ``unit``)."""
    cov = _Covering(X)
    low, high = 0.0, float(cov.ptp.max())
    unit = (low + high) / 4.0
    too_many = int(np.floor(k * (1 + alpha)))      # counting stops early above this: the count is not needed
    box, last = None, unit
    for _ in range(max_iter):
        box, n_boxes = cov.boxes(unit, limit=too_many)
        last = unit
        if n_boxes > k * (1 + alpha):
            low = unit
            unit = (unit + high) / 2.0
        elif n_boxes < k * (1 - alpha):
            high = unit
            unit = (unit + low) / 2.0
        else:
            break
        if high - low < 1e-20:
            break
    if box is None:         # the search ended on a covering with too many boxes: geosketch keeps it
        box, _ = cov.boxes(last)
    return box


def sketch(X: np.ndarray, n: int, *, rng: np.random.Generator, alpha: float = 0.1) -> np.ndarray:
    """``n`` sorted distinct row indices of ``X`` by geometric sketching without replacement."""
    m = X.shape[0]
    if not 0 < n <= m:
        raise ValueError(f"sketch size must be in [1, {m}], got {n}")
    if n == m:
        return np.arange(m, dtype=np.int64)
    box = cover(X, n, alpha=alpha)
    n_boxes = int(box.max()) + 1
    # a random order of the points inside each box: rank = position within the box
    perm = rng.permutation(m)
    order = perm[np.argsort(box[perm], kind="stable")]
    sizes = np.bincount(box, minlength=n_boxes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m) - np.repeat(starts, sizes)
    # full rounds: r such that sum_b min(size_b, r) <= n
    sorted_sizes = np.sort(sizes)
    def taken(r: int) -> int:
        return int(np.minimum(sorted_sizes, r).sum())
    lo, hi = 0, int(sizes.max())
    while lo < hi:                      # largest r with taken(r) <= n
        mid = (lo + hi + 1) // 2
        if taken(mid) <= n:
            lo = mid
        else:
            hi = mid - 1
    full = lo
    chosen = np.flatnonzero(rank < full)
    extra = n - len(chosen)
    if extra:
        eligible = np.flatnonzero(sizes > full)
        boxes = rng.choice(eligible, size=extra, replace=False)
        last = order[starts[boxes] + full]
        chosen = np.concatenate([chosen, last])
    return np.sort(chosen).astype(np.int64)
