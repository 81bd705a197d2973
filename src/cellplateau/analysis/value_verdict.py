"""The value verdict: is the pretrained model worth using at all, against cheap and in-dataset baselines?

Kept apart from the scaling verdict (:mod:`cellplateau.analysis.scaling_verdict`): the reference study finds
its pretrained models below a PCA fitted on the evaluation data on classification, and its scaling curves are
still the paper.

Per size, the *anchored score* ``(score - floor) / (ceiling - floor)``: 0 at the floor, 1 at the ceiling, above 1
beyond it, whatever the metric's direction. Floor: the untrained control (perturbation: the no-change /
mean-change predictor, a baseline whose role is ``floor``); ceiling: the strongest in-dataset baseline (a PCA, an
HVG expression space or a logistic regression fitted on the evaluation data; perturbation: a split-half replicate
of the observed response). Its *resolution* is the anchored score's spread across seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LABELS = ("beats the in-dataset baseline", "matches the in-dataset baseline", "below the in-dataset baseline",
          "no better than its floor", "no in-dataset baseline")
MIN_EFFECT = 0.01       # 1 % of the ceiling's magnitude counts as a difference, beside seed noise


@dataclass(frozen=True)
class Value:
    label: str
    evidence: str
    anchored: float        # the anchored score of the seed mean (NaN without floor or ceiling)
    resolution: float      # standard deviation of the per-seed anchored scores


def anchored(scores, *, floor: float, ceiling: float) -> np.ndarray:
    """``(scores - floor) / (ceiling - floor)``; NaN when either anchor is missing or they coincide."""
    s = np.asarray(scores, float)
    span = ceiling - floor
    if not (np.isfinite(floor) and np.isfinite(ceiling)) or abs(span) < 1e-12:
        return np.full(s.shape, np.nan)
    return (s - floor) / span


def margin(score: float, baseline: float, *, higher_is_better: bool) -> float:
    """How far ``score`` is better than ``baseline`` (positive: better), in the metric's units."""
    return (score - baseline) if higher_is_better else (baseline - score)


def value_verdict(scores, *, floor: float, floor_name: str, ceiling: float, ceiling_name: str,
                  higher_is_better: bool = True, where: str = "") -> Value:
    """The verdict for one size's per-seed ``scores`` (raw metric units); ``where`` names the size in the
    evidence (e.g. "at 25 %")."""
    s = np.asarray(scores, float)
    s = s[np.isfinite(s)]
    mean = float(s.mean()) if len(s) else float("nan")
    se = float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else 0.0
    a = anchored(s, floor=floor, ceiling=ceiling)
    res = float(np.std(a, ddof=1)) if len(a) > 1 and np.isfinite(a).all() else float("nan")
    a_mean = float(np.mean(a)) if len(a) and np.isfinite(a).all() else float("nan")
    if not np.isfinite(ceiling):
        m = margin(mean, floor, higher_is_better=higher_is_better) if np.isfinite(floor) else np.nan
        vs = f"; {m:+.3f} over {floor_name} {floor:.3f}" if np.isfinite(m) else ""
        return Value("no in-dataset baseline", f"{mean:.3f} {where}{vs}", a_mean, res)
    tol = max(MIN_EFFECT * abs(ceiling), 2 * se)
    to_ceiling = margin(mean, ceiling, higher_is_better=higher_is_better)
    flat = np.isfinite(floor) and margin(ceiling, floor, higher_is_better=higher_is_better) <= tol
    if flat:            # the ceiling does not rise above the floor: a scale of nothing
        a_mean, res = float("nan"), float("nan")
    anchor = (f"anchored {a_mean:.2f} ± {res:.2f}" if np.isfinite(a_mean) and np.isfinite(res) else
              f"anchored {a_mean:.2f}" if np.isfinite(a_mean) else
              f"not anchored: {ceiling_name} does not rise above {floor_name} {floor:.3f}" if flat else
              "no floor to anchor on")
    text = f"{mean:.3f} {where} vs {ceiling_name} {ceiling:.3f} ({to_ceiling:+.3f}; {anchor})"
    if to_ceiling > tol:
        return Value("beats the in-dataset baseline", text, a_mean, res)
    if to_ceiling >= -tol:
        return Value("matches the in-dataset baseline", text, a_mean, res)
    if np.isfinite(floor) and margin(mean, floor, higher_is_better=higher_is_better) <= tol:
        return Value("no better than its floor", f"{text}; {floor_name} {floor:.3f}", a_mean, res)
    return Value("below the in-dataset baseline", text, a_mean, res)
