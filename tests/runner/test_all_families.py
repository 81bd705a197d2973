"""A spec with all five families (two MAE sizes) plus untrained controls runs the four evaluation tasks on the
synthetic atlas."""

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
        "evaluation": {
            "datasets": [
                {"name": "new_assay", "path": str(tiny_atlas / "eval" / "new_assay.h5ad"), "max_cells": 300,
                 "tasks": ["knn_classification", "finetune_classification"]},
                {"name": "integration", "path": str(tiny_atlas / "eval" / "integration.h5ad"), "max_cells": 400,
                 "batch_key": "batch"},
                {"name": "perturbation", "path": str(tiny_atlas / "eval" / "perturbation.h5ad"),
                 "perturbation_key": "perturbation", "context_key": "cell_line", "label_key": None}],
            "tasks": [{"name": "knn_classification", "baseline_hvg": 200},
                      {"name": "batch_integration", "baseline_hvg": 200},
                      {"name": "finetune_classification", "n_splits": 1, "max_epochs": 20, "full_max_epochs": 3,
                       "baseline_hvg": 200},
                      {"name": "perturbation_response", "held_out": ["line0"], "n_genes": 100, "epochs": 5,
                       "min_cells": 5}]},
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
    assert len(emb_time) == 6 * 2 * 6 and (emb_time["value"] > 0).all()    # 6 models x 2 sizes x 6 (task, dataset)
    # every task ran on its dataset for every model, and every record carries its gene overlap
    ev = r[~r["task"].isin(["pretraining", "composition", "diversity", "selection", "trajectory"])]
    pairs = set(zip(ev["task"], ev["dataset"]))
    assert pairs == {("knn_classification", "new_assay"), ("finetune_classification", "new_assay"),
                     ("knn_classification", "integration"), ("batch_integration", "integration"),
                     ("finetune_classification", "integration"), ("perturbation_response", "perturbation")}
    assert (ev["gene_overlap"] == 1.0).all()
    heads = {"knn_classification": "micro_f1", "batch_integration": "avg_bio", "finetune_classification": "micro_f1",
             "perturbation_response": "pearson_delta"}
    for task, metric in heads.items():
        models = ev[(ev["task"] == task) & (ev["metric"] == metric) & (ev["strategy"] != "baseline")]
        assert len(models) >= 12 and models["value"].notna().all(), task
    full = ev[ev["metric"] == "full_micro_f1"]
    assert set(full["family"]) == {"scvi", "mae", "geneformer", "scimilarity"}     # PCA has no encoder to tune
    base = set(ev.loc[ev["strategy"] == "baseline", "family"])
    assert {"baseline:l1_logistic_hvg", "baseline:no_change", "baseline:train_mean_change",
            "baseline:hvg_expression", "baseline:dataset_pca", "baseline:majority_class"} <= base
