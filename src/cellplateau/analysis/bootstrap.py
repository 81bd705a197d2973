"""Bootstrap over seeds: resample the replicate runs at each subset size, refit, take percentiles."""

from __future__ import annotations

import numpy as np


def resample_replicates(sizes: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Indices of one bootstrap resample: within each size, draw as many runs as there are, with replacement."""
    sizes = np.asarray(sizes)
    out = []
    for s in np.unique(sizes):
        members = np.flatnonzero(sizes == s)
        out.append(rng.choice(members, size=len(members), replace=True))
    return np.concatenate(out)


def resample_matrix(sizes: np.ndarray, n_boot: int, *, seed: int) -> np.ndarray:
    """(n_boot, n) index matrix: each row one :func:`resample_replicates` draw."""
    rng = np.random.default_rng(seed)
    return np.stack([resample_replicates(sizes, rng=rng) for _ in range(n_boot)]) if n_boot else np.zeros((0, 0), int)


def percentile_interval(draws: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    d = np.asarray(draws, float)
    d = d[np.isfinite(d)]
    if len(d) < 10:
        return float("nan"), float("nan")
    q = (1 - level) / 2
    return float(np.quantile(d, q)), float(np.quantile(d, 1 - q))
