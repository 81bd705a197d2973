"""Plateau attribution: is a curve's plateau about pretraining data, or about budgets, capacity or the task?

For every (model, strategy, task, dataset) curve one label, with the evidence in a sentence:

- ``compute-limited``: models at or beyond the saturation point did not converge (their validation loss was
  still improving), or convergence could not be checked, or the cells seen did not grow with the subset (a
  fixed step budget that covers less than one pass over the larger subsets);
- ``uninformative``: the untrained control or a model-free baseline scores as well as the best trained model,
  so the curve says nothing about pretraining data;
- ``still rising``: no plateau within the sizes studied (the best seed mean is at the largest size and the
  size before it is below the saturation bar, or the fit prefers scaling with saturation beyond the corpus);
- ``capacity-limited``: a larger size of the same family lifts the plateau on the same curve;
- ``data-limited``: converged models, informative scores, flat beyond the saturation point. Only this label
  shows its saturation point without a warning.

The rules are checked in that order; the first that holds is the label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellplateau.analysis.saturation import saturation_seed_mean

LABELS = ("data-limited", "compute-limited", "capacity-limited", "uninformative", "still rising")
MIN_MARGIN = 0.01       # the least score difference that counts as "better" (absolute, in the metric's units)


@dataclass(frozen=True)
class Attribution:
    label: str
    evidence: str


@dataclass(frozen=True)
class CurveRuns:
    """The runs of one curve: per trained model its subset fraction, score, and training record.

    ``converged``: 1, 0 or NaN (unknown) per run; ``cells_seen`` and ``epochs``: what training did (NaN for
    closed-form families is fine: they count as one pass); ``train_cells``: the subset's training cells.
    """

    fractions: np.ndarray
    scores: np.ndarray
    converged: np.ndarray
    cells_seen: np.ndarray
    epochs: np.ndarray
    train_cells: np.ndarray

    @classmethod
    def of(cls, fractions, scores, *, converged=None, cells_seen=None, epochs=None, train_cells=None) -> CurveRuns:
        f = np.asarray(fractions, float)

        def arr(v):
            return np.full(len(f), np.nan) if v is None else np.asarray(v, float)

        return cls(f, np.asarray(scores, float), arr(converged), arr(cells_seen), arr(epochs), arr(train_cells))


def _pct(v: float) -> str:
    return f"{v:.1%}" if v < 0.1 else f"{v:.0%}"


def _means(runs: CurveRuns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = np.isfinite(runs.scores)
    levels = np.unique(runs.fractions[ok])
    vals = [runs.scores[ok & (runs.fractions == f)] for f in levels]
    means = np.array([v.mean() for v in vals])
    se = np.array([v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan for v in vals])
    return levels, means, se


def attribute_curve(runs: CurveRuns, *, reference: float = np.nan, reference_name: str = "",
                    larger_best: float = np.nan, larger_name: str = "", still_rising_fit: bool = False,
                    threshold: float = 0.95) -> Attribution:
    """Label one curve (see the module docstring). ``reference``: the best of the untrained control's and the
    model-free baselines' scores on the same task and dataset (named by ``reference_name``); ``larger_best``:
    the best seed-mean of a larger size of the same family on the same curve; ``still_rising_fit``: the scaling
    fit prefers growth with its saturation beyond the sizes studied."""
    levels, means, se = _means(runs)
    if len(levels) == 0:
        return Attribution("uninformative", "no finite scores")
    sat = saturation_seed_mean(runs.fractions, runs.scores, threshold=threshold)
    k_best = int(np.argmax(means))
    best = float(means[k_best])
    margin = max(MIN_MARGIN, 2 * float(np.nan_to_num(se[k_best])))
    top = levels[-1]

    at_or_beyond = np.isfinite(runs.scores) & (runs.fractions >= sat)
    conv = runs.converged[at_or_beyond]
    not_conv = int(np.sum(conv == 0))
    unknown = int(np.sum(~np.isfinite(conv)))
    if not_conv:
        return Attribution("compute-limited", f"{not_conv} of {len(conv)} models at or beyond the saturation point "
                           f"({_pct(sat)}) had not converged (validation loss still improving): the plateau may "
                           "be the training budget's")
    if unknown == len(conv) and len(conv):
        return Attribution("compute-limited", "convergence could not be checked (no validation-loss trajectory "
                           "for the models at or beyond the saturation point)")
    big = runs.fractions == top
    small = runs.fractions == levels[0]
    seen_top, seen_small = np.nanmedian(runs.cells_seen[big]), np.nanmedian(runs.cells_seen[small])
    epochs_top = np.nanmedian(runs.epochs[big]) if np.isfinite(runs.epochs[big]).any() else np.nan
    if len(levels) > 1 and np.isfinite(seen_top) and np.isfinite(seen_small) and seen_small > 0:
        growth = seen_top / seen_small
        size_growth = top / levels[0]
        if size_growth > 1.5 and growth < 1.5 and np.isfinite(epochs_top) and epochs_top < 1:
            return Attribution("compute-limited", f"cells seen did not grow with size ({seen_small:,.0f} at "
                               f"{_pct(levels[0])}, {seen_top:,.0f} at {_pct(top)}, {epochs_top:.2f} epochs): the "
                               "larger subsets were never fully seen")
    if np.isfinite(reference) and best < reference + margin:
        return Attribution("uninformative", f"best trained score {best:.3f} (at {_pct(levels[k_best])}) is not "
                           f"above {reference_name or 'the reference'} {reference:.3f} by {margin:.3f}: the curve "
                           "says nothing about pretraining data")
    rising_means = len(levels) > 1 and k_best == len(levels) - 1 and sat >= top
    if rising_means or still_rising_fit:
        why = (f"the best seed mean ({best:.3f}) is at the largest size {_pct(top)}" if rising_means else
               "the scaling fit saturates beyond the sizes studied")
        return Attribution("still rising", f"{why}: no plateau within the sizes studied")
    if np.isfinite(larger_best) and larger_best > best + margin:
        return Attribution("capacity-limited", f"{larger_name or 'a larger size'} of the same family reaches "
                           f"{larger_best:.3f} vs this size's {best:.3f}: the plateau is the model's capacity")
    conv_share = f"{int(np.sum(conv == 1))} of {len(conv)} models converged"
    ref = f", above {reference_name} {reference:.3f}" if np.isfinite(reference) else ""
    return Attribution("data-limited", f"plateau from {_pct(sat)} (best {best:.3f}{ref}); {conv_share}")
