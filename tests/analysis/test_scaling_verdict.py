"""The scaling verdict: pure cases, and each label planted on the tiny synthetic atlas with real trainings."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cellplateau.analysis import summary
from cellplateau.analysis.saturation import saturation_seed_mean
from cellplateau.analysis.scaling_verdict import CurveRuns, scaling_verdict
from cellplateau.analysis.verdicts import FIT_PER_MODEL
from cellplateau.evaluation.datasets import load_eval_dataset
from cellplateau.evaluation.knn_classification import KNNConfig, baselines, evaluate
from cellplateau.models import FAMILIES, TrainingData

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FR = np.repeat([0.1, 0.3, 1.0], 2)


def _runs(scores, **kw):
    return CurveRuns.of(FR, scores, **{"converged": np.ones(6), "cells_seen": FR * 1000, "epochs": np.ones(6), **kw})


def _verdict(runs, **kw):
    return scaling_verdict(runs, saturation=saturation_seed_mean(runs.fractions, runs.scores), **kw)


def test_pure_labels_in_their_order():
    flat = [0.7, 0.72, 0.85, 0.86, 0.86, 0.87]
    ctl = np.array([0.5, 0.51])
    v = _verdict(_runs(flat), control=ctl)
    assert v.label == "data-limited" and v.convergence == "converged" and "from 30%" in v.evidence, v
    assert _verdict(_runs(flat, converged=[1, 1, 0, 1, 0, 0]), control=ctl).label == "compute-limited"
    unknown = _verdict(_runs(flat, converged=np.full(6, np.nan)), control=ctl)
    # convergence that cannot be told does not decide the label: the scores do, with a visible caveat
    assert unknown.label == "data-limited" and unknown.convergence == "unknown", unknown
    assert "convergence unknown" in unknown.evidence
    seen = _verdict(_runs(flat, cells_seen=np.full(6, 6400.0), epochs=6400 / (FR * 30_000)), control=ctl)
    assert seen.label == "compute-limited" and "cells seen did not grow" in seen.evidence
    assert _verdict(_runs([0.5, 0.52, 0.6, 0.62, 0.8, 0.81]), control=ctl).label == "still rising"
    cap = _verdict(_runs(flat), control=ctl, larger=(0.93, "pca-l"))
    assert cap.label == "capacity-limited" and "pca-l" in cap.evidence
    # a larger size within seed noise does not make the curve capacity-limited
    assert _verdict(_runs(flat), control=ctl, larger=(0.8705, "pca-l")).label == "data-limited"


def test_no_pretraining_effect_is_judged_against_the_control_and_seed_noise_never_baselines():
    at_chance = [0.33, 0.35, 0.34, 0.33, 0.35, 0.34]
    v = _verdict(_runs(at_chance), control=np.array([0.34, 0.335, 0.345]))
    assert v.label == "no pretraining effect" and "untrained control" in v.evidence, v
    # far above the control: a scaling answer, whatever a baseline scores (no baseline argument exists)
    rising = _verdict(_runs([0.53, 0.55, 0.80, 0.82, 0.90, 0.91]), control=np.array([0.53, 0.52]))
    assert rising.label == "still rising", rising
    # a missing control is stated, not skipped silently
    v = _verdict(_runs([0.7, 0.72, 0.85, 0.86, 0.86, 0.87]), control=None)
    assert v.label == "data-limited" and "no untrained control" in v.evidence


def test_the_evaluations_own_sampling_error_counts_beside_seed_noise():
    """Seeds that agree (a fixed evaluation set every model shares) do not make a 0.02 gain real when the
    headline moves by 0.02 between the task's own splits."""
    tight = [0.35, 0.352, 0.351, 0.353, 0.352, 0.354]
    ctl = np.array([0.333, 0.334, 0.332])
    assert _verdict(_runs(tight), control=ctl).label != "no pretraining effect"
    v = _verdict(_runs(tight), control=ctl, eval_se=0.012)
    assert v.label == "no pretraining effect" and "seed and evaluation noise" in v.evidence, v
    # a real effect stays real: 0.2 above the control is far beyond both
    assert _verdict(_runs([0.5, 0.52, 0.55, 0.55, 0.55, 0.56]), control=ctl, eval_se=0.012).label == "data-limited"


def test_a_curve_with_one_size_is_refused_by_name():
    with pytest.raises(ValueError, match="at least 2 subset sizes"):
        scaling_verdict(CurveRuns.of([0.1, 0.1], [0.5, 0.6]), saturation=0.1)


def _curve_rows(store, ds, model_name, family, config, *, fractions=(0.1, 0.3, 1.0), seeds=(0, 1), size="custom",
                labels=None, control_seeds=(0,)):
    """Train ``config`` on random subsets and evaluate kNN on ``ds``: results-table rows of one curve plus its
    untrained control (the columns the summary functions read)."""
    fam = FAMILIES[family]
    ds = ds if labels is None else dataclasses.replace(ds, labels=labels)
    rows = []
    head = {"family": family, "model_size": size, "dataset": ds.name, "budget_policy": None}
    for f in fractions:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(store.n_cells, size=int(store.n_cells * f), replace=False))
            val = np.zeros(len(idx), bool)
            val[rng.choice(len(idx), size=len(idx) // 10, replace=False)] = True
            model = fam.model(fam.config(**config))
            info = model.fit(TrainingData(store, idx[~val], idx[val]), seed=seed)
            key = f"{model_name}-{f}-{seed}"
            base = {**head, "strategy": "random", "fraction": f, "n_cells": len(idx), "model_key": key,
                    "budget_policy": info.budget.get("policy")}
            rows.append({**base, "task": "knn_classification", "metric": "micro_f1",
                         "value": evaluate(model.embed(ds.counts), ds, KNN, 0)["micro_f1"]})
            for m in FIT_PER_MODEL:
                v = getattr(info, m)
                rows.append({**base, "task": "pretraining", "dataset": "corpus", "metric": m,
                             "value": np.nan if v is None else float(v)})
    for seed in control_seeds:
        control = fam.model(fam.config(**config))
        control.untrained_control(store.n_genes, seed=seed)
        rows.append({**head, "strategy": "control", "fraction": 0.0, "n_cells": 0,
                     "model_key": f"{model_name}-ctl{seed}", "task": "knn_classification", "metric": "micro_f1",
                     "value": evaluate(control.embed(ds.counts), ds, KNN, 0)["micro_f1"]})
    return rows


def _baseline_rows(ds, labels=None):
    ds = ds if labels is None else dataclasses.replace(ds, labels=labels)
    return [{"family": f"baseline:{b}", "model_size": "-", "strategy": "baseline", "fraction": np.nan,
             "task": "knn_classification", "dataset": ds.name, "metric": "micro_f1", "value": s["micro_f1"]}
            for b, s in baselines(ds, KNNConfig(n_splits=1, per_class=False, baseline_hvg=100, baseline_pcs=10),
                                  0).items()]


def _attribution(rows):
    table = summary.verdict_table(pd.DataFrame(rows), n_boot=200)
    return {m: (a, e) for m, a, e in zip(table["model"], table["scaling_verdict"], table["scaling_evidence"])}


@pytest.fixture(scope="module")
def donors(tiny_atlas, tiny_store):
    return load_eval_dataset(tiny_atlas / "eval" / "heldout_donors.h5ad", tiny_store.var, name="donors",
                             label_key="cell_type")


MAE = {"hidden": [16], "latent": 4, "batch_size": 32, "lr": 1e-2}
KNN = KNNConfig(n_splits=1, per_class=False)


def test_planted_compute_limited_mae_and_the_same_mae_trained_to_convergence(tiny_store, donors):
    short = _curve_rows(tiny_store, donors, "mae-short", "mae",
                        {**MAE, "budget": {"policy": "fixed_steps", "steps": 8, "eval_every": 2}},
                        fractions=(0.2, 1.0))
    long = _curve_rows(tiny_store, donors, "mae-long", "mae",
                       {**MAE, "budget": {"policy": "early_stopping", "max_steps": 600, "eval_every": 5,
                                          "patience": 2, "converge_window": 2}}, fractions=(0.2, 1.0))
    # two families named apart so each is its own curve
    for r in long:
        r["family"] = "mae2"
    got = _attribution(short + long + _baseline_rows(donors))
    assert got["mae"][0] == "compute-limited" and "had not converged" in got["mae"][1], got
    assert got["mae2"][0] != "compute-limited", got
    converged = [r["value"] for r in long if r["metric"] == "converged"]
    assert converged and all(v == 1.0 for v in converged)


def test_planted_no_pretraining_effect_labels_unrelated_to_expression(tiny_store, donors):
    noise = np.random.default_rng(0).permutation(np.array(["a", "b", "c"])[np.arange(donors.n_cells) % 3])
    rows = _curve_rows(tiny_store, donors, "pca", "pca", {"n_components": 10, "n_hvg": 100}, labels=noise,
                       seeds=(0, 1, 2), control_seeds=(0, 1, 2))
    a, evidence = _attribution(rows + _baseline_rows(donors, labels=noise))["pca"]
    assert a == "no pretraining effect", evidence


def test_planted_pca_far_above_its_control_but_below_the_dataset_pca_answers_both_questions(tiny_store, donors):
    """The reference's situation: a curve that rises above its untrained control (a scaling answer) while an
    in-dataset PCA beats it (the value verdict says so in its own column)."""
    rows = _curve_rows(tiny_store, donors, "pca", "pca", {"n_components": 2, "n_hvg": 100})
    base = _baseline_rows(donors)
    best_base = max(r["value"] for r in base if r["family"] == "baseline:dataset_pca")
    table = summary.verdict_table(pd.DataFrame(rows + base), n_boot=200)
    row = table.iloc[0]
    assert row["best"] < best_base, (row["best"], best_base)
    assert row["scaling_verdict"] != "no pretraining effect", row["scaling_evidence"]
    assert row["value_verdict"] in ("below the in-dataset baseline", "no better than its floor"), row["value_evidence"]
    assert row["ceiling_name"] in ("dataset_pca", "hvg_expression") and row["floor_name"] == "untrained control"


def test_planted_capacity_and_data_limited_pca(tiny_store, donors):
    small = _curve_rows(tiny_store, donors, "pca-xs", "pca", {"n_components": 2, "n_hvg": 100}, size="xs")
    large = _curve_rows(tiny_store, donors, "pca-l", "pca", {"n_components": 30, "n_hvg": 100}, size="l")
    got = _attribution(small + large)
    assert got["pca-xs"][0] == "capacity-limited", got
    assert got["pca-l"][0] == "data-limited", got
