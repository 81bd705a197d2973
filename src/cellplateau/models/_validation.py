"""The validation signal every gradient-trained family shares: a seeded random sample of the subset's
validation cells, and the convergence rule applied to the validation-loss trajectory.

A prefix of the validation rows (``val[:8192]``) is not a sample: subset indices are sorted and an ingested
store is written file by file, so the first rows come from one or two source datasets. The sample here is
uniform over the whole validation split, drawn with the training seed, and returned sorted so that the store
reads it as near-sequential runs.
"""

from __future__ import annotations

import numpy as np

VAL_SAMPLE = 4096      # validation cells scored per evaluation (the default of every family)


def validation_sample(val_rows: np.ndarray, *, seed: int, n: int = VAL_SAMPLE) -> np.ndarray:
    """A seeded uniform sample (without replacement) of at most ``n`` of ``val_rows``, sorted.

    ``val_rows``: corpus row indices of the subset's validation cells. All of them when there are at most
    ``n``. The same ``seed`` gives the same sample, so every evaluation of a training scores the same cells.
    """
    val_rows = np.asarray(val_rows)
    if len(val_rows) <= n:
        return np.sort(val_rows)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A1]))
    return np.sort(rng.choice(val_rows, size=n, replace=False))


def is_converged(curve: list[list[float]] | np.ndarray, *, tol: float, window: int) -> bool | None:
    """Whether a validation-loss trajectory has converged.

    ``curve``: rows ``[step, cells_seen, loss]`` in training order. Converged when the best loss of the last
    ``window`` evaluations improves on the best loss before them by less than ``tol`` (relative to that earlier
    best): ``(best_before - best_last) / |best_before| < tol``. ``None`` when it cannot be told: fewer than
    ``window + 1`` finite evaluations (no validation cells, or training shorter than ``window`` evaluations).
    """
    loss = np.asarray([row[2] for row in curve], float) if len(curve) else np.zeros(0)
    loss = loss[np.isfinite(loss)]
    if window < 1 or len(loss) < window + 1:
        return None
    before, last = float(loss[:-window].min()), float(loss[-window:].min())
    return bool((before - last) / max(abs(before), 1e-12) < tol)
