"""Tables the report shows, derived from the long-format results table only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cellplateau.analysis.saturation import saturation_reference, saturation_seed_mean

HEADLINE = {"knn_classification": "micro_f1"}


NON_EVAL_TASKS = ("composition", "pretraining", "selection")


def with_model(results: pd.DataFrame) -> pd.DataFrame:
    """Add ``model``: the family, suffixed with its size preset when it has one (``mae-l``)."""
    r = results.copy()
    size = r["model_size"].astype(str)
    r["model"] = r["family"].astype(str).where(size.isin(["custom", "-", "None", "nan"]),
                                               r["family"].astype(str) + "-" + size)
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
    r = r[[metric_for_task.get(t) == m for t, m in zip(r["task"], r["metric"])]]
    return r.groupby(["task", "dataset", "metric", "model"], observed=True)["value"].mean().reset_index()


def curves(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    """Mean, standard error and count over seeds per (task, dataset, family, strategy, fraction)."""
    r = model_rows(results)
    r = r[[metric_for_task.get(t) == m for t, m in zip(r["task"], r["metric"])]]
    g = r.groupby(["task", "dataset", "metric", "model", "strategy", "fraction"], observed=True)["value"]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n"].clip(lower=1))
    out.loc[out["n"] < 2, "se"] = np.nan
    return out


def saturation_table(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE,
                     *, threshold: float = 0.95) -> pd.DataFrame:
    """Saturation point by the reference and the seed-mean rule per (task, dataset, family, strategy)."""
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
    return pd.DataFrame(rows)


def baselines(results: pd.DataFrame, metric_for_task: dict[str, str] = HEADLINE) -> pd.DataFrame:
    r = results[results["strategy"] == "baseline"]
    r = r[[metric_for_task.get(t) == m for t, m in zip(r["task"], r["metric"])]]
    return r[["task", "dataset", "family", "metric", "value"]].reset_index(drop=True)


def composition(results: pd.DataFrame) -> pd.DataFrame:
    """Mean subset composition metrics per (strategy, fraction)."""
    r = results[results["task"] == "composition"]
    return (r.groupby(["metric", "strategy", "fraction"], observed=True)["value"].mean().reset_index())
