"""Evaluation data as the field ships it: raw.X in the CELLxGENE layout, named layers, and normalised matrices
refused naming the file and the layer to use, while published fractional counts stay allowed."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.counts import count_problem
from cellplateau.evaluation.datasets import DatasetError, DatasetSpec, inspect_dataset, load_dataset


def _counts(n=300, g=60, seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.lognormal(0, 0.8, size=(n, 1))
    return sp.csr_matrix(rng.poisson(depth * rng.gamma(0.6, 2.0, size=(1, g))).astype(np.float32))


def _log_norm(X):
    X = sp.csr_matrix(X, dtype=np.float64)
    X = sp.diags(1e4 / np.maximum(np.asarray(X.sum(1)).ravel(), 1)) @ X
    X.data = np.log1p(X.data)
    return sp.csr_matrix(X, dtype=np.float32)


def test_count_problem_tells_counts_from_normalised_values(realdata):
    X = _counts()
    assert count_problem(X) is None
    assert "log-normalised" in count_problem(_log_norm(X))
    logc = X.copy()
    logc.data = np.log1p(logc.data)
    assert "log1p(counts)" in count_problem(logc)
    cp10k = sp.diags(1e4 / np.asarray(X.sum(1)).ravel()) @ X
    assert "size-normalised" in count_problem(cp10k)
    dense = X.toarray()
    assert "negative" in count_problem((dense - dense.mean(0)) / (dense.std(0) + 1e-6))
    # as published: panc8's CEL-seq / Fluidigm C1 cells hold fractional counts; they are counts
    panc8 = ad.read_h5ad(realdata / "panc8_human_pancreas_5tech_nebula.h5ad")
    frac = panc8.obs["tech"].isin(["celseq", "celseq2", "fluidigmc1"]).to_numpy()
    assert count_problem(panc8.X[frac]) is None and count_problem(panc8.X) is None
    assert count_problem(_log_norm(panc8.X)) is not None


def _cellxgene_like(path, X, *, raw=True, layers=None):
    n, g = X.shape
    obs = pd.DataFrame({"cell_type": np.array(["a", "b", "c"])[np.arange(n) % 3]}, index=[f"c{i}" for i in range(n)])
    var = pd.DataFrame({"feature_name": [f"G{i}" for i in range(g)]}, index=[f"ENSG{i:011d}" for i in range(g)])
    adata = ad.AnnData(X=X.copy(), obs=obs, var=var)
    if raw:
        adata.raw = adata.copy()
    adata.X = _log_norm(X)
    for name, M in (layers or {}).items():
        adata.layers[name] = M
    adata.write_h5ad(path)
    return path


VOCAB = pd.DataFrame({"gene_symbol": [f"G{i}" for i in range(60)], "gene_id": ""})


def test_raw_x_is_used_when_x_is_normalised_and_the_choice_is_recorded(tmp_path):
    X = _counts()
    path = _cellxgene_like(tmp_path / "cxg.h5ad", X)
    spec = DatasetSpec(name="cxg", path=path, gene_key="feature_name")
    assert inspect_dataset(spec, VOCAB).overlap == 1.0
    ds = load_dataset(spec, VOCAB)
    assert ds.layer == "raw"
    np.testing.assert_array_equal(ds.own_counts.toarray(), X.toarray())
    # asked for X explicitly: refused, naming the file and the layer to use
    with pytest.raises(DatasetError, match=r"cxg\.h5ad: X of dataset 'cxg' is not raw counts: .*log-normalised"
                                           r".*set layer: raw"):
        inspect_dataset(DatasetSpec(name="cxg", path=path, gene_key="feature_name", layer="X"), VOCAB)


def test_a_normalised_file_without_counts_is_refused_and_a_counts_layer_is_named(tmp_path):
    X = _counts()
    bare = _cellxgene_like(tmp_path / "bare.h5ad", X, raw=False)
    with pytest.raises(DatasetError, match=r"bare\.h5ad: X of dataset 'b' is not raw counts: .*no matrix of the file "
                                           r"holds counts"):
        load_dataset(DatasetSpec(name="b", path=bare, gene_key="feature_name"), VOCAB)
    layered = _cellxgene_like(tmp_path / "lay.h5ad", X, raw=False, layers={"counts": X})
    with pytest.raises(DatasetError, match="set layer: counts in dataset 'l'"):
        inspect_dataset(DatasetSpec(name="l", path=layered, gene_key="feature_name"), VOCAB)
    ds = load_dataset(DatasetSpec(name="l", path=layered, gene_key="feature_name", layer="counts"), VOCAB)
    assert ds.layer == "counts" and ds.own_counts.sum() == X.sum()
    with pytest.raises(DatasetError, match=r"has no matrix layers\['spliced'\] \(layer\); it has X, "
                                           r"layers\['counts'\]"):
        inspect_dataset(DatasetSpec(name="l", path=layered, gene_key="feature_name", layer="spliced"), VOCAB)
