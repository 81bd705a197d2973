"""Sequencing depth as a scaling axis: the size x depth grid, the logarithmic depth law, and the fixed-UMI answer.

Gowri, Yin & Klein (arXiv 2503.02726) find representation quality linear in the logarithm of the measurement
depth (UMIs per cell) over the range studied, ``S(d) = S_1 + b ln d``, saturating only at high depth; their
information-theoretic form ``0.5 log2((1 + B u) / (1 + A u))`` is linear in ``log u`` between its two bends. We
fit the logarithmic law per curve (task, dataset, model, strategy, subset fraction) with the same Huber loss as
the power law in cells, compare it with a constant by AIC, and bootstrap its slope over seeds.

At a fixed budget of total UMIs (cells x depth), is it better to have more, shallower cells or fewer, deeper
ones? Each thinned point (``N`` cells at depth ``d``) is compared with the full-depth curve at ``N d`` cells
(interpolated linearly in ``log N`` between the sizes run, never extrapolated): the same number of UMIs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellplateau.analysis.summary import headline_rows, model_rows
from cellplateau.evaluation import HEADLINE

KEYS = ["task", "dataset", "model", "strategy"]


def _depth_rows(results: pd.DataFrame, metric_for_task: dict[str, str]) -> pd.DataFrame:
    """Headline evaluation rows of pretrained models, ``model`` without the depth suffix, ``depth`` filled."""
    if "depth" not in results.columns:
        return pd.DataFrame()
    r = headline_rows(model_rows(results.drop(columns=["depth"])), metric_for_task)
    r = r.assign(depth=pd.to_numeric(results.loc[r.index, "depth"], errors="coerce").fillna(1.0))
    return r[r["value"].notna()]


def has_depth_axis(results: pd.DataFrame) -> bool:
    return "depth" in results.columns and pd.to_numeric(results["depth"], errors="coerce").lt(1.0).any()


def depth_grid(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    """Mean headline score over seeds per (task, dataset, model, strategy, fraction, depth), with the mean
    pretraining cells and the UMI budget in full-depth cell equivalents (``cells x depth``)."""
    r = _depth_rows(results, metric_for_task)
    if r.empty:
        return pd.DataFrame()
    g = r.groupby([*KEYS, "metric", "fraction", "depth"], observed=True)
    out = g.agg(mean=("value", "mean"), sd=("value", "std"), n=("value", "count"),
                n_cells=("n_cells", "mean")).reset_index()
    out["umi_budget_cells"] = out["n_cells"] * out["depth"]
    return out


def fit_log_law(depth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Huber fit of ``S(d) = S_1 + b ln d`` against a Huber constant, compared on the same loss as the size
    curves (``fits.compare_scaling``: the Huber loss of both fits at the law's robust residual scale);
    ``delta_aic``: AICc of the constant minus AICc of the law (AIC when too few points for the correction)."""
    from cellplateau.analysis.fits import _irls, _robust_scale, huber_loss, information_criteria

    d, y = np.asarray(depth, float), np.asarray(scores, float)
    (s1, b), _ = _irls(np.log(d), y)
    (c0, _), _ = _irls(np.zeros_like(y), y)
    resid_law, resid_const = y - s1 - b * np.log(d), y - c0
    scale = _robust_scale(resid_law)
    n = len(y)
    aic_law, aicc_law, _ = information_criteria(huber_loss(resid_law, scale), n, 2)
    aic_const, aicc_const, _ = information_criteria(huber_loss(resid_const, scale), n, 1)
    finite = np.isfinite(aicc_law) and np.isfinite(aicc_const)
    delta = (aicc_const - aicc_law) if finite else (aic_const - aic_law)
    return {"s_full_depth": float(s1), "slope": float(b), "delta_aic": float(delta)}


def depth_law_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE, *, n_boot: int = 1000,
                    seed: int = 0, level: float = 0.95, min_delta_aic: float = 2.0) -> pd.DataFrame:
    """The logarithmic depth law per (task, dataset, model, strategy, fraction) with at least 2 depths and 3
    runs: ``S_1`` (score at full depth), slope per doubling of depth (``b ln 2``) with a bootstrap interval over
    seeds (runs resampled within each depth), and whether the law beats a constant (``law_supported``: AIC
    gain > ``min_delta_aic`` and the slope's interval above 0)."""
    from cellplateau.analysis.bootstrap import percentile_interval, resample_matrix

    r = _depth_rows(results, metric_for_task)
    rows = []
    if r.empty:
        return pd.DataFrame()
    for (task, dataset, model, strategy, frac), g in r.groupby([*KEYS, "fraction"], observed=True):
        d, y = g["depth"].to_numpy(float), g["value"].to_numpy(float)
        if len(np.unique(d)) < 2 or len(y) < 3:
            continue
        fit = fit_log_law(d, y)
        idx = resample_matrix(d, n_boot, seed=seed)
        u, v = np.log(d)[idx], y[idx]
        um, vm = u.mean(1, keepdims=True), v.mean(1, keepdims=True)
        slopes = ((u - um) * (v - vm)).sum(1) / np.maximum(((u - um) ** 2).sum(1), 1e-300)
        lo, hi = percentile_interval(slopes * np.log(2), level=level)
        rows.append({"task": task, "dataset": dataset, "model": model, "strategy": strategy, "fraction": frac,
                     "n_depths": len(np.unique(d)), "n_runs": len(y), "s_full_depth": fit["s_full_depth"],
                     "slope_per_doubling": fit["slope"] * np.log(2), "slope_per_doubling_lo": lo,
                     "slope_per_doubling_hi": hi, "delta_aic_vs_constant": fit["delta_aic"],
                     "law_supported": bool(fit["delta_aic"] > min_delta_aic and np.isfinite(lo) and lo > 0)})
    return pd.DataFrame(rows)


def fixed_budget_table(grid: pd.DataFrame) -> pd.DataFrame:
    """At a fixed UMI budget: each thinned point (``N`` cells at depth ``d``) against the full-depth curve at
    ``N d`` cells. ``difference`` = shallow-and-many minus deep-and-few (headline metric), ``se`` from the seed
    spread of both; ``answer``: ``more cells`` / ``deeper cells`` when the difference exceeds 2 SE, else
    ``no clear difference``."""
    rows = []
    if grid.empty:
        return pd.DataFrame()
    for keys, g in grid.groupby(KEYS, observed=True):
        full = g[g["depth"] == 1.0].sort_values("n_cells")
        if len(full) < 2:
            continue
        logn = np.log(full["n_cells"].to_numpy(float))
        for p in g[g["depth"] < 1.0].itertuples():
            budget = p.n_cells * p.depth
            lb = np.log(budget)
            if not logn[0] <= lb <= logn[-1]:
                continue
            j = int(np.clip(np.searchsorted(logn, lb), 1, len(logn) - 1))
            w = (lb - logn[j - 1]) / (logn[j] - logn[j - 1]) if logn[j] > logn[j - 1] else 0.0
            a, b = full.iloc[j - 1], full.iloc[j]
            deep = (1 - w) * a["mean"] + w * b["mean"]
            se_deep = np.sqrt(((1 - w) * _se(a)) ** 2 + (w * _se(b)) ** 2)
            diff = p.mean - deep
            se = float(np.sqrt(_se(p._asdict()) ** 2 + se_deep**2))
            answer = ("no clear difference" if not np.isfinite(se) or abs(diff) <= 2 * se
                      else "more cells" if diff > 0 else "deeper cells")
            rows.append({**dict(zip(KEYS, keys)), "metric": p.metric, "fraction": p.fraction, "depth": p.depth,
                         "n_cells": p.n_cells, "umi_budget_cells": budget, "score_shallow": p.mean,
                         "score_deep_same_umis": deep, "difference": diff, "se": se, "answer": answer})
    return pd.DataFrame(rows)


def _se(row) -> float:
    sd, n = float(row["sd"]), float(row["n"])
    return sd / np.sqrt(n) if n >= 2 and np.isfinite(sd) else float("nan")


def budget_sentences(budget: pd.DataFrame) -> list[str]:
    """One sentence per (task, dataset, model, strategy): which way the fixed-UMI comparisons went."""
    out = []
    for keys, g in budget.groupby(KEYS, observed=True):
        counts = g["answer"].value_counts()
        task, dataset, model, strategy = keys
        verdict = ("more, shallower cells buy more" if counts.get("more cells", 0) > counts.get("deeper cells", 0)
                   else "deeper cells buy more" if counts.get("deeper cells", 0) > counts.get("more cells", 0)
                   else "neither clearly buys more")
        out.append(f"{model} / {strategy}, {task} on {dataset}: at a fixed UMI budget {verdict} "
                   f"({counts.get('more cells', 0)} comparisons favour more cells, "
                   f"{counts.get('deeper cells', 0)} deeper cells, {counts.get('no clear difference', 0)} unclear).")
    return out
