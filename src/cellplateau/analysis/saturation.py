"""Learning saturation points.

Any-seed rule (the reference study's notebook, DenAdel et al.): the smallest subset size at which *any* run
reaches ``threshold`` (95 %) of the best score seen across all runs. Seed-mean rule: the smallest size whose mean
over seeds reaches ``threshold`` of the best seed-mean. Both return the fraction. (The third rule, the fitted one,
is :func:`cellplateau.analysis.fits.saturation_from_fit`.)
Scores are oriented higher-is-better (negate a lower-is-better metric first, :func:`oriented`); "within
``threshold`` of the best" means ``score >= best - (1 - threshold) |best|`` (``threshold x best`` for positive
scores, still defined for a negative best such as a correlation or a negated loss).
"""

from __future__ import annotations

import numpy as np


def saturation_any_seed(fractions: np.ndarray, scores: np.ndarray, *, threshold: float = 0.95) -> float:
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


saturation_reference = saturation_any_seed      # the reference study's name for the any-seed rule


def oriented(scores, *, higher_is_better: bool = True) -> np.ndarray:
    """Scores turned higher-is-better (a lower-is-better metric is negated), as every rule here expects."""
    s = np.asarray(scores, float)
    return s if higher_is_better else -s


def saturation_point(fractions: np.ndarray, scores: np.ndarray, *, rule: str, threshold: float = 0.95) -> float:
    """The saturation fraction by ``rule`` (``seed_mean`` or ``any_seed``) on oriented scores."""
    if rule == "seed_mean":
        return saturation_seed_mean(fractions, scores, threshold=threshold)
    if rule == "any_seed":
        return saturation_any_seed(fractions, scores, threshold=threshold)
    raise ValueError(f"saturation rule {rule!r} needs the power-law fit (rules here: seed_mean, any_seed)")
