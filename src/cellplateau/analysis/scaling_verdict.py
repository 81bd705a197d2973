"""The scaling verdict: does more pretraining data help this family, and where does it stop?

One label per (model, strategy, task, dataset) curve, judged against the family's own untrained control and the
seed noise, never against model-free baselines (whether the model is worth using at all is the separate value
verdict, :mod:`cellplateau.analysis.value_verdict`):

- ``compute-limited``: models at or beyond the saturation point did not converge (their validation loss or
  their downstream probe was still improving: any model at the largest size, or a third of those at or beyond the
  saturation point; one straggler at a small size is reported, not decisive), or the cells seen did not grow
  with the subset (a fixed step budget that covers less than one pass over the larger subsets): the plateau may
  be the budget's;
- ``no pretraining effect``: at every size the trained models are within seed noise of (or below) the
  untrained control: the corpus teaches this family nothing this task can read;
- ``still rising``: no plateau within the sizes studied (only the largest size reaches the saturation bar, or
  the scaling fit saturates beyond the corpus);
- ``capacity-limited``: a larger size of the same family (same sequencing depth) lifts the plateau beyond noise;
- ``data-limited``: flat beyond the saturation point: the point, with its interval, is a property of the data.

The rules are checked in that order; the first that holds is the label. Convergence that cannot be told (a
``command`` or ``imported`` family that reports none, an imported results table) does not decide the label: the
verdict comes from the scores, with "convergence unknown" as a visible caveat. Scores are oriented
higher-is-better by the caller (:func:`cellplateau.analysis.saturation.oriented`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LABELS = ("data-limited", "still rising", "compute-limited", "capacity-limited", "no pretraining effect")
CONVERGENCE = ("converged", "not converged", "unknown")
MIN_EFFECT = 0.01    # the least difference that counts as real: 1 % of the score's magnitude (beside seed noise)


@dataclass(frozen=True)
class CurveRuns:
    """The trained runs of one curve: per model its subset fraction, oriented score and training record.

    ``converged``: 1, 0 or NaN (unknown) per run; ``cells_seen`` and ``epochs``: what training did (NaN when not
    recorded)."""

    fractions: np.ndarray
    scores: np.ndarray
    converged: np.ndarray
    cells_seen: np.ndarray
    epochs: np.ndarray

    @classmethod
    def of(cls, fractions, scores, *, converged=None, cells_seen=None, epochs=None) -> CurveRuns:
        f = np.asarray(fractions, float)

        def arr(v):
            return np.full(len(f), np.nan) if v is None else np.asarray(v, float)

        return cls(f, np.asarray(scores, float), arr(converged), arr(cells_seen), arr(epochs))

    def levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct fractions with their seed mean and standard error (NaN from one seed)."""
        ok = np.isfinite(self.scores)
        levels = np.unique(self.fractions[ok])
        vals = [self.scores[ok & (self.fractions == f)] for f in levels]
        means = np.array([v.mean() for v in vals])
        se = np.array([v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan for v in vals])
        return levels, means, se


@dataclass(frozen=True)
class Verdict:
    label: str
    evidence: str
    convergence: str          # one of CONVERGENCE, for the models at or beyond the saturation point


def pct(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.1%}" if v < 0.1 else f"{v:.0%}"


def noise(scale: float, *ses: float) -> float:
    """The difference two seed means must exceed to count: twice their combined standard error, at least
    :data:`MIN_EFFECT` of ``scale`` (the scores' magnitude)."""
    se = np.sqrt(np.nansum([s * s for s in ses])) if any(np.isfinite(s) for s in ses) else 0.0
    return float(max(MIN_EFFECT * abs(scale), 2 * se))


STRAGGLERS = 1 / 3     # a curve is compute-limited when at least this share of its models at or beyond the
                       # saturation point, or any at its largest size, had not converged


def convergence_status(converged: np.ndarray, *, at_largest: np.ndarray | None = None) -> tuple[str, str]:
    """``(status, sentence)`` of a set of runs' convergence flags (1, 0, NaN): "not converged" when at least
    :data:`STRAGGLERS` of them, or any of ``at_largest`` (the flags of the largest size's runs), had not."""
    c = np.asarray(converged, float)
    n, bad, unknown = len(c), int(np.sum(c == 0)), int(np.sum(~np.isfinite(c)))
    top_bad = int(np.sum(np.asarray([] if at_largest is None else at_largest, float) == 0))
    if bad and (top_bad or bad >= STRAGGLERS * n):
        where = f", {top_bad} at the largest size" if top_bad else ""
        return "not converged", f"{bad} of {n} models had not converged{where}"
    if bad:
        return "converged", f"{n - bad - unknown} of {n} models converged ({bad} at smaller sizes had not)"
    if n == 0 or unknown == n:
        return "unknown", "convergence unknown (no validation loss or probe trajectory recorded)"
    if unknown:
        return "converged", f"{n - unknown} of {n} models converged, {unknown} unknown"
    return "converged", f"all {n} models converged"


def scaling_verdict(runs: CurveRuns, *, saturation: float, control: np.ndarray | None = None,
                    larger: tuple[float, str] | None = None, still_rising_fit: bool = False,
                    rule: str = "seed_mean", eval_se: float = float("nan")) -> Verdict:
    """Label one curve (see the module docstring).

    ``saturation``: the curve's saturation fraction under ``rule`` (named in the evidence); ``control``: the
    untrained control's oriented scores per seed (None or empty: not evaluated, which the evidence states);
    ``larger``: (best seed mean, name) of a larger size of the same family at the same depth on the same curve;
    ``still_rising_fit``: the scaling fit saturates beyond the sizes studied; ``eval_se``: the evaluation's own
    sampling error (the standard error of the headline over the task's seeded splits of a fixed evaluation set,
    NaN when not recorded): every model is scored on the same cells, so the seeds do not show it, and it is
    added for each side of a comparison. Needs two sizes or more."""
    levels, means, se = runs.levels()
    if len(levels) < 2:
        raise ValueError(f"a scaling verdict needs at least 2 subset sizes; this curve has {len(levels)}")
    k_best = int(np.argmax(means))
    best, top = float(means[k_best]), float(levels[-1])
    sat = float(saturation) if np.isfinite(saturation) else top
    beyond = np.isfinite(runs.scores) & (runs.fractions >= sat)
    status, conv_text = convergence_status(runs.converged[beyond], at_largest=runs.converged[runs.fractions == top])
    caveat = "" if status == "converged" else "; convergence unknown" if status == "unknown" else ""
    if status == "not converged":
        return Verdict("compute-limited", f"{conv_text} at or beyond the saturation point ({pct(sat)}, {rule}): "
                       "the plateau may be the training budget's", status)
    big, small = runs.fractions == top, runs.fractions == levels[0]
    seen_top = np.nanmedian(runs.cells_seen[big]) if np.isfinite(runs.cells_seen[big]).any() else np.nan
    seen_small = np.nanmedian(runs.cells_seen[small]) if np.isfinite(runs.cells_seen[small]).any() else np.nan
    epochs_top = np.nanmedian(runs.epochs[big]) if np.isfinite(runs.epochs[big]).any() else np.nan
    if np.isfinite(seen_top) and np.isfinite(seen_small) and seen_small > 0 and top / levels[0] > 1.5 \
            and seen_top / seen_small < 1.5 and np.isfinite(epochs_top) and epochs_top < 1:
        return Verdict("compute-limited", f"cells seen did not grow with size ({seen_small:,.0f} at "
                       f"{pct(levels[0])}, {seen_top:,.0f} at {pct(top)}, {epochs_top:.2f} epochs): the larger "
                       "subsets were never fully seen", status)
    ctl = np.asarray([] if control is None else control, float)
    ctl = ctl[np.isfinite(ctl)]
    if len(ctl):
        c_mean = float(ctl.mean())
        c_se = float(ctl.std(ddof=1) / np.sqrt(len(ctl))) if len(ctl) > 1 else np.nan
        gaps = [(m - c_mean, noise(max(abs(m), abs(c_mean)), s, c_se, eval_se, eval_se)) for m, s in zip(means, se)]
        if all(d <= tol for d, tol in gaps):
            d, tol = gaps[k_best]
            kind = "seed and evaluation noise" if np.isfinite(eval_se) else "seed noise"
            return Verdict("no pretraining effect", f"no size beats the untrained control ({c_mean:.3f}) beyond "
                           f"{kind}: best trained mean {best:.3f} at {pct(levels[k_best])} ({d:+.3f}, noise "
                           f"{tol:.3f}){caveat}", status)
        above = f"{best - c_mean:+.3f} over its untrained control {c_mean:.3f}"
    else:
        above = "no untrained control: whether pretraining helps at all was not checked"
    if sat >= top or still_rising_fit:
        why = (f"only the largest size {pct(top)} reaches the saturation bar ({rule})" if sat >= top else
               "the scaling fit saturates beyond the sizes studied")
        return Verdict("still rising", f"{why}: no plateau within the sizes studied (best {best:.3f}, {above})"
                       f"{caveat}", status)
    if larger is not None and np.isfinite(larger[0]):
        tol = noise(max(abs(larger[0]), abs(best)), float(se[k_best]), eval_se, eval_se)
        if larger[0] > best + tol:
            return Verdict("capacity-limited", f"{larger[1]} of the same family reaches {larger[0]:.3f} vs this "
                           f"size's {best:.3f} (noise {tol:.3f}): the plateau is the model's capacity{caveat}", status)
    at = "at or below the smallest size studied" if sat <= levels[0] else f"from {pct(sat)}"
    return Verdict("data-limited", f"plateau {at} ({rule}; best {best:.3f}, {above}); {conv_text}", status)
