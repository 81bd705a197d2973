"""Adaptive scheduling on planted curves: one saturates early, one keeps rising."""

import numpy as np
import pandas as pd

from cellplateau.analysis.adaptive import curve_status, next_schedule
from cellplateau.analysis.summary import scaling_table

FRACTIONS = [0.005, 0.01, 0.03, 0.1, 0.3, 1.0]
CORPUS = 100_000
LAWS = {"early": lambda n: 0.8 - 0.6 * np.exp(-n / 300.0),          # flat from ~1 % of the corpus
        "early_small": lambda n: 0.6 - 0.4 * np.exp(-n / 150.0),    # a smaller model, flat even sooner
        "rising": lambda n: 0.9 - 0.6 * (n / 500.0) ** -0.25}        # still rising at 100 %


def _rows(model: str, fractions, seeds=3):
    out = []
    for f in fractions:
        for s in range(seeds):
            n = int(CORPUS * f)
            out.append({"study": "x", "strategy": "random", "fraction": f, "replicate": s, "n_cells": n,
                        "family": model, "model_size": "custom", "task": "knn_classification", "dataset": "a",
                        "metric": "micro_f1", "value": LAWS[model](n) + np.random.default_rng(
                            int(f * 1e4) * 10 + s + 3 * sorted(LAWS).index(model)).normal(0, 0.004)})
    return out


def _table(schedule):
    return pd.DataFrame([r for (model, _), fr in schedule.items() for r in _rows(model, fr)])


def test_adaptive_reaches_the_full_grid_conclusions_with_less_than_half_the_cells():
    schedule = {(m, "random"): FRACTIONS[:3] for m in LAWS}
    for _ in range(len(FRACTIONS)):
        status = curve_status(_table(schedule), schedule, confidence=0.95, n_boot=300)
        new = next_schedule(status, schedule, FRACTIONS)
        if new == schedule:
            break
        schedule = new
    assert schedule[("rising", "random")] == FRACTIONS, "an unresolved curve runs to the end of the grid"
    assert max(schedule[("early", "random")]) <= 0.1 and max(schedule[("early_small", "random")]) <= 0.1, \
        "an early plateau stops early"
    adaptive = scaling_table(_table(schedule), n_boot=300).set_index("model")
    full = scaling_table(_table({k: FRACTIONS for k in schedule}), n_boot=300).set_index("model")
    for m in LAWS:
        assert adaptive.loc[m, "sat_seed_mean"] == full.loc[m, "sat_seed_mean"]
        assert adaptive.loc[m, "scaling_supported"] == full.loc[m, "scaling_supported"]
    cells = lambda sch: sum(CORPUS * f for fr in sch.values() for f in fr)  # noqa: E731  (training FLOPs ~ cells)
    assert cells(schedule) <= 0.5 * cells({k: FRACTIONS for k in schedule})
    assert status.set_index("model").loc["early", "resolved"] and not status.set_index("model").loc["rising",
                                                                                                       "resolved"]


def test_a_curve_without_a_fit_yet_is_extended_and_an_exhausted_grid_stops():
    schedule = {("early", "random"): [0.005, 0.01]}
    assert next_schedule(pd.DataFrame(columns=["model", "strategy", "resolved"]), schedule, FRACTIONS) == \
        {("early", "random"): [0.005, 0.01, 0.03]}
    done = {("rising", "random"): FRACTIONS}
    st = curve_status(_table(done), done, confidence=0.95, n_boot=100)
    assert next_schedule(st, done, FRACTIONS) == done
