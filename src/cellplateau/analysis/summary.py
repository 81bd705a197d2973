"""Tables the report shows, derived from the long-format results table only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellplateau.analysis.saturation import saturation_reference, saturation_seed_mean
from cellplateau.evaluation import HEADLINE  # noqa: E402  (the metric each task's curves use)

MIN_SEEDS = 3      # intervals from fewer seeds per size are marked low_confidence (a bootstrap of 2 runs has 3
                   # outcomes per size: its intervals look exact)
NON_EVAL_TASKS = ("composition", "diversity", "pretraining", "selection", "trajectory")


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


def controls(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    """Mean headline score of each model's untrained control per (task, dataset)."""
    r = model_rows(results, controls=True)
    r = r[r["strategy"] == "control"]
    r = headline_rows(r, metric_for_task)
    return r.groupby(["task", "dataset", "metric", "model"], observed=True)["value"].mean().reset_index()


def curves(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    """Mean, standard error and count over seeds per (task, dataset, family, strategy, fraction)."""
    r = model_rows(results)
    r = headline_rows(r, metric_for_task)
    g = r.groupby(["task", "dataset", "metric", "model", "strategy", "fraction"], observed=True)["value"]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n"].clip(lower=1))
    out.loc[out["n"] < 2, "se"] = np.nan
    return out


def saturation_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE,
                     *, threshold: float = 0.95, fits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Saturation point by the reference and the seed-mean rule per (task, dataset, family, strategy), with the
    plateau's attribution (:func:`attribution_table`; ``fits``: :func:`scaling_table` when computed)."""
    r = model_rows(results)
    rows = []
    for (task, dataset, model, strategy), g in r.groupby(["task", "dataset", "model", "strategy"], observed=True):
        g = g[g["metric"] == metric_for_task.get(task)]
        if g.empty:
            continue
        f, v = g["fraction"].to_numpy(float), g["value"].to_numpy(float)
        rows.append({"task": task, "dataset": dataset, "model": model, "strategy": strategy,
                     "metric": metric_for_task[task], "best": float(np.nanmax(v)),
                     "saturation_reference": saturation_reference(f, v, threshold=threshold),
                     "saturation_seed_mean": saturation_seed_mean(f, v, threshold=threshold)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.merge(attribution_table(results, metric_for_task, fits=fits, threshold=threshold),
                     on=CURVE_KEYS, how="left")


CURVE_KEYS = ["task", "dataset", "model", "strategy"]
FIT_PER_MODEL = ("converged", "cells_seen", "epochs", "n_params")


def _fit_per_model(results: pd.DataFrame) -> pd.DataFrame:
    """``converged``, ``cells_seen``, ``epochs``, ``n_params`` per trained model (rows: model_key)."""
    fit = results[(results["task"] == "pretraining") & results["metric"].isin(FIT_PER_MODEL)]
    if fit.empty or "model_key" not in fit.columns:
        return pd.DataFrame(columns=list(FIT_PER_MODEL), dtype=float)
    wide = fit.pivot_table(index="model_key", columns="metric", values="value", aggfunc="first", dropna=False)
    return wide.reindex(columns=list(FIT_PER_MODEL))


def _reference_scores(results: pd.DataFrame, metric_for_task: dict[str, str]) -> tuple[dict, dict]:
    """``{(task, dataset, model): (untrained control score, name)}`` and ``{(task, dataset): (best model-free
    baseline score, name)}``."""
    ctl = controls(results, metric_for_task)
    base = baselines(results, metric_for_task)
    best_base = {}
    for (task, dataset), g in base.groupby(["task", "dataset"]):
        g = g.groupby("family")["value"].mean()
        best_base[(task, dataset)] = (float(g.max()), str(g.idxmax()).removeprefix("baseline:") + " baseline")
    out = {}
    for (task, dataset, model), value in ctl.set_index(["task", "dataset", "model"])["value"].items():
        out[(task, dataset, model)] = (float(value), "its untrained control")
    return out, best_base


def attribution_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE, *,
                      fits: pd.DataFrame | None = None, threshold: float = 0.95) -> pd.DataFrame:
    """Per curve (task, dataset, model, strategy): ``attribution`` (one of
    :data:`cellplateau.analysis.attribution.LABELS`), ``attribution_evidence`` (a sentence with the figures),
    ``budget_policy`` and ``holds_constant`` (what the training budget keeps the same across sizes)."""
    from cellplateau.analysis.attribution import CurveRuns, attribute_curve
    from cellplateau.models._budget import HOLDS_CONSTANT

    r = headline_rows(model_rows(results), metric_for_task)
    if r.empty:
        return pd.DataFrame(columns=[*CURVE_KEYS, "attribution", "attribution_evidence", "budget_policy",
                                     "holds_constant"])
    if "model_key" not in r.columns:             # a table without training records: nothing known about them
        r = r.assign(model_key=[f"run{i}" for i in range(len(r))])
    fit = _fit_per_model(results)
    ctl, best_base = _reference_scores(results, metric_for_task)
    means = r.groupby([*CURVE_KEYS, "fraction"], observed=True)["value"].mean()
    best_mean = means.groupby(level=CURVE_KEYS, observed=True).max()
    params = r["model_key"].map(fit["n_params"]).groupby(r["model"]).median()
    family_of = r.groupby("model", observed=True)["family"].first()
    rising = {}
    if fits is not None and not fits.empty:
        for row in fits.itertuples():
            top = float(r.loc[(r["model"] == row.model) & (r["strategy"] == row.strategy), "fraction"].max())
            rising[(row.task, row.dataset, row.model, row.strategy)] = bool(
                row.scaling_supported and np.isfinite(row.sat_fitted) and row.sat_fitted > top)
    rows = []
    for key, g in r.groupby(CURVE_KEYS, observed=True):
        task, dataset, model, strategy = key
        f = fit.reindex(g["model_key"])
        runs = CurveRuns.of(g["fraction"], g["value"], converged=f["converged"], cells_seen=f["cells_seen"],
                            epochs=f["epochs"])
        refs = [x for x in (ctl.get((task, dataset, model)), best_base.get((task, dataset))) if x is not None]
        ref = max(refs, default=(np.nan, ""))
        larger = [(float(best_mean[(task, dataset, m, strategy)]), m) for m in family_of.index
                  if family_of[m] == family_of[model] and m != model and params.get(m, 0) > params.get(model, 0)
                  and (task, dataset, m, strategy) in best_mean.index]
        big = max(larger, default=(np.nan, ""))
        a = attribute_curve(runs, reference=ref[0], reference_name=ref[1], larger_best=big[0], larger_name=big[1],
                            still_rising_fit=rising.get(key, False), threshold=threshold)
        policy = g["budget_policy"].dropna().iloc[0] if "budget_policy" in g and g["budget_policy"].notna().any() \
            else None
        rows.append({"task": task, "dataset": dataset, "model": model, "strategy": strategy,
                     "attribution": a.label, "attribution_evidence": a.evidence, "budget_policy": policy,
                     "holds_constant": HOLDS_CONSTANT.get(policy, "") if policy else ""})
    return pd.DataFrame(rows)


def baselines(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    r = results[results["strategy"] == "baseline"]
    r = headline_rows(r, metric_for_task)
    return r[["task", "dataset", "family", "metric", "value"]].reset_index(drop=True)


def composition(results: pd.DataFrame) -> pd.DataFrame:
    """Mean subset composition metrics per (strategy, fraction)."""
    r = results[results["task"] == "composition"]
    return (r.groupby(["metric", "strategy", "fraction"], observed=True)["value"].mean().reset_index())


def scaling_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE, *, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per curve (task, dataset, model, strategy): power law vs constant vs log-linear by AIC, and
    bootstrap-over-seeds intervals (``n_boot`` resamples of the replicate runs at each size) for S_inf,
    alpha and the saturation point by three rules, as corpus fractions: reference (any run > 95 % of the
    best), seed mean, and fitted (the fit reaches 95 % of S_inf)."""
    from cellplateau.analysis.bootstrap import percentile_interval, resample_matrix
    from cellplateau.analysis.fits import compare_scaling, fit_power_law_many, saturation_from_fit

    r = model_rows(results)
    rows = []
    for (task, dataset, model, strategy), g in r.groupby(["task", "dataset", "model", "strategy"], observed=True):
        g = g[(g["metric"] == metric_for_task.get(task)) & g["n_cells"].notna() & g["value"].notna()]
        sizes = g["n_cells"].to_numpy(float)
        if len(np.unique(sizes)) < 3:
            continue
        scores = g["value"].to_numpy(float)
        corpus = float(np.nanmax(g["n_cells"] / g["fraction"]))
        cmp = compare_scaling(sizes, scores)
        pl = cmp.power_law
        idx = resample_matrix(sizes, n_boot, seed=seed)
        boot = fit_power_law_many(sizes[idx], scores[idx])
        draws = {"s_inf": boot["s_inf"], "alpha": boot["alpha"],
                 "sat_fitted": saturation_from_fit(boot["s_inf"], boot["a"], boot["alpha"]) / corpus,
                 "sat_reference": np.array([saturation_reference(sizes[i] / corpus, scores[i]) for i in idx]),
                 "sat_seed_mean": np.array([saturation_seed_mean(sizes[i] / corpus, scores[i]) for i in idx])}
        est = {"s_inf": pl.s_inf, "alpha": pl.alpha, "sat_fitted": pl.saturation() / corpus,
               "sat_reference": saturation_reference(sizes / corpus, scores),
               "sat_seed_mean": saturation_seed_mean(sizes / corpus, scores)}
        seeds = int(pd.Series(sizes).value_counts().min())
        row = {"task": task, "dataset": dataset, "model": model, "strategy": strategy, "corpus_cells": corpus,
               "fit_a": pl.a, "n_runs": len(scores), "min_seeds": seeds, "low_confidence": seeds < MIN_SEEDS,
               "best_model": cmp.best_model,
               "scaling_supported": cmp.scaling_supported,
               "saturating": bool(cmp.best_model == "power_law" and not pl.at_bound and pl.a > 0),
               "delta_aic_vs_constant": cmp.aic["constant"] - min(cmp.aic["power_law"], cmp.aic["loglinear"]),
               "delta_aicc_vs_constant": cmp.aicc["constant"] - min(cmp.aicc["power_law"], cmp.aicc["loglinear"]),
               "delta_bic_vs_constant": cmp.bic["constant"] - min(cmp.bic["power_law"], cmp.bic["loglinear"])}
        for k, v in est.items():
            lo, hi = percentile_interval(draws[k], level=level)
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = v, lo, hi
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.merge(attribution_table(results, metric_for_task, fits=out), on=CURVE_KEYS, how="left")


def strategy_vs_random(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE, *, n_boot: int = 1000,
                       seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Does a diversity-aware strategy beat random at the same size? Mean difference (strategy - random)
    per (task, dataset, model, fraction < 1) with a bootstrap interval over seeds (runs resampled within
    each arm), plus the mean Vendi score and inverse Simpson of both arms' subsets."""
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
            draws = np.array([rng.choice(v, len(v)).mean() - rng.choice(base, len(base)).mean()
                              for _ in range(n_boot)])
            lo, hi = percentile_interval(draws, level=level)
            row = {"task": task, "dataset": dataset, "model": model, "fraction": frac, "strategy": strategy,
                   "difference": float(v.mean() - base.mean()), "difference_lo": lo, "difference_hi": hi,
                   "n_runs": len(v), "low_confidence": bool(min(len(v), len(base)) < MIN_SEEDS)}
            for metric in ("vendi_rbf", "inverse_simpson"):
                if metric in div.columns:
                    row[f"{metric}_strategy"] = div[metric].get((strategy, frac), np.nan)
                    row[f"{metric}_random"] = div[metric].get(("random", frac), np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point beats on both lower cost and higher score."""
    cost, score = np.asarray(cost, float), np.asarray(score, float)
    order = np.lexsort((-score, cost))
    mask = np.zeros(len(cost), bool)
    best = -np.inf
    for i in order:
        if score[i] > best:
            mask[i] = True
            best = score[i]
    return mask


def compute_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE, *,
                  curves_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean headline score against median training FLOPs per (task, dataset, model, strategy, fraction),
    with the Pareto frontier per (task, dataset). ``curves_table``: :func:`curves` if already computed."""
    r = with_model(results)
    fit = r[(r["task"] == "pretraining") & (r["metric"] == "flops") & (r["strategy"] != "control")]
    flops = fit.groupby(["model", "strategy", "fraction"], observed=True)["value"].median().rename("flops")
    c = curves(results, metric_for_task) if curves_table is None else curves_table
    c = c.join(flops, on=["model", "strategy", "fraction"])
    c["pareto"] = False
    for _, g in c.groupby(["task", "dataset"]):
        ok = g["flops"].notna()
        c.loc[g.index[ok], "pareto"] = pareto_front(g.loc[ok, "flops"], g.loc[ok, "mean"])
    return c


def joint_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    """Where a family was run at several sizes: the joint fit S(N, P) per (task, dataset, family, strategy) over
    the cells each model actually saw in training (``cells_seen``: steps x batch; a fixed step budget sees the
    same cells at every subset size), and the best (P, cells seen) for three compute budgets spanning the FLOPs
    the study spent (C = 6 P x cells seen), never beyond the most cells any run saw."""
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
