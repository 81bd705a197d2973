"""Both answers for every curve of a results table: the scaling verdict (does more data help, where does it
stop) and the value verdict (is the model worth using against baselines), with the saturation point under every
rule side by side and the rule that set the headline one.

Reads the long-format results table only (a study's own or an imported one). Per curve (task, dataset, model,
strategy): :func:`verdict_table`; per size: :func:`value_table`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cellplateau.analysis.headline import headlines, higher_is_better
from cellplateau.analysis.saturation import oriented, saturation_point
from cellplateau.analysis.settings import RULES, AnalysisSpec

CURVE_KEYS = ["task", "dataset", "model", "strategy"]
MIN_SEEDS = 3
SIZE_ORDER = {"xxs": 0.25, "xs": 0.5, "s": 1.0, "m": 2.0, "l": 4.0, "xl": 8.0}
FIT_PER_MODEL = ("converged", "cells_seen", "epochs", "n_params")
VERDICT_COLUMNS = [*CURVE_KEYS, "metric", "higher_is_better", "n_sizes", "min_seeds", "low_confidence",
                   "scaling_verdict", "scaling_evidence", "convergence", "saturation_rule", "threshold", "saturation",
                   "saturation_lo", "saturation_hi",
                   *[f"sat_{r}{s}" for r in RULES for s in ("", "_lo", "_hi")],
                   "control", "eval_se", "best", "best_fraction", "value_verdict", "value_evidence", "anchored_best",
                   "anchored_resolution", "floor", "floor_name", "ceiling", "ceiling_name", "best_baseline",
                   "best_baseline_score", "budget_policy", "holds_constant", "cells_seen_smallest",
                   "cells_seen_largest", "eval_overlap"]


def base_model(model: str) -> str:
    """The model a depth variant was thinned from (``mae-l@depth0.25`` -> ``mae-l``): its untrained control."""
    return str(model).split("@depth")[0]


def size_rank(model_size) -> float:
    """An order for size labels when parameter counts are unknown: presets, or ``0.5x`` / ``2x`` multipliers."""
    s = str(model_size).strip().lower()
    if s in SIZE_ORDER:
        return SIZE_ORDER[s]
    try:
        return float(s.removesuffix("x"))
    except ValueError:
        return 1.0 if s in ("-", "custom", "none", "nan", "") else float("nan")


def _eval_se(results: pd.DataFrame, heads: Mapping[str, str]) -> dict[tuple[str, str], pd.Series]:
    """``{(task, dataset): model_key -> standard error}`` of each evaluation's headline over the task's seeded
    splits (the ``<headline>_se`` rows a task records; absent for imported tables)."""
    if "model_key" not in results.columns:
        return {}
    want = results["metric"] == results["task"].map({t: f"{m}_se" for t, m in heads.items()})
    se = results[want & results["model_key"].notna()]
    return {(t, d): g.groupby("model_key")["value"].first() for (t, d), g in se.groupby(["task", "dataset"])}


def _fit_per_model(results: pd.DataFrame) -> pd.DataFrame:
    fit = results[(results["task"] == "pretraining") & results["metric"].isin(FIT_PER_MODEL)]
    if fit.empty or "model_key" not in fit.columns:
        return pd.DataFrame(columns=list(FIT_PER_MODEL), dtype=float)
    wide = fit.pivot_table(index="model_key", columns="metric", values="value", aggfunc="first", dropna=False)
    return wide.reindex(columns=list(FIT_PER_MODEL))


def _baseline_scores(results: pd.DataFrame, heads: Mapping[str, str]) -> dict[tuple, list[tuple[str, str, float]]]:
    """``{(task, dataset): [(name, role, mean score), ...]}`` of the model-free baselines on the headline."""
    from cellplateau.evaluation import TASKS

    b = results[(results["strategy"] == "baseline")]
    b = b[np.fromiter((heads.get(t) == m for t, m in zip(b["task"], b["metric"])), bool, len(b))]
    out: dict[tuple, list] = {}
    for (task, dataset, family), g in b.groupby(["task", "dataset", "family"], observed=True):
        name = str(family).removeprefix("baseline:")
        role = None
        if "baseline_role" in g.columns and g["baseline_role"].notna().any():
            role = str(g["baseline_role"].dropna().iloc[0])
        elif task in TASKS:
            role = TASKS[task].baseline_role(name)
        out.setdefault((task, dataset), []).append((name, role, float(g["value"].mean())))
    return out


def anchors(baselines: list[tuple[str, str, float]], control: np.ndarray, *, hib: bool
            ) -> tuple[float, str, float, str, float, str]:
    """``(floor, floor name, ceiling, ceiling name, best usable baseline, its name)`` in raw units."""
    def best(items):
        items = [(v, n) for n, _, v in items if np.isfinite(v)]
        return max(items, key=lambda x: x[0] if hib else -x[0]) if items else (np.nan, "")

    floors = [b for b in baselines if b[1] == "floor"]
    if floors:
        floor, floor_name = best(floors)
        floor_name += " baseline"
    else:
        c = control[np.isfinite(control)]
        floor, floor_name = (float(c.mean()), "untrained control") if len(c) else (np.nan, "")
    ceiling, ceiling_name = best([b for b in baselines if b[1] in ("ceiling", "replicate")])
    usable, usable_name = best([b for b in baselines if b[1] != "replicate"])
    return floor, floor_name, ceiling, ceiling_name, usable, usable_name


def _boot_rules(fractions: np.ndarray, scores: np.ndarray, *, threshold: float, n_boot: int, seed: int,
                level: float) -> dict[str, tuple[float, float]]:
    """Bootstrap-over-seeds intervals of the seed-mean and any-seed saturation points (runs resampled within
    each size)."""
    from cellplateau.analysis.bootstrap import percentile_interval, resample_matrix
    from cellplateau.analysis.saturation import saturation_draws

    draws = saturation_draws(fractions, scores, resample_matrix(fractions, n_boot, seed=seed), threshold=threshold)
    return {rule: percentile_interval(d, level=level) if len(d) else (np.nan, np.nan) for rule, d in draws.items()}


def verdict_table(results: pd.DataFrame, *, analysis: AnalysisSpec | None = None,
                  metric_for_task: Mapping[str, str] | None = None, fits: pd.DataFrame | None = None,
                  n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """One row per curve with both verdicts (columns :data:`VERDICT_COLUMNS`). ``fits``: the scaling fits
    (:func:`cellplateau.analysis.summary.scaling_table`) for the fitted rule and the still-rising check;
    computed here when not given. Curves with one size get no verdict (``scaling_verdict`` None, the reason in
    the evidence)."""
    from cellplateau.analysis.scaling_verdict import CurveRuns, scaling_verdict
    from cellplateau.analysis.summary import headline_rows, model_rows, scaling_table
    from cellplateau.analysis.value_verdict import value_verdict
    from cellplateau.models._budget import HOLDS_CONSTANT

    analysis = analysis or AnalysisSpec()
    heads = metric_for_task if metric_for_task is not None else headlines(results, analysis.headline)
    every = model_rows(results, controls=True)
    every = headline_rows(every, heads)
    if every.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    if "model_key" not in every.columns:
        every = every.assign(model_key=[f"run{i}" for i in range(len(every))])
    eval_se = _eval_se(results, heads)
    ctl_rows = every[every["strategy"] == "control"]
    r = every[every["strategy"] != "control"]
    if fits is None:
        fits = scaling_table(results, heads, n_boot=n_boot, seed=seed, level=level, threshold=analysis.threshold)
    fit_by = {tuple(k): row for k, row in zip(fits[CURVE_KEYS].itertuples(index=False), fits.itertuples())} \
        if not fits.empty else {}
    fit = _fit_per_model(results)
    base = _baseline_scores(results, heads)
    depth = pd.to_numeric(r["depth"], errors="coerce").fillna(1.0) if "depth" in r.columns else \
        pd.Series(1.0, index=r.index)
    r = r.assign(_depth=depth.to_numpy())
    params = r["model_key"].map(fit["n_params"]).groupby(r["model"]).median()
    info = r.groupby("model", observed=True).agg(family=("family", "first"), size=("model_size", "first"),
                                                 depth=("_depth", "first"))
    rows = []
    for key, g in r.groupby(CURVE_KEYS, observed=True, sort=True):
        task, dataset, model, strategy = key
        hib = higher_is_better(heads, task)
        f_run = fit.reindex(g["model_key"])
        frac, raw = g["fraction"].to_numpy(float), g["value"].to_numpy(float)
        score = oriented(raw, higher_is_better=hib)
        ok = np.isfinite(score) & np.isfinite(frac)
        runs = CurveRuns.of(frac[ok], score[ok], converged=f_run["converged"].to_numpy(float)[ok],
                            cells_seen=f_run["cells_seen"].to_numpy(float)[ok],
                            epochs=f_run["epochs"].to_numpy(float)[ok])
        levels, means, se = runs.levels()
        ctl = ctl_rows[(ctl_rows["task"] == task) & (ctl_rows["dataset"] == dataset)
                       & (ctl_rows["model"] == base_model(model))]["value"].to_numpy(float)
        counts = pd.Series(runs.fractions).value_counts()
        row = {"task": task, "dataset": dataset, "model": model, "strategy": strategy, "metric": heads[task],
               "higher_is_better": hib, "n_sizes": len(levels), "min_seeds": int(counts.min()) if len(counts) else 0,
               "saturation_rule": analysis.saturation_rule, "threshold": analysis.threshold,
               "control": float(np.nanmean(ctl)) if np.isfinite(ctl).any() else np.nan}
        row["low_confidence"] = row["min_seeds"] < MIN_SEEDS
        policy = g["budget_policy"].dropna() if "budget_policy" in g.columns else pd.Series(dtype=object)
        row["budget_policy"] = policy.iloc[0] if len(policy) else None
        row["holds_constant"] = HOLDS_CONSTANT.get(row["budget_policy"], "") if row["budget_policy"] else ""
        seen = runs.cells_seen
        if len(levels):
            row["cells_seen_smallest"] = float(np.nanmedian(seen[runs.fractions == levels[0]])) \
                if np.isfinite(seen[runs.fractions == levels[0]]).any() else np.nan
            row["cells_seen_largest"] = float(np.nanmedian(seen[runs.fractions == levels[-1]])) \
                if np.isfinite(seen[runs.fractions == levels[-1]]).any() else np.nan
        if "eval_overlap" in g.columns:
            ov = pd.to_numeric(g["eval_overlap"], errors="coerce").dropna()
            row["eval_overlap"] = float(ov.max()) if len(ov) else np.nan
        if len(levels) < 2:
            rows.append({**row, "scaling_verdict": None,
                         "scaling_evidence": f"one subset size ({len(levels)}): a scaling verdict needs two or more",
                         "convergence": None})
            continue
        k_best = int(np.argmax(means))
        row["best"] = float(means[k_best]) if hib else -float(means[k_best])
        row["best_fraction"] = float(levels[k_best])
        for rule in ("seed_mean", "any_seed"):
            row[f"sat_{rule}"] = saturation_point(runs.fractions, runs.scores, rule=rule, threshold=analysis.threshold)
        for rule, (lo, hi) in _boot_rules(runs.fractions, runs.scores, threshold=analysis.threshold, n_boot=n_boot,
                                          seed=seed, level=level).items():
            row[f"sat_{rule}_lo"], row[f"sat_{rule}_hi"] = lo, hi
        fitted = fit_by.get(key)
        rising_fit = False
        for s in ("", "_lo", "_hi"):
            row[f"sat_fitted{s}"] = float(getattr(fitted, f"sat_fitted{s}")) if fitted is not None else np.nan
        if fitted is not None and analysis.saturation_rule == "fitted":   # the fit speaks only under its rule
            rising_fit = bool(fitted.scaling_supported and np.isfinite(fitted.sat_fitted)
                              and fitted.sat_fitted > levels[-1])
        rule = analysis.saturation_rule
        sat = row[f"sat_{rule}"]
        if rule == "fitted" and not np.isfinite(sat) and not np.isinf(sat):
            rule, sat = "seed_mean (no power-law fit)", row["sat_seed_mean"]
        row["saturation"] = float(min(sat, 1.0)) if np.isfinite(sat) else sat
        suffix = rule if rule in RULES else "seed_mean"
        row["saturation_lo"], row["saturation_hi"] = row[f"sat_{suffix}_lo"], row[f"sat_{suffix}_hi"]
        larger = None
        if info.loc[model, "depth"] == 1.0:
            mine = params.get(model, np.nan)
            cands = []
            for m in info.index:
                if m == model or info.loc[m, "family"] != info.loc[model, "family"] or info.loc[m, "depth"] != 1.0:
                    continue
                theirs = params.get(m, np.nan)
                bigger = theirs > mine if np.isfinite(theirs) and np.isfinite(mine) else \
                    size_rank(info.loc[m, "size"]) > size_rank(info.loc[model, "size"])
                other = r[(r["task"] == task) & (r["dataset"] == dataset) & (r["model"] == m)
                          & (r["strategy"] == strategy)]
                if bigger and len(other):
                    o = oriented(other["value"].to_numpy(float), higher_is_better=hib)
                    om = pd.Series(o).groupby(other["fraction"].to_numpy()).mean()
                    cands.append((float(om.max()), m))
            larger = max(cands, default=None)
        ctl_keys = ctl_rows.loc[(ctl_rows["task"] == task) & (ctl_rows["dataset"] == dataset)
                                & (ctl_rows["model"] == base_model(model)), "model_key"]
        e_se = eval_se.get((task, dataset), pd.Series(dtype=float)).reindex(
            pd.concat([g["model_key"], ctl_keys])).to_numpy(float)
        row["eval_se"] = float(np.nanmedian(e_se)) if np.isfinite(e_se).any() else np.nan
        v = scaling_verdict(runs, saturation=sat if np.isfinite(sat) or np.isinf(sat) else np.nan, control=oriented(
            ctl, higher_is_better=hib), larger=larger, still_rising_fit=rising_fit, rule=rule,
            eval_se=row["eval_se"])
        row.update(scaling_verdict=v.label, scaling_evidence=v.evidence, convergence=v.convergence)
        floor, floor_name, ceiling, ceiling_name, usable, usable_name = anchors(base.get((task, dataset), []), ctl,
                                                                                hib=hib)
        at_best = raw[ok][runs.fractions == levels[k_best]]
        val = value_verdict(at_best, floor=floor, floor_name=floor_name, ceiling=ceiling, ceiling_name=ceiling_name,
                            higher_is_better=hib, where=f"at {_pct(levels[k_best])}")
        row.update(value_verdict=val.label, value_evidence=val.evidence, anchored_best=val.anchored,
                   anchored_resolution=val.resolution, floor=floor, floor_name=floor_name, ceiling=ceiling,
                   ceiling_name=ceiling_name, best_baseline=usable_name, best_baseline_score=usable)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=VERDICT_COLUMNS)


def _pct(v: float) -> str:
    from cellplateau.analysis.scaling_verdict import pct

    return pct(v)


def value_table(results: pd.DataFrame, *, analysis: AnalysisSpec | None = None,
                metric_for_task: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per (task, dataset, model, strategy, fraction): the seed mean, the anchored score and its resolution
    (standard deviation over seeds), and the margin to each baseline (positive: the model is better)."""
    from cellplateau.analysis.summary import headline_rows, model_rows
    from cellplateau.analysis.value_verdict import anchored, margin

    analysis = analysis or AnalysisSpec()
    heads = metric_for_task if metric_for_task is not None else headlines(results, analysis.headline)
    every = headline_rows(model_rows(results, controls=True), heads)
    ctl_rows = every[every["strategy"] == "control"]
    base = _baseline_scores(results, heads)
    rows = []
    for (task, dataset, model, strategy, frac), g in every[every["strategy"] != "control"].groupby(
            [*CURVE_KEYS, "fraction"], observed=True, sort=True):
        hib = higher_is_better(heads, task)
        ctl = ctl_rows[(ctl_rows["task"] == task) & (ctl_rows["dataset"] == dataset)
                       & (ctl_rows["model"] == base_model(model))]["value"].to_numpy(float)
        bl = base.get((task, dataset), [])
        floor, floor_name, ceiling, ceiling_name, _, _ = anchors(bl, ctl, hib=hib)
        v = g["value"].to_numpy(float)
        a = anchored(v, floor=floor, ceiling=ceiling)
        row = {"task": task, "dataset": dataset, "model": model, "strategy": strategy, "fraction": frac,
               "mean": float(np.nanmean(v)), "n": int(np.isfinite(v).sum()),
               "anchored": float(np.nanmean(a)) if np.isfinite(a).any() else np.nan,
               "anchored_sd": float(np.nanstd(a, ddof=1)) if np.isfinite(a).sum() > 1 else np.nan,
               "floor": floor, "floor_name": floor_name, "ceiling": ceiling, "ceiling_name": ceiling_name,
               "margins": "; ".join(f"{n} {margin(float(np.nanmean(v)), s, higher_is_better=hib):+.3f}"
                                    for n, _, s in bl if np.isfinite(s))}
        rows.append(row)
    return pd.DataFrame(rows)
