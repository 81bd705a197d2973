"""A spec with all five families (two MAE sizes) plus untrained controls runs on the synthetic atlas."""

import pandas as pd
import pytest
import yaml

from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import run_study
from cellplateau.spec import load_spec


@pytest.mark.slow
def test_five_families_with_controls_and_compute_columns(tiny_atlas, tmp_path):
    steps = {"policy": "fixed_steps", "steps": 20}
    spec = {
        "name": "five", "seed": 3, "output_dir": str(tmp_path / "out"), "corpus": {"path": str(tiny_atlas / "corpus")},
        "selection": {"strategies": [{"name": "random"}], "fractions": [0.2, 1.0], "replicates": 1},
        "families": [
            {"name": "pca", "size": "xs", "n_hvg": 200},
            {"name": "scvi", "size": "xs", "budget": steps},
            {"name": "mae", "size": "xs", "budget": steps},
            {"name": "mae", "size": "s", "budget": {"policy": "fixed_epochs", "epochs": 0.5, "max_steps": 50}},
            {"name": "geneformer", "size": "xs", "context_length": 32, "budget": steps},
            {"name": "scimilarity", "size": "xs", "budget": {"policy": "early_stopping", "max_steps": 40,
                                                             "eval_every": 10, "patience": 1}},
        ],
        "evaluation": {"datasets": [{"name": "new_assay", "path": str(tiny_atlas / "eval" / "new_assay.h5ad"),
                                     "max_cells": 300}],
                       "tasks": [{"name": "knn_classification", "baseline_hvg": 200}]},
        "execution": {"device": "cpu", "threads": 2},
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    s = load_spec(tmp_path / "s.yaml")
    run_study(s, progress=False, log=lambda m: None)
    r = pd.read_parquet(StudyContext(s).layout.results)
    f1 = r[(r["task"] == "knn_classification") & (r["metric"] == "micro_f1")]
    got = set(zip(f1["family"], f1["model_size"], f1["strategy"]))
    for fam, size in [("pca", "xs"), ("scvi", "xs"), ("mae", "xs"), ("mae", "s"), ("geneformer", "xs"),
                      ("scimilarity", "xs")]:
        assert {(fam, size, "random"), (fam, size, "control")} <= got
    fit = r[(r["task"] == "pretraining") & (r["strategy"] == "random")]
    wide = fit.pivot_table(index=["family", "model_size", "fraction"], columns="metric", values="value")
    assert {"flops", "n_params", "steps", "cells_seen", "wall_time_s", "peak_rss_mb", "data_wait_s"} <= set(wide.columns)
    assert (wide["flops"] > 0).all() and (wide["wall_time_s"] > 0).all()
    mae_s = wide.loc[("mae", "s")]
    assert list(mae_s["steps"]) == [2, 6]      # fixed_epochs: ceil(0.5 x 540 / 256), ceil(0.5 x 2700 / 256)
    assert (wide.loc[("scvi", "xs"), "steps"] == 20).all()     # fixed_steps: the same at every fraction
    emb_time = r[(r["metric"] == "embed_s_per_1k_cells") & (r["strategy"] == "random")]
    assert len(emb_time) == 12 and (emb_time["value"] > 0).all()
