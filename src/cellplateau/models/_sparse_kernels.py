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
    ``X^T @ G``; every row of ``out`` (genes x out) is written, so it need not be zeroed (a 40 MB memset at
    19,331 genes, done here row by row while the row is in cache)."""
    n_out = G.shape[1]
    for j in nb.prange(len(indptr) - 1):
        row = out[j]
        row[:] = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            v = data[k]
            g = G[indices[k]]
            for h in range(n_out):
                row[h] += v * g[h]


def as_index(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def masked_csr_to_csc(indptr, indices, data, mask, n_cols):
    """The CSC form ``(indptr, row indices, values)`` of a CSR batch without the stored values under ``mask``
    (cells x genes, bool; masked entries become absent, not stored zeros, so the first layer's kernels skip
    them). One counting sort: O(stored values + genes)."""
    n_rows = len(indptr) - 1
    counts = np.zeros(n_cols + 1, np.int64)
    for i in range(n_rows):
        m = mask[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if not m[j]:
                counts[j + 1] += 1
    cptr = np.cumsum(counts)
    fill = cptr[:-1].copy()
    rows = np.empty(cptr[-1], np.int64)
    vals = np.empty(cptr[-1], data.dtype)
    for i in range(n_rows):
        m = mask[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if not m[j]:
                rows[fill[j]] = i
                vals[fill[j]] = data[k]
                fill[j] += 1
    return cptr, rows, vals


@nb.njit(cache=True, nogil=True, inline="always")
def _bf16_row(bits, buf):
    """A bfloat16 row (its raw 16-bit patterns) widened to float32 in ``buf`` (a uint32 buffer); its float view."""
    for j in range(len(bits)):
        buf[j] = np.uint32(bits[j]) << np.uint32(16)
    return buf.view(np.float32)


@nb.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _row_sq_error(r, m, use_mask, indptr, indices, data, i):
    """Sum over row ``i`` of ``(r - x)^2`` where ``m`` is true (every gene when not ``use_mask``), ``x`` the
    CSR row: the dense pass takes ``x = 0``, the stored values correct it. Returns (sum, entries counted)."""
    s, n = 0.0, 0
    for j in range(len(r)):
        if not use_mask or m[j]:
            s += r[j] * r[j]
            n += 1
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        if not use_mask or m[j]:
            d = r[j] - data[k]
            s += d * d - r[j] * r[j]
    return s, n


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True, error_model="numpy")
def sq_error_f32(R, mask, use_mask, indptr, indices, data):
    """Per-row ``(sum of squared errors, entries)`` of float32 predictions ``R`` against the CSR target."""
    out = np.zeros((R.shape[0], 2))
    for i in nb.prange(R.shape[0]):
        out[i, 0], out[i, 1] = _row_sq_error(R[i], mask[i % mask.shape[0]], use_mask, indptr, indices, data, i)
    return out


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True, error_model="numpy")
def sq_error_bf16(R, mask, use_mask, indptr, indices, data):
    """:func:`sq_error_f32` of bfloat16 predictions (``R``: their raw 16-bit patterns)."""
    out = np.zeros((R.shape[0], 2))
    for i in nb.prange(R.shape[0]):
        r = _bf16_row(R[i], np.empty(R.shape[1], np.uint32))
        out[i, 0], out[i, 1] = _row_sq_error(r, mask[i % mask.shape[0]], use_mask, indptr, indices, data, i)
    return out


@nb.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _row_sq_error_grad(r, m, use_mask, indptr, indices, data, i, scale, g):
    """``g = scale * (r - x)`` where ``m`` is true, 0 elsewhere (the gradient of :func:`_row_sq_error`)."""
    for j in range(len(r)):
        g[j] = scale * r[j] if (not use_mask or m[j]) else 0.0
    for k in range(indptr[i], indptr[i + 1]):
        j = indices[k]
        if not use_mask or m[j]:
            g[j] -= scale * data[k]


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True, error_model="numpy")
def sq_error_grad_f32(R, mask, use_mask, indptr, indices, data, scale, G):
    for i in nb.prange(R.shape[0]):
        _row_sq_error_grad(R[i], mask[i % mask.shape[0]], use_mask, indptr, indices, data, i, scale, G[i])


@nb.njit(cache=True, nogil=True, parallel=True, fastmath=True, error_model="numpy")
def sq_error_grad_bf16(R, mask, use_mask, indptr, indices, data, scale, G):
    """The gradient of :func:`sq_error_bf16`, written as bfloat16 bit patterns (round to nearest even)."""
    for i in nb.prange(R.shape[0]):
        wide = np.empty(R.shape[1], np.uint32)
        r = _bf16_row(R[i], wide)
        g = np.empty(R.shape[1], np.float32)
        _row_sq_error_grad(r, mask[i % mask.shape[0]], use_mask, indptr, indices, data, i, scale, g)
        bits = g.view(np.uint32)
        out = G[i]
        for j in range(len(g)):
            b = bits[j]
            out[j] = np.uint16((b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
