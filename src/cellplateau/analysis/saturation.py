"""Learning saturation points.

Reference rule (DenAdel et al.): the smallest subset size at which *any* run exceeds
``threshold`` (95 %) of the best score seen across all runs. Seed-mean rule: the smallest size
whose mean over seeds exceeds ``threshold`` of the best seed-mean. Both return the fraction.
Scores are higher-is-better; "within ``threshold`` of the best" means ``score >= best - (1 - threshold) |best|``
(``threshold x best`` for positive scores, and still defined for a negative best such as a correlation).
"""

from __future__ import annotations

import numpy as np


def saturation_reference(fractions: np.ndarray, scores: np.ndarray, *, threshold: float = 0.95) -> float:
    """Smallest fraction with some score > ``threshold`` x max(scores); NaN if there are no scores."""
    fractions, scores = np.asarray(fractions, float), np.asarray(scores, float)
    ok = np.isfinite(scores)
    if not ok.any():
        return float("nan")
    fractions, scores = fractions[ok], scores[ok]
    best = scores.max()
    hit = scores >= _bar(best, threshold)
    return float(fractions[hit].min())


def _bar(best: float, threshold: float) -> float:
    return best - (1.0 - threshold) * abs(best)


def saturation_seed_mean(fractions: np.ndarray, scores: np.ndarray, *, threshold: float = 0.95) -> float:
    """Smallest fraction whose mean score over seeds >= ``threshold`` x the best mean."""
    fractions, scores = np.asarray(fractions, float), np.asarray(scores, float)
    ok = np.isfinite(scores)
    if not ok.any():
        return float("nan")
    levels = np.unique(fractions[ok])
    means = np.array([scores[ok][fractions[ok] == f].mean() for f in levels])
    return float(levels[means >= _bar(means.max(), threshold)].min())
