"""Compiled (numba) kernels of the sparse first layer (:func:`cellplateau.models._layers.sparse_linear`).

Both walk the batch gene by gene (its CSC form), so the layer's weight, held transposed (genes x out, C order),
is read (forward) or written (weight gradient) once, row after row, while the small per-cell rows (cells x out)
stay in cache: the forward product ``X @ Wt`` and the weight gradient ``X^T @ G`` cost O(nnz x out) instead of
O(cells x genes x out). Threads take contiguous gene ranges with equal numbers of stored values.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True, error_model="numpy")
def csc_times_dense(indptr, indices, data, Wt, parts):
    """``X @ Wt`` from the CSC form of ``X``: ``parts[t]`` (zeroed by the caller, one per thread, cells x out)
    receives thread ``t``'s genes; the product is ``parts.sum(0)``."""
    n_parts, n_out = parts.shape[0], Wt.shape[1]
    n_genes = len(indptr) - 1
    bounds = np.searchsorted(indptr, np.linspace(0, indptr[-1], n_parts + 1)).astype(np.int64)
    bounds = np.minimum(bounds, n_genes)
    bounds[-1] = n_genes
    for t in nb.prange(n_parts):
        acc = parts[t]
        for j in range(bounds[t], bounds[t + 1]):
            w = Wt[j]
            for k in range(indptr[j], indptr[j + 1]):
                v = data[k]
                row = acc[indices[k]]
                for h in range(n_out):
                    row[h] += v * w[h]


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True, error_model="numpy")
def csc_transpose_times_dense(indptr, indices, data, G, out):
    """``out[j] = sum_k data[k] * G[indices[k]]`` over column ``j``'s stored values (CSC of the batch), i.e.
    ``X^T @ G``; ``out`` (genes x out) zeroed by the caller."""
    n_out = G.shape[1]
    for j in nb.prange(len(indptr) - 1):
        row = out[j]
        for k in range(indptr[j], indptr[j + 1]):
            v = data[k]
            g = G[indices[k]]
            for h in range(n_out):
                row[h] += v * g[h]


def as_index(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)
