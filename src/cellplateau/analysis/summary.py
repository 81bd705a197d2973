"""Tables the report shows, derived from the long-format results table only."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cellplateau.analysis.headline import NON_EVAL_TASKS, higher_is_better
from cellplateau.analysis.saturation import oriented, saturation_any_seed, saturation_draws, saturation_seed_mean
from cellplateau.evaluation import HEADLINE  # noqa: F401  (the registered tasks' headlines, re-exported)

MIN_SEEDS = 3      # intervals from fewer seeds per size are marked low_confidence (a bootstrap of 2 runs has 3
                   # outcomes per size: its intervals look exact)
__all__ = ["NON_EVAL_TASKS"]


def _heads(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None) -> Mapping[str, str]:
    """The given headline map, or the table's own (:func:`cellplateau.analysis.headline.headlines`)."""
    if metric_for_task is not None:
        return metric_for_task
    from cellplateau.analysis.headline import headlines

    return headlines(results)


def headline_rows(r: pd.DataFrame, metric_for_task: dict[str, str]) -> pd.DataFrame:
    """The rows holding each task's headline metric."""
    mask = np.fromiter((metric_for_task.get(t) == m for t, m in zip(r["task"], r["metric"])), bool, len(r))
    return r[mask]


def with_model(results: pd.DataFrame) -> pd.DataFrame:
    """Add ``model``: the family, suffixed with its size preset when it has one (``mae-l``) and with the
    sequencing depth it was pretrained at when below 1 (``mae-l@depth0.25``), so every curve, fit and
    saturation point is per depth."""
    r = results.copy()
    size = r["model_size"].astype(str)
    r["model"] = r["family"].astype(str).where(size.isin(["custom", "-", "None", "nan"]),
                                               r["family"].astype(str) + "-" + size)
    if "depth" in r.columns:
        depth = pd.to_numeric(r["depth"], errors="coerce")
        thinned = (depth < 1.0).to_numpy()
        r.loc[thinned, "model"] = r.loc[thinned, "model"] + "@depth" + depth[thinned].map("{:g}".format)
    return r


def model_rows(results: pd.DataFrame, *, controls: bool = False) -> pd.DataFrame:
    """Evaluation records of pretrained models (not baselines, composition or compute records);
    the untrained controls too when ``controls``."""
    r = with_model(results)
    keep = (r["strategy"] != "baseline") & (~r["task"].isin(NON_EVAL_TASKS))
    if not controls:
        keep &= r["strategy"] != "control"
    return r[keep]


def controls(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Mean headline score of each model's untrained control per (task, dataset)."""
    metric_for_task = _heads(results, metric_for_task)
    r = model_rows(results, controls=True)
    r = r[r["strategy"] == "control"]
    r = headline_rows(r, metric_for_task)
    return r.groupby(["task", "dataset", "metric", "model"], observed=True)["value"].mean().reset_index()


def curves(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Mean, standard error and count over seeds per (task, dataset, family, strategy, fraction)."""
    metric_for_task = _heads(results, metric_for_task)
    r = model_rows(results)
    r = headline_rows(r, metric_for_task)
    g = r.groupby(["task", "dataset", "metric", "model", "strategy", "fraction"], observed=True)["value"]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n"].clip(lower=1))
    out.loc[out["n"] < 2, "se"] = np.nan
    return out


def verdict_table(results: pd.DataFrame, metric_for_task: dict[str, str] | None = None, **kwargs) -> pd.DataFrame:
    """Both verdicts per curve: :func:`cellplateau.analysis.verdicts.verdict_table`."""
    from cellplateau.analysis.verdicts import verdict_table as _verdicts

    return _verdicts(results, metric_for_task=metric_for_task, **kwargs)


CURVE_KEYS = ["task", "dataset", "model", "strategy"]


def baselines(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None = None) -> pd.DataFrame:
    metric_for_task = _heads(results, metric_for_task)
    r = results[results["strategy"] == "baseline"]
    r = headline_rows(r, metric_for_task)
    return r[["task", "dataset", "family", "metric", "value"]].reset_index(drop=True)


def composition(results: pd.DataFrame) -> pd.DataFrame:
    """Mean subset composition metrics per (strategy, fraction)."""
    r = results[results["task"] == "composition"]
    return (r.groupby(["metric", "strategy", "fraction"], observed=True)["value"].mean().reset_index())


def scaling_table(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None = None, *, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95, threshold: float = 0.95) -> pd.DataFrame:
    """Per curve (task, dataset, model, strategy) with three sizes or more: power law vs constant vs log-linear
    by AICc, and bootstrap-over-seeds intervals (``n_boot`` resamples of the replicate runs at each size) for
    S_inf, alpha and the saturation point by three rules, as corpus fractions: any seed (the reference: any run
    reaches ``threshold`` of the best), seed mean, and fitted (the fit reaches ``threshold`` of S_inf). A
    lower-is-better headline is fitted negated; S_inf is reported in the metric's own units."""
    metric_for_task = _heads(results, metric_for_task)
    from cellplateau.analysis.bootstrap import percentile_interval, resample_matrix
    from cellplateau.analysis.fits import compare_scaling, fit_power_law_many, saturation_from_fit

    r = model_rows(results)
    rows = []
    for (task, dataset, model, strategy), g in r.groupby(["task", "dataset", "model", "strategy"], observed=True):
        g = g[(g["metric"] == metric_for_task.get(task)) & g["n_cells"].notna() & g["value"].notna()]
        sizes = g["n_cells"].to_numpy(float)
        if len(np.unique(sizes)) < 3:
            continue
        sign = 1.0 if higher_is_better(metric_for_task, task) else -1.0
        scores = sign * g["value"].to_numpy(float)
        corpus = float(np.nanmax(g["n_cells"] / g["fraction"]))
        cmp = compare_scaling(sizes, scores)
        pl = cmp.power_law
        idx = resample_matrix(sizes, n_boot, seed=seed)
        boot = fit_power_law_many(sizes[idx], scores[idx])
        t = threshold
        rules = saturation_draws(sizes / corpus, scores, idx, threshold=t)
        draws = {"s_inf": sign * boot["s_inf"], "alpha": boot["alpha"],
                 "sat_fitted": saturation_from_fit(boot["s_inf"], boot["a"], boot["alpha"], threshold=t) / corpus,
                 "sat_any_seed": rules["any_seed"], "sat_seed_mean": rules["seed_mean"]}
        est = {"s_inf": sign * pl.s_inf, "alpha": pl.alpha, "sat_fitted": pl.saturation(threshold=t) / corpus,
               "sat_any_seed": saturation_any_seed(sizes / corpus, scores, threshold=t),
               "sat_seed_mean": saturation_seed_mean(sizes / corpus, scores, threshold=t)}
        seeds = int(pd.Series(sizes).value_counts().min())
        row = {"task": task, "dataset": dataset, "model": model, "strategy": strategy, "corpus_cells": corpus,
               "fit_a": pl.a, "n_runs": len(scores), "min_seeds": seeds, "low_confidence": seeds < MIN_SEEDS,
               "higher_is_better": sign > 0, "best_model": cmp.best_model,
               "scaling_supported": cmp.scaling_supported,
               "saturating": bool(cmp.best_model == "power_law" and not pl.at_bound and pl.a > 0),
               "delta_aic_vs_constant": cmp.aic["constant"] - min(cmp.aic["power_law"], cmp.aic["loglinear"]),
               "delta_aicc_vs_constant": cmp.aicc["constant"] - min(cmp.aicc["power_law"], cmp.aicc["loglinear"]),
               "delta_bic_vs_constant": cmp.bic["constant"] - min(cmp.bic["power_law"], cmp.bic["loglinear"])}
        for k, v in est.items():
            lo, hi = percentile_interval(draws[k], level=level)
            if k == "s_inf" and sign < 0:
                lo, hi = hi, lo
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = v, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def strategy_vs_random(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None = None, *, n_boot: int = 1000,
                       seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Does a diversity-aware strategy beat random at the same size? Mean difference (strategy - random)
    per (task, dataset, model, fraction < 1) with a bootstrap interval over seeds (runs resampled within
    each arm), plus the mean Vendi score and inverse Simpson of both arms' subsets."""
    metric_for_task = _heads(results, metric_for_task)
    from cellplateau.analysis.bootstrap import percentile_interval

    r = model_rows(results)
    r = r[np.array([metric_for_task.get(t) == m for t, m in zip(r["task"], r["metric"])], bool)
          & (r["fraction"] < 1.0).to_numpy()]
    div = results[results["task"] == "diversity"]
    div = div.pivot_table(index=["strategy", "fraction"], columns="metric", values="value", aggfunc="mean")
    rng = np.random.default_rng(seed)
    rows = []
    for (task, dataset, model, frac), g in r.groupby(["task", "dataset", "model", "fraction"], observed=True):
        base = g.loc[g["strategy"] == "random", "value"].to_numpy(float)
        if len(base) == 0:
            continue
        for strategy, h in g[g["strategy"] != "random"].groupby("strategy"):
            v = h["value"].to_numpy(float)
            draws = (v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
                     - base[rng.integers(0, len(base), (n_boot, len(base)))].mean(1))
            lo, hi = percentile_interval(draws, level=level)
            row = {"task": task, "dataset": dataset, "model": model, "fraction": frac, "strategy": strategy,
                   "higher_is_better": higher_is_better(metric_for_task, task),
                   "difference": float(v.mean() - base.mean()), "difference_lo": lo, "difference_hi": hi,
                   "n_runs": len(v), "low_confidence": bool(min(len(v), len(base)) < MIN_SEEDS)}
            for metric in ("vendi_rbf", "inverse_simpson"):
                if metric in div.columns:
                    row[f"{metric}_strategy"] = div[metric].get((strategy, frac), np.nan)
                    row[f"{metric}_random"] = div[metric].get(("random", frac), np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point beats on both lower cost and higher score (orient a
    lower-is-better score first)."""
    cost, score = np.asarray(cost, float), np.asarray(score, float)
    order = np.lexsort((-score, cost))
    mask = np.zeros(len(cost), bool)
    best = -np.inf
    for i in order:
        if score[i] > best:
            mask[i] = True
            best = score[i]
    return mask


def compute_table(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None = None, *,
                  curves_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean headline score against median training FLOPs per (task, dataset, model, strategy, fraction),
    with the Pareto frontier per (task, dataset). ``curves_table``: :func:`curves` if already computed."""
    metric_for_task = _heads(results, metric_for_task)
    r = with_model(results)
    fit = r[(r["task"] == "pretraining") & (r["metric"] == "flops") & (r["strategy"] != "control")]
    flops = fit.groupby(["model", "strategy", "fraction"], observed=True)["value"].median().rename("flops")
    c = curves(results, metric_for_task) if curves_table is None else curves_table
    c = c.join(flops, on=["model", "strategy", "fraction"])
    c["higher_is_better"] = [higher_is_better(metric_for_task, t) for t in c["task"]]
    c["pareto"] = False
    for _, g in c.groupby(["task", "dataset"]):
        ok = g["flops"].notna()
        c.loc[g.index[ok], "pareto"] = pareto_front(g.loc[ok, "flops"], oriented(
            g.loc[ok, "mean"], higher_is_better=bool(g["higher_is_better"].iloc[0])))
    return c


def joint_table(results: pd.DataFrame, metric_for_task: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Where a family was run at several sizes: the joint fit S(N, P) per (task, dataset, family, strategy) over
    the cells each model actually saw in training (``cells_seen``: steps x batch; a fixed step budget sees the
    same cells at every subset size), and the best (P, cells seen) for three compute budgets spanning the FLOPs
    the study spent (C = 6 P x cells seen), never beyond the most cells any run saw."""
    metric_for_task = _heads(results, metric_for_task)
    from cellplateau.analysis.joint import best_allocation, fit_joint

    r = with_model(results)
    fit = r[(r["task"] == "pretraining") & (r["strategy"] != "control")]
    params = fit[fit["metric"] == "n_params"].groupby("model_key")["value"].first()
    seen = fit[fit["metric"] == "cells_seen"].groupby("model_key")["value"].first()
    flops = fit[fit["metric"] == "flops"]["value"]
    ev = model_rows(results)
    ev = headline_rows(ev, metric_for_task)
    rows = []
    for (task, dataset, family, strategy), g in ev.groupby(["task", "dataset", "family", "strategy"], observed=True):
        if g["model_size"].nunique() < 2:
            continue
        p = g["model_key"].map(params).to_numpy(float)
        n = g["model_key"].map(seen).to_numpy(float)
        try:
            jf = fit_joint(n, p, g["value"].to_numpy(float))
        except ValueError:
            continue
        for budget in np.geomspace(max(flops.min(), 1.0), max(flops.max(), 1.0), 3):
            alloc = best_allocation(jf, budget, p_range=(np.nanmin(p), np.nanmax(p)), n_max=float(np.nanmax(n)))
            alloc["cells_seen"] = alloc.pop("n_cells")
            rows.append({"task": task, "dataset": dataset, "family": family, "strategy": strategy,
                         "exp_data": jf.a, "exp_params": jf.b, "s_max": jf.e, **alloc})
    return pd.DataFrame(rows)


def task_metrics(results: pd.DataFrame) -> pd.DataFrame:
    """Every metric of every (task, dataset), per-class F1 aside: models at their largest subset and untrained
    controls (means over seeds) beside the baselines, with the dataset's gene overlap."""
    r = with_model(results)
    r = r[~r["task"].isin(NON_EVAL_TASKS) & ~r["metric"].astype(str).str.startswith("f1:")
          & (r["metric"] != "embed_s_per_1k_cells")]
    if r.empty:
        return pd.DataFrame()
    largest = r[r["strategy"] != "baseline"].groupby("model", observed=True)["fraction"].max()
    keep = ((r["strategy"] == "baseline") | (r["strategy"] == "control")
            | (r["fraction"] == r["model"].map(largest)))
    r = r[keep].copy()
    r["row"] = np.where(r["strategy"] == "baseline", r["family"].astype(str),
                        np.where(r["strategy"] == "control", r["model"] + " untrained",
                                 r["model"] + " @ " + r["fraction"].map("{:g}".format)))
    out = r.pivot_table(index=["task", "dataset", "row"], columns="metric", values="value", aggfunc="mean")
    overlap = r.groupby(["task", "dataset"], observed=True)["gene_overlap"].max()
    out = out.reset_index()
    out.insert(2, "gene_overlap", [overlap.get((t, d), np.nan) for t, d in zip(out["task"], out["dataset"])])
    return out


TRAJECTORY_CONVERGENCE = ("converged", "loss_converged", "probe_converged")


def trajectories(results: pd.DataFrame) -> pd.DataFrame:
    """The training trajectories of every trained model: one row per (model_key, step) with ``model``,
    ``strategy``, ``fraction``, ``cells_seen``, ``val_loss``, ``probe`` (the embedding probe's kNN accuracy; NaN
    where none was scored) and the model's ``converged``, ``loss_converged``, ``probe_converged`` (1, 0 or
    NaN)."""
    r = with_model(results)
    t = r[r["task"] == "trajectory"]
    if t.empty or "step" not in t.columns:
        return pd.DataFrame(columns=["model", "strategy", "fraction", "model_key", "step", "cells_seen", "val_loss",
                                     "probe", *TRAJECTORY_CONVERGENCE])
    wide = t.pivot_table(index=["model", "strategy", "fraction", "model_key", "step"], columns="metric",
                         values="value", aggfunc="first", observed=True).reset_index()
    wide.columns.name = None
    for col in ("cells_seen", "val_loss", "probe"):
        if col not in wide.columns:
            wide[col] = np.nan
    pre = r[r["task"] == "pretraining"]
    for col in TRAJECTORY_CONVERGENCE:
        wide[col] = wide["model_key"].map(pre[pre["metric"] == col].groupby("model_key")["value"].first())
    return wide
