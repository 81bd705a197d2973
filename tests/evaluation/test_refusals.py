"""Datasets no task can use are refused at plan time, naming the file and the column."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import PlanError, build_plan
from cellplateau.spec import load_spec


def _file(path, store, obs):
    n = len(obs)
    X = sp.csr_matrix(np.random.default_rng(0).poisson(3, (n, store.n_genes)).astype(np.float32))
    obs.index = [f"c{i}" for i in range(n)]
    ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=store.var["gene_symbol"].astype(str))).write_h5ad(path)
    return path


def _plan(tiny_atlas, tmp_path, dataset, task):
    spec = {"name": "r", "output_dir": str(tmp_path / "s"), "corpus": {"path": str(tiny_atlas / "corpus")},
            "selection": {"strategies": [{"name": "random"}], "fractions": [1.0], "replicates": 1, "diversity": False},
            "families": [{"name": "pca", "n_components": 5, "n_hvg": 100}],
            "evaluation": {"datasets": [dataset], "tasks": [task]}, "execution": {"device": "cpu"}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    return build_plan(StudyContext(load_spec(tmp_path / "s.yaml")))


KNN = {"name": "knn_classification"}


@pytest.mark.parametrize(("labels", "message"), [
    (["a"] * 40, r"d\.h5ad: dataset 'd': 'cell_type' \(label_key\) has a single class \('a'\)"),
    (["unknown", "nan"] * 20, r"d\.h5ad: dataset 'd': every cell's 'cell_type' \(label_key\) is missing"),
    (["a", "b", "unknown", "unknown"] + ["unknown"] * 36, r"only 2 cells are left .* need at least 10"),
])
def test_label_refusals_at_plan_time(tiny_atlas, tiny_store, tmp_path, labels, message):
    path = _file(tmp_path / "d.h5ad", tiny_store, pd.DataFrame({"cell_type": labels}))
    with pytest.raises(PlanError, match=message):
        _plan(tiny_atlas, tmp_path, {"name": "d", "path": str(path)}, KNN)


def test_perturbation_context_without_controls_is_refused(tiny_atlas, tiny_store, tmp_path):
    obs = pd.DataFrame({"pert": ["control", "g1", "g2"] * 10 + ["g1"] * 10,
                        "line": ["L0"] * 30 + ["L1"] * 10})
    path = _file(tmp_path / "p.h5ad", tiny_store, obs)
    ds = {"name": "p", "path": str(path), "label_key": None, "perturbation_key": "pert", "context_key": "line"}
    with pytest.raises(PlanError, match=r"p\.h5ad: dataset 'p': context\(s\) 'L1' \('line'\) have no control cells"):
        _plan(tiny_atlas, tmp_path, ds, {"name": "perturbation_response"})
