"""Sequencing depth as a study axis: seeded binomial thinning of every cell's UMI counts, applied on read.

Keeping each of a cell's ``x_g`` molecules independently with probability ``d`` gives ``Binomial(x_g, d)``
counts: exactly what sequencing the same library to a share ``d`` of its depth yields (a Poisson or
negative-binomial count of mean ``mu`` becomes one of mean ``d * mu`` with the same dispersion). The thinned
counts of a cell are a deterministic function of ``(seed, corpus row, d)``: every read of that cell, from any
subset, batch, epoch or read path (CSR, dense, chunked), sees the same thinned measurement, so a model trained
at depth ``d`` sees one fixed, shallower corpus. :class:`ThinnedStore` wraps a corpus store and thins rows as
they are read: the corpus is never copied and memory stays one batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numba as nb
import numpy as np
import scipy.sparse as sp

_MASK64 = (1 << 64) - 1


@nb.njit(cache=True, nogil=True)
def _row_seed(seed, row):
    """splitmix64 of (seed, row), folded to the 32 bits numba's generator takes."""
    z = (np.uint64(seed) + np.uint64(row) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z & np.uint64(0xFFFFFFFF))


@nb.njit(cache=True, nogil=True)
def thin_rows(indptr, data, rows, depth, seed, out):
    """``out[p] ~ Binomial(round(data[p]), depth)`` for the stored values of CSR row ``i`` (corpus row
    ``rows[i]``), with a generator seeded from ``(seed, rows[i])`` so each cell's draw is reproducible."""
    for i in range(len(rows)):
        np.random.seed(_row_seed(seed, rows[i]))
        for p in range(indptr[i], indptr[i + 1]):
            n = int(np.rint(data[p]))
            out[p] = np.random.binomial(n, depth) if n > 0 else 0


def thin_csr(counts: sp.csr_matrix, rows: np.ndarray, *, depth: float, seed: int) -> sp.csr_matrix:
    """Counts of the corpus rows ``rows`` (one CSR row each, in that order) thinned to ``depth``; explicit
    zeros removed. ``depth == 1`` returns ``counts`` unchanged."""
    if not 0 < depth <= 1:
        raise ValueError(f"depth must be in (0, 1], got {depth}")
    if depth == 1.0:
        return counts
    counts = counts.tocsr()
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if len(rows) != counts.shape[0]:
        raise ValueError(f"{len(rows)} row ids for {counts.shape[0]} rows")
    out = np.empty(len(counts.data), dtype=counts.data.dtype)
    thin_rows(counts.indptr.astype(np.int64), counts.data, rows, float(depth), int(seed) & _MASK64 >> 1, out)
    res = sp.csr_matrix((out, np.array(counts.indices), np.array(counts.indptr)), shape=counts.shape)
    res.eliminate_zeros()
    return res


class ThinnedStore:
    """A read-only view of a corpus store at sequencing depth ``depth``: every row read is thinned.

    Everything else (shape, obs, var, fingerprint, page release) is the wrapped store's; ``read_rows``,
    ``read_range``, ``iter_rows`` and ``read_dense`` return thinned counts.
    """

    def __init__(self, store, *, depth: float, seed: int):
        if not 0 < depth <= 1:
            raise ValueError(f"depth must be in (0, 1], got {depth}")
        self.store = store
        self.depth = float(depth)
        self.seed = int(seed)

    def __getattr__(self, name):
        return getattr(self.store, name)

    def read_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows, dtype=np.int64)
        return thin_csr(self.store.read_rows(rows), rows, depth=self.depth, seed=self.seed)

    def read_range(self, start: int, stop: int) -> sp.csr_matrix:
        return thin_csr(self.store.read_range(start, stop), np.arange(start, stop), depth=self.depth,
                        seed=self.seed)

    def iter_rows(self, rows: np.ndarray | None = None, *, chunk_size: int = 8192
                  ) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
        for idx, chunk in self.store.iter_rows(rows, chunk_size=chunk_size):
            yield idx, thin_csr(chunk, idx, depth=self.depth, seed=self.seed)

    def read_dense(self, rows: np.ndarray, *, dtype=np.float32) -> np.ndarray:
        """Thinned counts of ``rows`` as a dense ``(len(rows), n_genes)`` array (the loader's dense layout)."""
        from cellplateau.corpus._densify import densify_rows

        csr = self.read_rows(rows)
        out = np.zeros((csr.shape[0], self.store.n_genes), dtype=dtype)
        if csr.nnz:
            densify_rows(csr.indptr.astype(np.int64), csr.indices, csr.data, np.arange(csr.shape[0]), out)
        return out

    def __repr__(self) -> str:
        return f"ThinnedStore({self.store!r}, depth={self.depth:g})"
