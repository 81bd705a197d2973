"""Assemble the long-format results table from finished artifacts (one row per record)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from cellplateau import __version__
from cellplateau._io import atomic_write_bytes
from cellplateau.models.base import family_name, model_size
from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import Plan
from cellplateau.spec import family_label

COLUMNS = ["study", "strategy", "fraction", "replicate", "n_cells", "family", "model_size", "task", "dataset",
           "metric", "value", "depth", "gene_overlap", "eval_layer", "subset_key", "content_hash", "model_key",
           "subset_seed", "train_seed", "eval_seed", "corpus_fingerprint", "spec_hash", "cellplateau_version",
           "budget_policy", "step", "eval_overlap", "headline", "higher_is_better", "baseline_role"]

FIT_METRICS = ("steps", "epochs", "cells_seen", "train_loss", "val_loss", "n_params", "flops", "wall_time_s",
               "data_wait_s", "peak_rss_mb", "peak_gpu_mb", "converged", "loss_converged", "probe_converged")


def build_results(ctx: StudyContext, plan: Plan) -> pd.DataFrame:
    """Write ``results/results.parquet`` atomically and return it."""
    spec = ctx.spec
    lay = ctx.layout
    base = {"study": spec.name, "corpus_fingerprint": ctx.store.fingerprint, "spec_hash": spec.spec_hash(),
            "cellplateau_version": __version__}
    rows: list[dict] = []
    evals: dict[str, list] = {}
    for unit in plan.units["evaluate"]:
        evals.setdefault(unit.params["model_key"], []).append(unit)
    manifests: dict[str, dict] = {}
    for ref in plan.subset_refs:
        mpath = lay.subset(ref.subset_key) / "manifest.json"
        if not mpath.exists():
            continue
        m = manifests.setdefault(ref.subset_key, json.loads(mpath.read_text()))
        sub = {**base, "strategy": ref.strategy, "fraction": ref.fraction, "replicate": ref.replicate,
               "n_cells": m["n"], "subset_key": ref.subset_key, "content_hash": m["content_hash"],
               "subset_seed": m["seed"]}
        for metric, value in m.get("composition", {}).items():
            rows.append({**sub, "family": "-", "model_size": "-", "task": "composition", "dataset": "corpus",
                         "metric": metric, "value": value})
        dpath = lay.diversity(plan.diversity.get(ref.subset_key, ""))
        if dpath.exists():
            for metric, value in json.loads(dpath.read_text())["metrics"].items():
                rows.append({**sub, "family": "-", "model_size": "-", "task": "diversity", "dataset": "corpus",
                             "metric": metric, "value": value})
        rows.append({**sub, "family": "-", "model_size": "-", "task": "selection", "dataset": "corpus",
                     "metric": "select_time_s", "value": m.get("select_time_s", np.nan)})
        for fam in spec.families:
            model_key = plan.models[(ref.subset_key, family_label(fam))]
            head = {**sub, "family": family_name(fam), "model_size": model_size(fam)}
            rows += _model_rows(lay, evals, {**head, "depth": 1.0}, model_key)
            for depth in spec.quality.depth:
                key = plan.thinned.get((ref.subset_key, family_label(fam), depth))
                if key is not None:
                    rows += _model_rows(lay, evals, {**head, "depth": depth}, key)
    for (label, r), model_key in plan.controls.items():
        fam = next(f for f in spec.families if family_label(f) == label)
        ctl = {**base, "strategy": "control", "fraction": 0.0, "replicate": r, "n_cells": 0, "family": family_name(fam),
               "model_size": model_size(fam)}
        rows += _model_rows(lay, evals, ctl, model_key)
    for unit in plan.units["baseline"]:
        epath = lay.evaluation(unit.key)
        if not epath.exists():
            continue
        for rec in pd.read_parquet(epath).itertuples():
            rows.append({**base, "strategy": "baseline", "fraction": np.nan, "replicate": 0,
                         "family": f"baseline:{rec.baseline}", "model_size": "-", "task": rec.task,
                         "dataset": rec.dataset, "metric": rec.metric, "value": rec.value,
                         "eval_seed": rec.eval_seed, "gene_overlap": getattr(rec, "gene_overlap", np.nan),
                         "eval_layer": getattr(rec, "eval_layer", None)})
    table = pd.DataFrame.from_records(rows, columns=COLUMNS)
    # evaluation cells that are also corpus cells, per dataset (excluded from selection under on_overlap: exclude)
    found = {name: rec["n_cells"] for name, rec in plan.overlap.items()}
    table["eval_overlap"] = table["dataset"].map(found).astype("Int64")
    for col in ("subset_seed", "train_seed", "eval_seed", "replicate", "n_cells", "step"):
        table[col] = table[col].astype("Int64")
    _declare_directions(table)
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(lay.results, buf.getvalue())
    return table


def _declare_directions(table: pd.DataFrame) -> None:
    """Fill ``headline``, ``higher_is_better`` and ``baseline_role`` from the registered tasks, so the table
    says itself which way each metric is better (a report built from the table alone honours it)."""
    from cellplateau.analysis.headline import metric_direction
    from cellplateau.evaluation import TASKS

    pairs = table[["task", "metric"]].drop_duplicates()
    head, higher = {}, {}
    for task, metric in pairs.itertuples(index=False):
        if task in TASKS:
            head[(task, metric)] = metric == TASKS[task].headline
            higher[(task, metric)] = metric_direction(TASKS[task], metric)
    keys = list(zip(table["task"], table["metric"]))
    table["headline"] = pd.array([head.get(k) for k in keys], dtype="boolean")
    table["higher_is_better"] = pd.array([higher.get(k) for k in keys], dtype="boolean")
    roles = [TASKS[t].baseline_role(f.removeprefix("baseline:")) if s == "baseline" and t in TASKS else None
             for t, f, s in zip(table["task"], table["family"].astype(str), table["strategy"])]
    table["baseline_role"] = pd.Series(roles, index=table.index, dtype="object")


def _model_rows(lay, evals: dict[str, list], head: dict, model_key: str) -> list[dict]:
    """Compute records and evaluation records of one model, under the identifying columns ``head``."""
    meta_path = lay.model(model_key) / "model.json"
    if not meta_path.exists():
        return []
    meta = json.loads(meta_path.read_text())
    fit = meta["fit"]
    mod = {**head, "model_key": model_key, "train_seed": meta["unit"]["seed"],
           "budget_policy": fit.get("budget", {}).get("policy")}
    rows = [{**mod, "task": "pretraining", "dataset": "corpus", "metric": metric,
             "value": _number(fit.get(metric))} for metric in FIT_METRICS]
    traj = {**mod, "task": "trajectory", "dataset": "corpus"}
    for step, cells, loss in fit.get("val_curve", []):     # the validation-loss trajectory
        rows += [{**traj, "metric": "val_loss", "value": float(loss), "step": int(step)},
                 {**traj, "metric": "cells_seen", "value": float(cells), "step": int(step)}]
    loss_steps = {int(row[0]) for row in fit.get("val_curve", [])}
    for step, cells, probe in fit.get("probe_curve", []):  # the embedding probe, at the same steps
        rows.append({**traj, "metric": "probe", "value": _number(probe), "step": int(step)})
        if int(step) not in loss_steps:                    # a plug-in probing at steps of its own
            rows.append({**traj, "metric": "cells_seen", "value": float(cells), "step": int(step)})
    for unit in evals.get(model_key, []):
        epath = lay.evaluation(unit.key)
        if not epath.exists():
            continue
        for rec in pd.read_parquet(epath).itertuples():
            rows.append({**mod, "task": rec.task, "dataset": rec.dataset, "metric": rec.metric,
                         "value": rec.value, "eval_seed": rec.eval_seed,
                         "gene_overlap": getattr(rec, "gene_overlap", np.nan),
                         "eval_layer": getattr(rec, "eval_layer", None)})
    return rows


def _number(v) -> float:
    """A fit record's value as a float (``None``, e.g. convergence that could not be told, is NaN)."""
    return float("nan") if v is None else float(v)


def read_results(ctx: StudyContext) -> pd.DataFrame:
    if not ctx.layout.results.exists():
        raise FileNotFoundError(f"{ctx.layout.results}: no results yet; run the study first")
    return pd.read_parquet(ctx.layout.results)
