"""Geneformer rank-value encoding, vectorised.

Each cell's expression is normalised to counts per 10k, divided gene-wise by the gene's *nonzero
median over the training corpus*, and its nonzero genes are ranked by that value (descending; ties
broken by gene index). The first ``context_length`` genes become the cell's tokens. The reference
tokeniser looped over cells in Python (~116 s per 1,000 cells at inference); here one ``lexsort``
over all stored values of a batch does it.

Gene medians are computed out of core from a per-gene histogram of log1p(normalised value) over
the training cells (:func:`nonzero_medians`), so 22 M cells need O(genes x bins) memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

PAD, MASK, N_SPECIAL = 0, 1, 2
_BINS = 1024
_MAX_LOG = np.log1p(1e4)


def normalise_cp10k(counts: sp.spmatrix) -> sp.csr_matrix:
    X = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    lib = np.asarray(X.sum(1)).ravel()
    scale = np.divide(1e4, lib, out=np.zeros_like(lib), where=lib > 0)
    X.data *= np.repeat(scale, np.diff(X.indptr))
    return X


def nonzero_medians(chunks: Iterable[sp.spmatrix], n_genes: int) -> np.ndarray:
    """Per-gene median of the nonzero CP10k values over all cells in ``chunks``.

    Streaming: values are histogrammed per gene on ``1024`` bins of log1p(value) in [0, log1p(1e4)],
    and the median is read off the cumulative histogram with linear interpolation inside the bin
    (relative error well under 1 %). Genes never expressed get median 1.
    """
    hist = np.zeros((n_genes, _BINS), dtype=np.int64)
    for chunk in chunks:
        X = normalise_cp10k(chunk)
        b = np.clip((np.log1p(X.data) / _MAX_LOG * _BINS).astype(np.int64), 0, _BINS - 1)
        np.add.at(hist, (X.indices, b), 1)
    total = hist.sum(1)
    med = np.ones(n_genes)
    cum = np.cumsum(hist, axis=1)
    for g in np.flatnonzero(total):
        half = total[g] / 2.0
        k = int(np.searchsorted(cum[g], half))
        below = cum[g][k - 1] if k > 0 else 0
        frac = (half - below) / max(hist[g, k], 1)
        med[g] = np.expm1((k + frac) / _BINS * _MAX_LOG)
    return med


def rank_value_tokens(counts: sp.spmatrix, medians: np.ndarray, context_length: int) -> np.ndarray:
    """Token ids (cells, context_length): genes by descending normalised value, PAD-filled.

    Gene ``g`` is token ``g + 2`` (0 = PAD, 1 = MASK).
    """
    X = normalise_cp10k(counts)
    X.eliminate_zeros()
    n = X.shape[0]
    rows = np.repeat(np.arange(n), np.diff(X.indptr))
    value = X.data / medians[X.indices]
    order = np.lexsort((X.indices, -value, rows))          # by row, then value desc, then gene index
    pos = np.arange(len(order)) - X.indptr[rows[order]]
    keep = pos < context_length
    tokens = np.full((n, context_length), PAD, dtype=np.int64)
    tokens[rows[order][keep], pos[keep]] = X.indices[order][keep] + N_SPECIAL
    return tokens
