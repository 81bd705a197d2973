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


def saturation_draws(fractions: np.ndarray, scores: np.ndarray, idx: np.ndarray, *, threshold: float = 0.95
                     ) -> dict[str, np.ndarray]:
    """The seed-mean and any-seed saturation fractions of many bootstrap resamples at once.

    ``idx``: (B, n) resample indices into the runs, each row drawn within sizes
    (:func:`cellplateau.analysis.bootstrap.resample_matrix` of ``fractions``: every row keeps each size's run
    count). Returns ``{"seed_mean": (B,), "any_seed": (B,)}``, equal to :func:`saturation_seed_mean` and
    :func:`saturation_any_seed` of every resample."""
    fractions, scores = np.asarray(fractions, float), np.asarray(scores, float)
    if idx.size == 0:
        return {"seed_mean": np.zeros(0), "any_seed": np.zeros(0)}
    F, S = fractions[idx], scores[idx]
    order = np.argsort(F[0], kind="stable")          # the same size layout in every row
    F, S = F[:, order], S[:, order]
    levels, starts, counts = np.unique(F[0], return_index=True, return_counts=True)
    means = np.add.reduceat(S, starts, axis=1) / counts
    out = {}
    for rule, vals in (("seed_mean", means), ("any_seed", S)):
        top = vals.max(axis=1)
        bar = top - (1 - threshold) * np.abs(top)
        hit = (means >= bar[:, None]) if rule == "seed_mean" else np.logical_or.reduceat(
            S >= bar[:, None], starts, axis=1)
        out[rule] = levels[np.argmax(hit, axis=1)]
    return out
