"""Compiled row reads from the memory-mapped CSR store (numba; the GIL is released while they run)."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def densify_rows(indptr, indices, data, rows, out):
    """``out[i, indices[p]] = data[p]`` for the stored values of ``rows[i]``; ``out`` (len(rows), n_genes) is
    zero on entry. Each row's values are one contiguous slice of the memory-mapped arrays."""
    for i in range(len(rows)):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            out[i, indices[p]] = data[p]


def read_dense(store, rows: np.ndarray, *, dtype=np.float32) -> np.ndarray:
    """Counts of ``rows`` (any order, repeats allowed) as a dense ``(len(rows), n_genes)`` array."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    out = np.zeros((len(rows), store.n_genes), dtype=dtype)
    if len(rows) and store.nnz:
        if rows.min() < 0 or rows.max() >= store.n_cells:
            from cellplateau.corpus.store import StoreError

            raise StoreError(f"{store.path}: row index out of range [0, {store.n_cells})")
        densify_rows(np.asarray(store.indptr), store._indices, store._data, rows, out)
    return out
