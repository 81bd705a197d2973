"""Bootstrap over seeds: resample the replicate runs at each subset size, refit, take percentiles."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def resample_replicates(sizes: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Indices of one bootstrap resample: within each size, draw as many runs as there are, with replacement."""
    sizes = np.asarray(sizes)
    out = []
    for s in np.unique(sizes):
        members = np.flatnonzero(sizes == s)
        out.append(rng.choice(members, size=len(members), replace=True))
    return np.concatenate(out)


def bootstrap(sizes: np.ndarray, scores: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], dict],
              *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, tuple[float, float, float]]:
    """``{name: (estimate, low, high)}`` for every value ``statistic(sizes, scores)`` returns.

    Resamples whose statistic raises or is NaN are dropped from that value's interval; the estimate is
    the statistic on the original data.
    """
    sizes, scores = np.asarray(sizes, float), np.asarray(scores, float)
    est = statistic(sizes, scores)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in est}
    for _ in range(n_boot):
        idx = resample_replicates(sizes, rng=rng)
        try:
            vals = statistic(sizes[idx], scores[idx])
        except (ValueError, np.linalg.LinAlgError):
            continue
        for k, v in vals.items():
            if np.isfinite(v):
                draws[k].append(float(v))
    q = (1 - level) / 2
    out = {}
    for k, v in est.items():
        d = np.asarray(draws[k])
        lo, hi = (np.quantile(d, q), np.quantile(d, 1 - q)) if len(d) >= 10 else (np.nan, np.nan)
        out[k] = (float(v), float(lo), float(hi))
    return out


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
