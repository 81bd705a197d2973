"""Is a matrix raw counts? A pure test on a sample of cells, used wherever an ``.h5ad`` is read as counts.

Evaluation files as the field ships them (CELLxGENE Discover) keep log-normalised values in ``X`` and raw
counts in ``raw.X``; reading ``X`` as counts normalises twice. Published fractional counts must still pass:
panc8's CEL-seq cells hold UMI-corrected values such as 1.0019 and 488.3, Fluidigm C1 cells 0.01-45,506.
What separates them from normalised data, cell by cell:

- integers are counts;
- negative values are scaled or residual data;
- ``log1p(counts)``: ``expm1`` of the values is integer again;
- size-normalised values (CP10k, CPM), raw or log1p: every cell sums to the same total (raw, or after
  ``expm1``), while count totals vary over orders of magnitude;
- log-normalised values stay small: across a sample of cells the largest value of a log1p matrix is below
  ~15 (log1p of 10^6), while real counts reach hundreds in some cell.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

LOG_MAX = 20.0          # a non-integer matrix whose largest value is below this is log-scale, not counts
SAME_TOTAL_CV = 0.02    # coefficient of variation of cell totals below this: size-normalised


def _cv(totals: np.ndarray) -> float:
    totals = totals[totals > 0]
    return float(totals.std() / totals.mean()) if len(totals) > 1 else float("inf")


def count_problem(X: sp.spmatrix | np.ndarray) -> str | None:
    """``None`` when ``X`` (cells x genes, a sample of rows is enough) looks like raw counts, integer or
    fractional as published; otherwise a short description of what it looks like instead."""
    X = sp.csr_matrix(X)
    data = X.data
    if data.size == 0:
        return None
    if not np.all(np.isfinite(data)):
        return "it holds NaN or infinite values"
    if data.min() < 0:
        return f"it holds negative values (min {data.min():.3g}): scaled or residual data, not counts"
    if np.all(data == np.round(data)):
        return None
    big = float(data.max())
    if big < LOG_MAX:
        with np.errstate(over="ignore"):
            e = np.expm1(data.astype(np.float64))
        if np.mean(np.abs(e - np.round(e)) < 1e-3) > 0.99:
            return f"its values are log1p of integers (max {big:.3g}): log1p(counts), not counts"
        exp_totals = np.asarray(sp.csr_matrix((e, X.indices, X.indptr), shape=X.shape).sum(1)).ravel()
        if _cv(exp_totals) < SAME_TOTAL_CV:
            return (f"every cell sums to about {np.median(exp_totals[exp_totals > 0]):.4g} after expm1: "
                    "log-normalised values, not counts")
        return f"its largest value is {big:.3g} with non-integer values: log-scale values, not counts"
    totals = np.asarray(X.sum(1)).ravel()
    if _cv(totals) < SAME_TOTAL_CV:
        return f"every cell sums to about {np.median(totals[totals > 0]):.4g}: size-normalised values, not counts"
    return None


def sample_rows(n_rows: int, *, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Sorted seeded sample of at most ``n`` row indices of ``n_rows`` (for reading a few cells of a file)."""
    if n_rows <= n:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=n, replace=False))
