"""The study's answer at a glance: the tables behind the report's first screen and ``cellplateau report``'s
terminal summary, derived from the report's own tables (no new statistics).

One row per (task, dataset, model), both of the study's questions in their own columns:

* the *scaling verdict* of the random-subset curve (or the first strategy when a study has no random arm): its
  label, where it saturates under the study's rule (named, with its 95 % bootstrap interval over seeds), the
  evidence, convergence and low confidence (the columns of :func:`cellplateau.analysis.verdicts.verdict_table`;
  ``None`` = not assessed, never invented here);
* the *value verdict*: the best size against the in-dataset baselines, anchored between the floor and the
  ceiling;
* each diversity-aware strategy minus random at the smallest size studied, with its interval;
* per (task, dataset): the cheapest configuration on the compute frontier that scores within ``tolerance``
  (1 %) of the best mean score, and whether a model-free baseline beats every pretrained model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["task", "dataset", "model"]
VERDICT_COLUMNS = ("scaling_verdict", "scaling_evidence", "convergence", "low_confidence", "saturation_rule",
                   "value_verdict", "value_evidence", "anchored_best", "anchored_resolution")


def _reference_strategy(strategies) -> str:
    s = list(dict.fromkeys(strategies))
    return "random" if "random" in s else s[0]


def saturation_rows(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per (task, dataset, model): the reference curve's saturation point (the study's rule) with its interval
    and both verdicts, when the analysis gives them."""
    cols = [*KEYS, "strategy", "sat", "sat_lo", "sat_hi", *VERDICT_COLUMNS]
    if verdicts.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in verdicts.groupby(KEYS, observed=True, sort=True):
        ref = g[g["strategy"] == _reference_strategy(g["strategy"])].iloc[0]
        row = dict(zip(KEYS, key))
        row.update(strategy=ref["strategy"], sat=ref.get("saturation", np.nan),
                   sat_lo=ref.get("saturation_lo", np.nan), sat_hi=ref.get("saturation_hi", np.nan))
        for c in VERDICT_COLUMNS:
            row[c] = ref[c] if c in verdicts.columns else None
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def diversity_rows(vs_random: pd.DataFrame) -> pd.DataFrame:
    """Each diversity-aware strategy minus random at the smallest fraction studied, per (task, dataset, model);
    "better" follows the metric's direction."""
    cols = [*KEYS, "strategy", "fraction", "difference", "difference_lo", "difference_hi", "verdict"]
    if vs_random.empty:
        return pd.DataFrame(columns=cols)
    smallest = vs_random[vs_random["fraction"] == vs_random["fraction"].min()].copy()
    up = smallest["higher_is_better"].fillna(True).astype(bool) if "higher_is_better" in smallest.columns else True
    better = np.where(up, smallest["difference_lo"] > 0, smallest["difference_hi"] < 0)
    worse = np.where(up, smallest["difference_hi"] < 0, smallest["difference_lo"] > 0)
    smallest["verdict"] = np.select([better, worse], ["better", "worse"], "no clear difference")
    return smallest[cols].sort_values([*KEYS, "strategy"]).reset_index(drop=True)


def cheapest_rows(compute: pd.DataFrame, *, tolerance: float = 0.01, baselines: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """Per (task, dataset): the configuration (model, strategy, fraction) with the fewest training FLOPs whose
    mean score is within ``tolerance`` of the best mean score, in the metric's direction (``higher_is_better``
    column; higher when absent). It lies on the compute frontier by construction; ``flops_share`` is its FLOPs
    over the best run's. ``baselines`` (task, dataset, name, score, higher_is_better: usable model-free
    baselines): ``baseline_beats_all`` names one that beats every pretrained model."""
    cols = ["task", "dataset", "model", "strategy", "fraction", "score", "best_score", "best_model",
            "best_strategy", "best_fraction", "flops", "flops_share", "baseline_beats_all", "baseline_score"]
    rows = []
    if "flops" not in compute.columns:
        return pd.DataFrame(columns=cols)
    for (task, dataset), g in compute[compute["flops"].notna()].groupby(["task", "dataset"], observed=True):
        if g.empty:
            continue
        up = bool(g["higher_is_better"].iloc[0]) if "higher_is_better" in g.columns else True
        o = g["mean"] if up else -g["mean"]
        best = g.loc[o.idxmax()]
        ob = best["mean"] if up else -best["mean"]
        ok = g[o >= ob - tolerance * abs(ob)]
        pick = ok.sort_values(["flops", "mean"], ascending=[True, not up]).iloc[0]
        beats, score = None, np.nan
        if baselines is not None and not baselines.empty:
            b = baselines[(baselines["task"] == task) & (baselines["dataset"] == dataset)]
            if len(b):
                k = b["score"].idxmax() if up else b["score"].idxmin()
                s = float(b.loc[k, "score"])
                if (s > best["mean"]) if up else (s < best["mean"]):
                    beats, score = str(b.loc[k, "name"]), s
        rows.append({"task": task, "dataset": dataset, "model": pick["model"], "strategy": pick["strategy"],
                     "fraction": pick["fraction"], "score": pick["mean"], "best_score": best["mean"],
                     "best_model": best["model"], "best_strategy": best["strategy"],
                     "best_fraction": best["fraction"], "flops": pick["flops"],
                     "flops_share": pick["flops"] / best["flops"] if best["flops"] > 0 else np.nan,
                     "baseline_beats_all": beats, "baseline_score": score})
    return pd.DataFrame(rows, columns=cols)


def glance_tables(verdicts: pd.DataFrame, vs_random: pd.DataFrame, compute: pd.DataFrame,
                  baselines: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The three tables of the first screen: ``saturation`` (both verdicts), ``diversity``, ``cheapest``."""
    return {"saturation": saturation_rows(verdicts), "diversity": diversity_rows(vs_random),
            "cheapest": cheapest_rows(compute, baselines=baselines)}
