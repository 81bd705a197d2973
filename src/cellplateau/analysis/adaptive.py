"""Adaptive studies: which curves are resolved after a round, so larger subsets are trained only where needed.

A curve (task, dataset, model, strategy) is *resolved* at confidence ``c`` when its saturation point is known
within the sizes already run: the power law (or the log-linear alternative) is told apart from the no-scaling
null (``scaling_supported`` of :func:`cellplateau.analysis.summary.scaling_table`) and the upper end of the
bootstrap interval (level ``c``, over seeds) of the saturation point by the seed-mean rule lies below the
largest fraction run (the curve has reached 95 % of its best before the largest size, in every resample). The
fitted rule's interval is reported too but not used: with the few sizes of an early round its upper end is
often unbounded.
The decision uses the same fits and intervals as the report, so an adaptive study reaches the conclusions its
report states. A (model, strategy) pair moves to its next fraction while any of its curves is unresolved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def curve_status(results: pd.DataFrame, fractions_run: dict[tuple[str, str], list[float]], *, confidence: float,
                 n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per curve with its fit and ``resolved``; ``fractions_run[(model, strategy)]`` the fractions done.

    Curves with fewer than three sizes cannot be fitted and are unresolved."""
    from cellplateau.analysis.summary import scaling_table

    fits = scaling_table(results, n_boot=n_boot, seed=seed, level=confidence)
    rows = []
    if not fits.empty:
        for r in fits.itertuples():
            largest = max(fractions_run.get((r.model, r.strategy), [np.nan]))
            hi = float(r.sat_seed_mean_hi)
            resolved = bool(r.scaling_supported and np.isfinite(hi) and hi < largest)
            rows.append({"task": r.task, "dataset": r.dataset, "model": r.model, "strategy": r.strategy,
                         "largest_fraction_run": largest, "scaling_supported": bool(r.scaling_supported),
                         "sat_seed_mean": float(r.sat_seed_mean), "sat_seed_mean_lo": float(r.sat_seed_mean_lo),
                         "sat_seed_mean_hi": hi, "sat_fitted": float(r.sat_fitted),
                         "sat_fitted_hi": float(r.sat_fitted_hi), "resolved": resolved})
    return pd.DataFrame(rows, columns=["task", "dataset", "model", "strategy", "largest_fraction_run",
                                       "scaling_supported", "sat_seed_mean", "sat_seed_mean_lo", "sat_seed_mean_hi",
                                       "sat_fitted", "sat_fitted_hi", "resolved"])


def next_schedule(status: pd.DataFrame, schedule: dict[tuple[str, str], list[float]], fractions: list[float]
                  ) -> dict[tuple[str, str], list[float]]:
    """Extend by one fraction every (model, strategy) with an unresolved curve (or no fitted curve yet) that
    has fractions left; the others keep theirs. Returns a new schedule (equal to ``schedule`` when done)."""
    fitted = {(m, s) for m, s in zip(status["model"], status["strategy"])} if len(status) else set()
    unresolved = ({(m, s) for m, s, ok in zip(status["model"], status["strategy"], status["resolved"]) if not ok}
                  if len(status) else set())
    out = {}
    for group, run in schedule.items():
        left = [f for f in sorted(fractions) if f > max(run)]
        extend = left and (group in unresolved or group not in fitted)
        out[group] = [*run, left[0]] if extend else list(run)
    return out
