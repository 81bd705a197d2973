"""Planted truth through the real pipeline: subsets (random selection) -> PCA, scVI and a user's `command`
family (the family code) -> kNN on the planted evaluation set (the task code) -> the long-format results table
(runner/aggregate.py) -> ``analysis.summary.verdict_table``.

The tiny atlas plants two states of 400 cells each that a model learns only from 100 of them (f* = 0.25), and a
label with no signal. Planted answers: PCA and scVI data-limited at f* within its interval; a 5-component PCA
capacity-limited (the cell types fill its components); scVI on 8 steps compute-limited; every model on the
no-signal label no pretraining effect; a command family reporting convergence data-limited, the same one reporting
a rising probe compute-limited. (The MAE is not among them: on this atlas it barely learns the planted programs,
0.48 untrained to 0.52 at best, and is honestly labelled "no pretraining effect".)
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


def _spec(root, families, *, name, fractions=FRACTIONS, datasets=("planted", "no_signal")):
    evals = [{"name": "planted", "path": str(root / "eval" / "planted.h5ad"), "label_key": "planted_state"},
             {"name": "no_signal", "path": str(root / "eval" / "planted.h5ad"), "label_key": "no_signal",
              "max_cells": 400}]
    spec = {
        "name": name, "seed": 3, "output_dir": str(root / name),
        "corpus": {"path": str(root / "corpus")},
        "selection": {"strategies": [{"name": "random"}], "fractions": fractions, "replicates": 3,
                      "diversity": False, "hausdorff_sample": 0},
        "families": families,
        "evaluation": {"datasets": [d for d in evals if d["name"] in datasets],
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
    """One tiny study, 5 sizes x 3 seeds: PCA (30 components), an scVI trained to convergence, and a PCA too small
    for the planted programs (5 components: the cell types fill them)."""
    early = {"policy": "early_stopping", "max_steps": 800, "eval_every": 25, "patience": 3}
    spec = _spec(planted_atlas, [
        {"name": "pca", "n_components": 30, "n_hvg": 200},
        {"name": "pca", "size": "xs", "n_components": 5, "n_hvg": 200},
        {"name": "scvi", "size": "s", "n_hidden": 64, "n_latent": 16, "lr": 0.01, "kl_warmup_steps": 100,
         "budget": early},
    ], name="planted")
    summary = run_study(spec, progress=False, log=lambda s: None)
    assert summary.failed == {}
    return pd.read_parquet(StudyContext(spec).layout.results)


@pytest.fixture(scope="module")
def compute_results(planted_atlas) -> pd.DataFrame:
    """The same scVI under a fixed budget of 8 steps at every size: compute-limited, not data-limited."""
    spec = _spec(planted_atlas, [{"name": "scvi", "n_hidden": 64, "n_latent": 16, "lr": 0.003, "kl_warmup_steps": 4,
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
    for family, size in (("pca", "custom"), ("scvi", "s")):
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
    for model in ("pca", "scvi-s"):
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
    assert v.loc[("knn_classification", "planted", "pca-xs", "random"), "scaling_verdict"] == "capacity-limited"


def test_fixed_small_step_budget_is_labelled_compute_limited(compute_results):
    v = _verdicts(compute_results)
    assert v.loc[("knn_classification", "planted", "scvi", "random"), "scaling_verdict"] == "compute-limited"


# A user's own model behind the `command` family: PCA on the training cells' HVGs, fitted by a script that
# reports its trajectories in fit.json. "plateau" reports a flat loss and a flat probe; "rising" reports the same
# flat loss with a probe still climbing (its scores are the same model's: only the evidence differs).
COMMAND_READ = """import h5py, numpy as np, scipy.sparse as sp
def log_norm(path):
    with h5py.File(path) as f:
        X = sp.csr_matrix((f["X/data"][:], f["X/indices"][:], f["X/indptr"][:]), shape=tuple(f["X"].attrs["shape"]))
    lib = np.asarray(X.sum(1)).ravel()
    return np.log1p(sp.diags(1e4 / np.maximum(lib, 1)) @ X).toarray()
"""
COMMAND_TRAIN = """import json, sys
from pathlib import Path
import numpy as np
from read import log_norm
h5ad, out, probe = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
L = log_norm(h5ad)
hvg = np.sort(np.argsort(L.var(0))[::-1][:200])
mean = L[:, hvg].mean(0)
comps = np.linalg.svd(L[:, hvg] - mean, full_matrices=False)[2][:30]
np.savez(out / "model.npz", hvg=hvg, mean=mean, comps=comps)
loss = [[s, 64 * s, v] for s, v in zip(range(0, 60, 10), [5.0, 2.0, 1.999, 1.9985, 1.9984, 1.9984])]
probes = {"plateau": [0.4, 0.7, 0.7004, 0.7001, 0.7002, 0.7003], "rising": [0.4, 0.45, 0.5, 0.55, 0.6, 0.66]}
(out / "fit.json").write_text(json.dumps({"steps": 50, "val_curve": loss,
                                          "probe_curve": [[s, c, p] for (s, c, _), p in zip(loss, probes[probe])]}))
"""
COMMAND_UNTRAINED = """import sys
from pathlib import Path
import numpy as np
out, n_genes = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
hvg = np.sort(rng.choice(n_genes, 200, replace=False))
np.savez(out / "model.npz", hvg=hvg, mean=np.zeros(200), comps=np.linalg.qr(rng.normal(size=(200, 30)))[0].T)
"""
COMMAND_EMBED = """import sys
import numpy as np
from read import log_norm
model, cells, out = sys.argv[1:]
m = np.load(model + "/model.npz")
np.save(out, (log_norm(cells)[:, m["hvg"]] - m["mean"]) @ m["comps"].T)
"""


@pytest.fixture(scope="module")
def command_results(planted_atlas) -> pd.DataFrame:
    root = planted_atlas
    for name, text in (("read.py", COMMAND_READ), ("train.py", COMMAND_TRAIN), ("untrained.py", COMMAND_UNTRAINED),
                       ("embed.py", COMMAND_EMBED)):
        (root / name).write_text(text)
    fams = [{"name": "command", "label": f"user_{probe}", "dim": 30, "cwd": str(root), "export_h5ad": True,
             "train": f"{{python}} train.py {{train_h5ad}} {{model_dir}} {probe}",
             "untrained": "{python} untrained.py {model_dir} {n_genes}",
             "embed": "{python} embed.py {model_dir} {input_h5ad} {output}"} for probe in ("plateau", "rising")]
    spec = _spec(root, fams, name="command", fractions=[0.02, 0.25, 1.0], datasets=("planted",))
    summary = run_study(spec, progress=False, log=lambda s: None)
    assert summary.failed == {}, "\n".join(summary.failed.values())[-3000:]
    return pd.read_parquet(StudyContext(spec).layout.results)


def test_command_family_reporting_convergence_on_the_planted_plateau_is_data_limited(command_results):
    v = _verdicts(command_results)
    row = v.loc[("knn_classification", "planted", "user_plateau", "random")]
    assert row["scaling_verdict"] == "data-limited" and row["convergence"] == "converged", row
    assert row["saturation_lo"] <= F_STAR <= row["saturation_hi"], row


def test_command_family_with_a_flat_loss_and_a_rising_probe_is_compute_limited(command_results):
    v = _verdicts(command_results)
    row = v.loc[("knn_classification", "planted", "user_rising", "random")]
    assert row["scaling_verdict"] == "compute-limited" and row["convergence"] == "not converged", row
    assert "had not converged" in row["scaling_evidence"]
    r = command_results
    pre = r[(r["task"] == "pretraining") & (r["family"] == "user_rising") & (r["strategy"] != "control")]
    got = pre.pivot_table(index="model_key", columns="metric", values="value")
    assert (got["loss_converged"] == 1).all() and (got["probe_converged"] == 0).all()
