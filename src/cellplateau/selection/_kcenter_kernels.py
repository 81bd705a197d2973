"""Greedy farthest-point (k-center) kernel, compiled with numba.

Gonzalez's greedy rule: start from one cell, then repeatedly add the cell farthest from the centres chosen
so far. The result is a 2-approximation of the smallest possible covering radius (the Hausdorff distance from
the corpus to the subset). A naive pass costs ``O(N k d)``; this kernel prunes it as Hopper (DeMeo & Berger
2020) does, with the triangle inequality: every cell belongs to the Voronoi cell of its nearest centre, kept
as a contiguous segment of a pool array, and a new centre ``c`` can only take cells of a centre ``s`` whose
distance ``d(c, s)`` is below twice that Voronoi cell's radius, and within it only the cells farther than
``d(c, s) / 2`` from ``s``. The next centre is the farthest cell of the Voronoi cell with the largest radius.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _dist(X, i, j):
    acc = np.float32(0.0)
    for t in range(X.shape[1]):
        v = X[i, t] - X[j, t]
        acc += v * v
    return np.sqrt(acc)


@nb.njit(cache=True, nogil=True)
def farthest_point(X, k, first):
    """Indices of ``k`` centres chosen greedily (first = ``first``) and the covering radius after each one.

    ``X`` is ``(N, d)`` float32, C-contiguous. Stops early (fewer than ``k`` centres) only when every cell
    coincides with a centre (radius 0); the caller fills up the rest.
    """
    N = X.shape[0]
    cap = 3 * N + 16
    pool = np.empty(cap, np.int64)
    start = np.zeros(k, np.int64)
    count = np.zeros(k, np.int64)
    radius = np.zeros(k, np.float64)
    far = np.zeros(k, np.int64)
    centers = np.empty(k, np.int64)
    dist = np.empty(N, np.float64)
    cdist = np.empty(k, np.float64)
    cover = np.empty(k, np.float64)
    centers[0] = first
    best, arg = -1.0, first
    for i in range(N):
        d = _dist(X, i, first)
        dist[i] = d
        pool[i] = i
        if d > best:
            best, arg = d, i
    count[0] = N
    radius[0] = best
    far[0] = arg
    end = N
    n = 1
    cover[0] = best
    while n < k:
        s_best = 0
        for s in range(1, n):
            if radius[s] > radius[s_best]:
                s_best = s
        if radius[s_best] <= 0.0:
            break
        c = far[s_best]
        if end + N > cap:                       # compact the pool: every Voronoi cell contiguous again
            fresh = np.empty(cap, np.int64)
            w = 0
            for s in range(n):
                for t in range(start[s], start[s] + count[s]):
                    fresh[w] = pool[t]
                    w += 1
                start[s] = w - count[s]
            pool = fresh
            end = w
        j = n
        centers[j] = c
        start[j] = end
        count[j] = 0
        for s in range(n):                  # distances to the other centres: the O(k^2 d) part
            cdist[s] = _dist(X, c, centers[s]) if radius[s] > 0.0 else np.inf
        for s in range(n):
            dcs = cdist[s]
            if dcs >= 2.0 * radius[s]:
                continue
            half = 0.5 * dcs
            w = start[s]
            new_r, new_far = 0.0, centers[s]
            for t in range(start[s], start[s] + count[s]):
                p = pool[t]
                dp_old = dist[p]
                if dp_old > half:
                    dp = _dist(X, p, c)
                    if dp < dp_old:
                        dist[p] = dp
                        pool[end] = p
                        end += 1
                        count[j] += 1
                        continue
                pool[w] = p
                w += 1
                if dp_old > new_r:
                    new_r, new_far = dp_old, p
            count[s] = w - start[s]
            radius[s] = new_r
            far[s] = new_far
        r, fa = 0.0, c
        for t in range(start[j], start[j] + count[j]):
            p = pool[t]
            if dist[p] > r:
                r, fa = dist[p], p
        radius[j] = r
        far[j] = fa
        n += 1
        m = 0.0
        for s in range(n):
            if radius[s] > m:
                m = radius[s]
        cover[j] = m
    return centers[:n], cover[:n]


@nb.njit(cache=True, nogil=True, fastmath=True)
def farthest_point_parts(X, offsets, k, firsts):
    """Greedy farthest-point over parts: ``X`` rows are grouped by part (part ``p`` = rows
    ``offsets[p]:offsets[p + 1]``), a cell's distance is to the centres of its own part only, and each new centre
    is the cell farthest from its part's centres over all parts, so centres go where the coverage is worst
    (a part without a centre is infinitely far: every part gets its first centre, ``firsts[p]``, before any part
    gets a second). Returns the ``k`` centre rows in pick order and the covering radius (largest distance, own
    part) after each pick; stops early only when every cell coincides with a centre (radius 0).
    """
    n_parts = len(offsets) - 1
    dist = np.full(X.shape[0], np.inf)
    part_max = np.full(n_parts, np.inf)
    part_arg = firsts.copy()
    centers = np.empty(k, np.int64)
    cover = np.empty(k, np.float64)
    n = 0
    while True:
        p = 0                                   # the part with the worst coverage
        for q in range(1, n_parts):
            if part_max[q] > part_max[p]:
                p = q
        if n:
            cover[n - 1] = part_max[p]          # the covering radius after the last pick
        if n == k or part_max[p] <= 0.0:
            break
        c = part_arg[p]
        centers[n] = c
        best, arg = 0.0, c
        for i in range(offsets[p], offsets[p + 1]):
            d = _dist(X, i, c)
            if d < dist[i]:
                dist[i] = d
            if dist[i] > best:
                best, arg = dist[i], i
        part_max[p] = best
        part_arg[p] = arg
        n += 1
    return centers[:n], cover[:n]
