"""Sequencing depth: the planted truth on the simulator, the law fit and the fixed-UMI answer."""

import numpy as np
import pandas as pd

from cellplateau.analysis.depth import depth_grid, depth_law_table, fit_log_law, fixed_budget_table
from cellplateau.corpus.thinning import ThinnedStore
from cellplateau.models import FAMILIES, TrainingData
from tests.models._learning import knn_f1

DEPTHS = (1.0, 0.2, 0.04, 0.008)


def test_planted_truth_thinning_lowers_knn_monotonically_and_the_log_law_fits(tiny_atlas, tiny_store):
    """On the simulator, thinning to depth d is sequencing the same libraries at d x the UMIs (the counts are
    Gamma-Poisson, so thinned counts are the simulator's at library size d L): less signal per cell for the
    model to learn from. PCA pretrained at lower depth must embed the (full-depth) held-out cells worse,
    monotonically, and the fitted log law must have a positive slope that beats a constant."""
    rows = np.arange(tiny_store.n_cells)
    fam = FAMILIES["pca"]
    scores = {}
    for d in DEPTHS:
        f1 = []
        for seed in range(3):
            store = ThinnedStore(tiny_store, depth=d, seed=seed) if d < 1 else tiny_store
            model = fam.model(fam.config(n_components=10, n_hvg=150))
            model.fit(TrainingData(store, rows[:1500], rows[2700:]), seed=seed)
            f1.append(knn_f1(model, tiny_atlas, tiny_store))
        scores[d] = f1
    means = [np.mean(scores[d]) for d in DEPTHS]
    # monotone in depth (within seed noise where depth does not yet limit the signal: 1.0 vs 0.2 differ by
    # ~0.002 on this atlas), and a clear loss once it does
    assert all(b <= a + 0.01 for a, b in zip(means, means[1:])), means
    assert means[-1] < means[-2] - 0.03 and means[0] - means[-1] > 0.05, means
    d = np.repeat(DEPTHS, 3)
    fit = fit_log_law(d, np.concatenate([scores[x] for x in DEPTHS]))
    assert fit["slope"] > 0 and fit["delta_aic"] > 2, fit
    assert abs(fit["s_full_depth"] - means[0]) < 0.1


def _table(law, fractions=(0.1, 0.25, 0.5, 1.0), depths=(1.0, 0.5, 0.25, 0.1), seeds=3, corpus=10_000, noise=0.005):
    """A results table whose scores follow ``law(n_cells, depth)`` plus seeded noise."""
    rng = np.random.default_rng(0)
    rows = []
    for f in fractions:
        for d in depths:
            for s in range(seeds):
                n = int(corpus * f)
                rows.append({"study": "x", "strategy": "random", "fraction": f, "replicate": s, "n_cells": n,
                             "family": "pca", "model_size": "custom", "task": "knn_classification",
                             "dataset": "a", "metric": "micro_f1", "depth": d,
                             "value": law(n, d) + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_log_law_recovers_the_planted_slope_with_an_interval():
    r = _table(lambda n, d: 0.8 + 0.04 * np.log(d))
    law = depth_law_table(r, n_boot=300)
    assert len(law) == 4 and law["law_supported"].all()
    per_doubling = 0.04 * np.log(2)
    assert np.allclose(law["slope_per_doubling"], per_doubling, rtol=0.1)
    assert (law["slope_per_doubling_lo"] > 0).all() and (law["slope_per_doubling_lo"] < law["slope_per_doubling_hi"]).all()
    assert np.allclose(law["s_full_depth"], 0.8, atol=0.01)
    flat = depth_law_table(_table(lambda n, d: 0.8), n_boot=300)
    assert not flat["law_supported"].any()


def test_fixed_budget_answers_more_cells_or_deeper_cells():
    # saturated in cells, steep in depth: at equal UMIs, deeper (fewer) cells win
    deep = fixed_budget_table(depth_grid(_table(lambda n, d: 0.8 - 0.01 * (n / 1000) ** -1 + 0.05 * np.log(d))))
    assert len(deep) > 0 and (deep["answer"] == "deeper cells").all()
    # steep in cells, flat in depth: more (shallower) cells win
    more = fixed_budget_table(depth_grid(_table(lambda n, d: 0.9 - 0.5 * (n / 1000) ** -0.5 + 0.001 * np.log(d))))
    assert len(more) > 0 and (more["answer"] == "more cells").all()
    # the comparison uses the same UMIs: N d cells at full depth
    row = deep[(deep["fraction"] == 1.0) & (deep["depth"] == 0.5)].iloc[0]
    assert row["umi_budget_cells"] == 5000
