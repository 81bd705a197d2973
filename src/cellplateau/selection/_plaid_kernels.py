"""Compiled (numba) kernels of the plaid covering used by :mod:`cellplateau.selection._plaid`.

Three O(N d) passes, none of which sorts:

* :func:`bucket_columns` puts every column's scaled values into ``n_buckets`` equal-width value buckets
  (a counting sort by bucket, not a full sort); the greedy interval starts of any box size are then found
  by successor queries ("smallest value > t") that look at one bucket and the per-bucket minima;
* :func:`interval_starts` runs geosketch's greedy rule along one dimension with those queries;
* :func:`box_hashes` gives every point a 64-bit hash of its tuple of interval indices (the last interval start
  at or below the value, found through a look-up grid), and :func:`insert_ids` turns hashes into box ids 0..B-1
  (open addressing, first-seen order) and counts them, stopping early past a limit.

Scaled values are computed exactly as geosketch does, in the input's dtype: ``(x - min_j) / M`` with ``M`` the
largest shifted value, and a new interval starts at the first point beyond ``start + unit``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)


@nb.njit(cache=True, nogil=True)
def _splitmix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True, nogil=True, parallel=True)
def bucket_columns(T, mins, scale_arr, inv_width, values, offsets, bmin):
    """Scaled values of each column grouped by value bucket (bucket ``int(v * inv_width[j])``).

    ``T`` (g, n) holds g columns of X, contiguous; ``mins`` (g,) and ``scale_arr`` (1,) have X's dtype, so the
    arithmetic is geosketch's. Fills ``values`` (g, n), ``offsets`` (g, n_buckets + 1, zero on entry) and
    ``bmin`` (g, n_buckets, +inf on entry): the values of bucket ``b`` of column ``j`` are
    ``values[j, offsets[j, b]:offsets[j, b + 1]]``. Columns in parallel; one counting and one scatter pass each.
    """
    g, n = T.shape
    n_buckets = bmin.shape[1]
    scale = scale_arr[0]
    for j in nb.prange(g):
        bucket = np.empty(n, dtype=np.int32)
        for i in range(n):
            v = (T[j, i] - mins[j]) / scale
            b = min(int(v * inv_width[j]), n_buckets - 1)
            bucket[i] = b
            offsets[j, b + 1] += 1
            if v < bmin[j, b]:
                bmin[j, b] = v
        fill = np.empty(n_buckets, dtype=np.int64)
        for b in range(n_buckets):
            offsets[j, b + 1] += offsets[j, b]
            fill[b] = offsets[j, b]
        for i in range(n):
            b = bucket[i]
            values[j, fill[b]] = (T[j, i] - mins[j]) / scale
            fill[b] += 1


@nb.njit(cache=True, nogil=True)
def interval_starts(values, offsets, bmin, inv_width, unit_arr):
    """Greedy interval starts along one dimension (ascending), as geosketch finds them.

    ``unit_arr`` (1,) has the values' dtype so ``start + unit`` rounds as in geosketch.
    """
    n_buckets = len(bmin)
    unit = unit_arr[0]
    starts = []
    cur = bmin[0]
    for b in range(n_buckets):                           # the column's minimum
        if bmin[b] < np.inf:
            cur = bmin[b]
            break
    while True:
        starts.append(cur)
        t = cur + unit
        b = min(max(int(t * inv_width), 0), n_buckets - 1)
        found = False
        nxt = cur
        for p in range(offsets[b], offsets[b + 1]):      # successor of t inside t's bucket
            v = values[p]
            if v > t and (not found or v < nxt):
                nxt = v
                found = True
        if not found:                                    # else the first non-empty bucket after it
            for c in range(b + 1, n_buckets):
                if bmin[c] < np.inf:
                    nxt = bmin[c]
                    found = True
                    break
        if not found:
            break
        cur = nxt
    out = np.empty(len(starts), dtype=values.dtype)
    for k in range(len(starts)):
        out[k] = starts[k]
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def box_hashes(X, mins, scale_arr, dims, starts, start_ptr, lut, lut_ptr, lut_inv, out):
    """64-bit hash of each point's interval tuple over ``dims`` (other dims hold a single interval).

    The interval of a value ``v`` is the last start <= ``v``; ``lut`` gives a guess per cell of an even
    grid over the starts (cell ``int((v - first start) * lut_inv[k])``), corrected exactly by walking.
    """
    n = X.shape[0]
    scale = scale_arr[0]
    for i in nb.prange(n):
        h = np.uint64(0x243F6A8885A308D3)
        for k in range(len(dims)):
            j = dims[k]
            v = (X[i, j] - mins[j]) / scale
            lo, hi = start_ptr[k], start_ptr[k + 1]
            g = int((v - starts[lo]) * lut_inv[k])
            g = min(max(g, 0), lut_ptr[k + 1] - lut_ptr[k] - 1)
            c = lo + lut[lut_ptr[k] + g]
            while c + 1 < hi and starts[c + 1] <= v:
                c += 1
            while c > lo and starts[c] > v:
                c -= 1
            h = (h ^ np.uint64(c - lo)) * _MIX
            h ^= h >> np.uint64(29)
        out[i] = _splitmix(h)


@nb.njit(cache=True, nogil=True)
def insert_ids(hashes, ids, keys, slot_id, n_ids, limit):
    """Give each hash its box id (first-seen order) in ``ids``, continuing a table that already holds ``n_ids``
    boxes; stops early and returns a count above ``limit`` as soon as there are more than ``limit`` boxes.

    ``keys``/``slot_id`` are an open-addressing table (power-of-two size >= 2 n; ``slot_id`` -1 = empty).
    """
    mask = np.uint64(len(keys) - 1)
    for i in range(len(hashes)):
        h = hashes[i]
        s = ((h * _MIX) >> np.uint64(11)) & mask
        while True:
            if slot_id[s] < 0:
                keys[s] = h
                slot_id[s] = n_ids
                ids[i] = n_ids
                n_ids += 1
                if n_ids > limit:
                    return n_ids
                break
            if keys[s] == h:
                ids[i] = slot_id[s]
                break
            s = (s + np.uint64(1)) & mask
    return n_ids
