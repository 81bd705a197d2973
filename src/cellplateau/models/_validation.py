"""The validation signal every gradient-trained family shares: a seeded random sample of the subset's
validation cells, and the convergence rule applied to the validation-loss trajectory and to the embedding
probe's trajectory (:mod:`cellplateau.models._probe`).

A model is converged when both have plateaued (:func:`convergence`): the loss by :func:`is_converged`, the probe
(higher is better) by the same rule on its negated values (:func:`probe_is_converged`); when the probe was
skipped (no labels), the loss alone decides.

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


def is_converged(curve: list[list[float]] | np.ndarray, *, tol: float, window: int,
                 noise: float = 0.0) -> bool | None:
    """Whether a validation-loss trajectory has converged.

    ``curve``: rows ``[step, cells_seen, loss]`` in training order. Converged when the best loss of the last
    ``window`` evaluations improves on the best loss before them by less than ``tol`` of the whole improvement
    since the first evaluation: ``(best_before - best_last) / (first - best_last) < tol``. Relative to the
    improvement, not to the loss itself: a reconstruction loss with a high noise floor improves by a small share
    of its value while the model is still learning. ``None`` when it cannot be told: fewer than ``window + 1``
    finite evaluations (no validation cells, or training shorter than ``window`` evaluations). ``noise``: an
    absolute gain the trajectory's own measurement error can make; a gain within it is a plateau too.
    """
    loss = np.asarray([row[2] for row in curve], float) if len(curve) else np.zeros(0)
    loss = loss[np.isfinite(loss)]
    if window < 1 or len(loss) < window + 1:
        return None
    before, last = float(loss[:-window].min()), float(loss[-window:].min())
    gained = before - last
    if gained <= max(noise, 0.0):
        return True                   # no improvement left in the last evaluations (beyond measurement error)
    return bool(gained / (float(loss[0]) - last) < tol)


def probe_is_converged(curve: list[list[float]] | np.ndarray, *, tol: float, window: int,
                       n: int | None = None) -> bool | None:
    """:func:`is_converged` for a trajectory whose value rises as the model improves (the probe's kNN accuracy,
    rows ``[step, cells_seen, probe]``): the same rule on the negated values.

    ``n``: the query cells the accuracy is scored on (None: unknown). The probe is a share of ``n`` cells, so
    it moves by about ``sqrt(p (1 - p) / n)`` between evaluations of the same embedding quality; a last-window
    gain within twice that sampling error is noise, not learning, and counts as converged."""
    acc = np.asarray([row[2] for row in curve], float) if len(curve) else np.zeros(0)
    acc = acc[np.isfinite(acc)]
    noise = 0.0
    if n and window >= 1 and len(acc):
        p = float(np.clip(acc[-window:].max(), 0.0, 1.0))
        noise = 2.0 * float(np.sqrt(p * (1.0 - p) / n))
    return is_converged([[row[0], row[1], -float(row[2])] for row in curve], tol=tol, window=window, noise=noise)


def convergence(val_curve, probe_curve, *, tol: float, window: int, probe_skipped: str | None = None,
                probe_n: int | None = None) -> tuple[bool | None, bool | None, bool | None]:
    """``(converged, loss_converged, probe_converged)`` of a training's two trajectories.

    ``converged``: both plateaued (False as soon as either has not; None while either cannot be told). When the
    probe was skipped (``probe_skipped`` gives the reason) or recorded nothing, the loss alone decides and
    ``probe_converged`` is None. ``probe_n``: the probe's query cells (its sampling error; None: unknown).
    """
    loss = is_converged(val_curve, tol=tol, window=window)
    if probe_skipped is not None or not len(probe_curve):
        return loss, loss, None
    probe = probe_is_converged(probe_curve, tol=tol, window=window, n=probe_n)
    if loss is False or probe is False:
        return False, loss, probe
    if loss is None or probe is None:
        return None, loss, probe
    return True, loss, probe
