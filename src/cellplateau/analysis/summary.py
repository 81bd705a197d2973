"""Tables the report shows, derived from the long-format results table only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellplateau.analysis.saturation import saturation_reference, saturation_seed_mean

HEADLINE = {"knn_classification": "micro_f1"}


def model_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Evaluation records of trained models (not baselines, composition or compute records)."""
    r = results
    return r[(r["strategy"] != "baseline") & (~r["task"].isin(["composition", "pretraining", "selection"]))]


def curves(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    """Mean, standard error and count over seeds per (task, dataset, family, strategy, fraction)."""
    r = model_rows(results)
    r = r[r.apply(lambda row: metric_for_task.get(row["task"]) == row["metric"], axis=1)] if len(r) else r
    g = r.groupby(["task", "dataset", "metric", "family", "strategy", "fraction"], observed=True)["value"]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n"].clip(lower=1))
    out.loc[out["n"] < 2, "se"] = np.nan
    return out


def saturation_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE,
                     *, threshold: float = 0.95) -> pd.DataFrame:
    """Saturation point by the reference and the seed-mean rule per (task, dataset, family, strategy)."""
    r = model_rows(results)
    rows = []
    for (task, dataset, family, strategy), g in r.groupby(["task", "dataset", "family", "strategy"], observed=True):
        g = g[g["metric"] == metric_for_task.get(task)]
        if g.empty:
            continue
        f, v = g["fraction"].to_numpy(float), g["value"].to_numpy(float)
        rows.append({"task": task, "dataset": dataset, "family": family, "strategy": strategy,
                     "metric": metric_for_task[task], "best": float(np.nanmax(v)),
                     "saturation_reference": saturation_reference(f, v, threshold=threshold),
                     "saturation_seed_mean": saturation_seed_mean(f, v, threshold=threshold)})
    return pd.DataFrame(rows)


def baselines(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    r = results[results["strategy"] == "baseline"]
    r = r[r.apply(lambda row: metric_for_task.get(row["task"]) == row["metric"], axis=1)] if len(r) else r
    return r[["task", "dataset", "family", "metric", "value"]].reset_index(drop=True)


def composition(results: pd.DataFrame) -> pd.DataFrame:
    """Mean subset composition metrics per (strategy, fraction)."""
    r = results[results["task"] == "composition"]
    return (r.groupby(["metric", "strategy", "fraction"], observed=True)["value"].mean().reset_index())
