"""The study's answer at a glance: the tables behind the report's first screen and ``cellplateau report``'s
terminal summary, derived from the report's own tables (no new statistics).

One row per (task, dataset, model):

* where the random-subset curve saturates (seed-mean rule, 95 % bootstrap interval over seeds), and why
  (the ``attribution``, ``attribution_evidence`` and ``low_confidence`` columns of
  :func:`cellplateau.analysis.summary.scaling_table` when the analysis provides them; ``None`` = not assessed);
* each diversity-aware strategy minus random at the smallest size studied, with its interval;
* per (task, dataset): the cheapest configuration on the compute frontier that scores within ``tolerance``
  (1 %) of the best mean score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ATTRIBUTION_COLUMNS = ("attribution", "attribution_evidence", "low_confidence")
KEYS = ["task", "dataset", "model"]


def _reference_strategy(strategies) -> str:
    s = list(dict.fromkeys(strategies))
    return "random" if "random" in s else s[0]


def saturation_rows(fits: pd.DataFrame) -> pd.DataFrame:
    """Per (task, dataset, model): the saturation point of the random curve (or the first strategy when a study
    has no random arm) with its interval, and the plateau's attribution if the analysis gives one."""
    cols = [*KEYS, "strategy", "sat", "sat_lo", "sat_hi", "saturating", "scaling_supported",
            *ATTRIBUTION_COLUMNS]
    if fits.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in fits.groupby(KEYS, observed=True, sort=True):
        ref = g[g["strategy"] == _reference_strategy(g["strategy"])].iloc[0]
        row = dict(zip(KEYS, key))
        row.update(strategy=ref["strategy"], sat=ref["sat_seed_mean"], sat_lo=ref["sat_seed_mean_lo"],
                   sat_hi=ref["sat_seed_mean_hi"], saturating=bool(ref["saturating"]),
                   scaling_supported=bool(ref["scaling_supported"]))
        for c in ATTRIBUTION_COLUMNS:           # absent = the analysis did not assess it (never invented here)
            row[c] = ref[c] if c in fits.columns else None
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def diversity_rows(vs_random: pd.DataFrame) -> pd.DataFrame:
    """Each diversity-aware strategy minus random at the smallest fraction studied, per (task, dataset, model)."""
    cols = [*KEYS, "strategy", "fraction", "difference", "difference_lo", "difference_hi", "verdict"]
    if vs_random.empty:
        return pd.DataFrame(columns=cols)
    smallest = vs_random[vs_random["fraction"] == vs_random["fraction"].min()].copy()
    smallest["verdict"] = np.select([smallest["difference_lo"] > 0, smallest["difference_hi"] < 0],
                                    ["better", "worse"], "no clear difference")
    return smallest[cols].sort_values([*KEYS, "strategy"]).reset_index(drop=True)


def cheapest_rows(compute: pd.DataFrame, *, tolerance: float = 0.01) -> pd.DataFrame:
    """Per (task, dataset): the configuration (model, strategy, fraction) with the fewest training FLOPs whose
    mean score is within ``tolerance`` of the best mean score (higher is better for every headline metric).

    It lies on the compute frontier by construction; ``flops_share`` is its FLOPs over the best run's."""
    cols = ["task", "dataset", "model", "strategy", "fraction", "score", "best_score", "best_model",
            "best_strategy", "best_fraction", "flops", "flops_share"]
    rows = []
    if "flops" not in compute.columns:
        return pd.DataFrame(columns=cols)
    for (task, dataset), g in compute[compute["flops"].notna()].groupby(["task", "dataset"], observed=True):
        if g.empty:
            continue
        best = g.loc[g["mean"].idxmax()]
        ok = g[g["mean"] >= best["mean"] - tolerance * abs(best["mean"])]
        pick = ok.sort_values(["flops", "mean"], ascending=[True, False]).iloc[0]
        rows.append({"task": task, "dataset": dataset, "model": pick["model"], "strategy": pick["strategy"],
                     "fraction": pick["fraction"], "score": pick["mean"], "best_score": best["mean"],
                     "best_model": best["model"], "best_strategy": best["strategy"],
                     "best_fraction": best["fraction"], "flops": pick["flops"],
                     "flops_share": pick["flops"] / best["flops"] if best["flops"] > 0 else np.nan})
    return pd.DataFrame(rows, columns=cols)


def with_attribution(fits: pd.DataFrame, sat: pd.DataFrame | None) -> pd.DataFrame:
    """``fits`` with the attribution columns the saturation table carries (per task, dataset, model, strategy)
    added where ``fits`` lacks them."""
    if sat is None or sat.empty or fits.empty:
        return fits
    cols = [c for c in ATTRIBUTION_COLUMNS if c in sat.columns and c not in fits.columns]
    if not cols:
        return fits
    return fits.merge(sat[[*KEYS, "strategy", *cols]].drop_duplicates([*KEYS, "strategy"]),
                      on=[*KEYS, "strategy"], how="left")


def glance_tables(fits: pd.DataFrame, vs_random: pd.DataFrame, compute: pd.DataFrame,
                  sat: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The three tables of the first screen: ``saturation``, ``diversity``, ``cheapest``. The attribution comes
    from ``fits`` or, where the analysis puts it there, from the saturation table ``sat``."""
    fits = with_attribution(fits, sat)
    return {"saturation": saturation_rows(fits), "diversity": diversity_rows(vs_random),
            "cheapest": cheapest_rows(compute)}
