"""Planted truth through the real pipeline: subsets (random selection) -> PCA and MAE (the family code) -> kNN on
the planted evaluation set (the task code) -> the long-format results table (runner/aggregate.py).

The tiny atlas plants two states of 400 cells each that a model learns only from 100 of them (f* = 0.25), and a
label with no signal. Raw-score checks run now; the label checks read ``analysis.summary.verdict_table``.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from cellplateau.analysis.planted import compare_planted, planted_answer
from cellplateau.corpus.simulate import AtlasParams, simulate_atlas
from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import run_study
from cellplateau.spec import load_spec

PLANTED = AtlasParams(n_cells=4000, n_genes=300, n_lineages=4, max_subtypes=4, n_datasets=6, eval_cells=800,
                      chunk_size=2000, seed=7, eval_sets=(), planted_states=2, planted_cells=400,
                      planted_min_cells=100, planted_genes=60)
F_STAR = 0.25
FRACTIONS = [0.02, 0.1, 0.25, 0.5, 1.0]
CHANCE = 1 / 3


def verdict_table(results):
    from cellplateau.analysis.summary import verdict_table as table

    return table(results)


def _spec(root, families, *, name, fractions=FRACTIONS):
    spec = {
        "name": name, "seed": 3, "output_dir": str(root / name),
        "corpus": {"path": str(root / "corpus")},
        "selection": {"strategies": [{"name": "random"}], "fractions": fractions, "replicates": 3,
                      "diversity": False, "hausdorff_sample": 0},
        "families": families,
        "evaluation": {"datasets": [
            {"name": "planted", "path": str(root / "eval" / "planted.h5ad"), "label_key": "planted_state"},
            {"name": "no_signal", "path": str(root / "eval" / "planted.h5ad"), "label_key": "no_signal",
             "max_cells": 400}],
            "tasks": [{"name": "knn_classification", "baseline_hvg": 200, "per_class": False}]},
        "execution": {"workers": 1, "device": "cpu", "threads": 1},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_spec(path)


@pytest.fixture(scope="module")
def planted_atlas(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    simulate_atlas(root / "corpus", PLANTED)
    return root


@pytest.fixture(scope="module")
def planted_results(planted_atlas) -> pd.DataFrame:
    """One tiny study: PCA, an MAE trained to convergence and a 2-latent MAE, 5 sizes x 3 seeds."""
    early = {"policy": "early_stopping", "max_steps": 300, "eval_every": 25, "patience": 2}
    spec = _spec(planted_atlas, [
        {"name": "pca", "n_components": 30, "n_hvg": 200},
        {"name": "mae", "size": "s", "hidden": [64], "latent": 16, "batch_size": 128, "lr": 0.003, "budget": early},
        {"name": "mae", "size": "xs", "hidden": [16], "latent": 2, "batch_size": 128, "lr": 0.003, "budget": early},
    ], name="planted")
    summary = run_study(spec, progress=False, log=lambda s: None)
    assert summary.failed == {}
    return pd.read_parquet(StudyContext(spec).layout.results)


@pytest.fixture(scope="module")
def compute_results(planted_atlas) -> pd.DataFrame:
    """The same MAE under a fixed budget of 8 steps at every size: compute-limited, not data-limited."""
    spec = _spec(planted_atlas, [{"name": "mae", "hidden": [64], "latent": 16, "batch_size": 128, "lr": 0.003,
                                  "budget": {"policy": "fixed_steps", "steps": 8, "eval_every": 4}}],
                 name="compute", fractions=[0.1, 0.25, 0.5, 1.0])
    summary = run_study(spec, progress=False, log=lambda s: None)
    assert summary.failed == {}
    return pd.read_parquet(StudyContext(spec).layout.results)


def _knn(results, dataset):
    r = results[(results["task"] == "knn_classification") & (results["dataset"] == dataset)
                & (results["metric"] == "micro_f1")]
    return r


def _curve(results, dataset, family, size):
    r = _knn(results, dataset)
    r = r[(r["family"] == family) & (r["strategy"] == "random")]
    if size is not None:
        r = r[r["model_size"] == size]
    return r.groupby("fraction")["value"].agg(["mean", "std"])


def test_planted_saturation_in_the_raw_scores(planted_results):
    for family, size in (("pca", None), ("mae", "s")):
        curve = _curve(planted_results, "planted", family, size)
        print(family, size, curve.round(3).to_dict())
        best = curve["mean"].max()
        noise = max(curve["std"].mean(), 0.01)
        at_or_above = curve.loc[curve.index >= F_STAR, "mean"]
        assert (at_or_above >= best - 3 * noise).all() and (at_or_above >= 0.95 * best).all(), (family, curve)
        well_below = curve.loc[curve.index <= F_STAR / 10, "mean"]
        assert (well_below < 0.95 * best).all() and (well_below < best - 2 * noise).all(), (family, curve)


def test_no_signal_task_scores_chance_trained_and_untrained(planted_results):
    r = _knn(planted_results, "no_signal")
    models = r[r["strategy"].isin(["random", "control"])]
    assert len(models) > 0 and set(models["strategy"]) == {"random", "control"}
    assert models["value"].between(CHANCE - 0.1, CHANCE + 0.1).all(), models[["family", "fraction", "value"]]
    assert abs(models["value"].mean() - CHANCE) < 0.04


def test_planted_answer_sits_beside_the_eval_sets(planted_atlas):
    ans = planted_answer(planted_atlas / "eval").set_index("dataset")
    assert ans.loc["planted", "saturation"] == F_STAR
    assert ans.loc["no_signal", "expected"] == "no pretraining effect"
    assert planted_answer(planted_atlas / "corpus").equals(planted_answer(planted_atlas / "eval"))


def _verdicts(results):
    return verdict_table(results).set_index(["task", "dataset", "model", "strategy"])


def test_planted_saturation_is_labelled_data_limited(planted_results):
    v = _verdicts(planted_results)
    for model in ("pca", "mae-s"):
        row = v.loc[("knn_classification", "planted", model, "random")]
        assert row["scaling_verdict"] == "data-limited", row
        assert row["saturation_lo"] <= F_STAR <= row["saturation_hi"], row



def test_planted_table_reports_the_recovery(planted_atlas, planted_results):
    table = compare_planted(planted_answer(planted_atlas / "eval"), verdict_table(planted_results))
    rows = table.set_index(["dataset", "model"])
    assert rows.loc[("planted", "pca"), "recovered"] and rows.loc[("no_signal", "pca"), "recovered"]


def test_no_signal_is_labelled_no_pretraining_effect(planted_results):
    v = _verdicts(planted_results)
    rows = v.xs(("knn_classification", "no_signal"), level=("task", "dataset"))
    assert (rows["scaling_verdict"] == "no pretraining effect").all(), rows["scaling_verdict"]


def test_too_small_model_is_labelled_capacity_limited(planted_results):
    v = _verdicts(planted_results)
    assert v.loc[("knn_classification", "planted", "mae-xs", "random"), "scaling_verdict"] == "capacity-limited"


def test_fixed_small_step_budget_is_labelled_compute_limited(compute_results):
    v = _verdicts(compute_results)
    assert v.loc[("knn_classification", "planted", "mae", "random"), "scaling_verdict"] == "compute-limited"
