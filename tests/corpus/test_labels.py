"""One rule for unlabelled cells: the same cells count as unlabelled in re-weighting, SCimilarity and evaluation."""

import numpy as np
import pandas as pd
import pytest

from cellplateau.corpus.labels import is_unlabelled
from cellplateau.selection.base import SelectionContext
from cellplateau.selection.celltype_reweighted import STRATEGY, CelltypeReweightedConfig

LABELS = ["T", "unknown", "B", np.nan, " Unsure ", "not specified", "", "NK", "None", "T"]
EXPECTED = [False, True, False, True, True, True, True, False, True, False]


@pytest.mark.parametrize("as_category", [False, True])
def test_is_unlabelled(as_category):
    s = pd.Series(LABELS, dtype="category" if as_category else object)
    assert is_unlabelled(s).tolist() == EXPECTED


def test_reweighting_gives_unlabelled_cells_no_quota():
    labels = np.array(["a"] * 50 + ["b"] * 50 + ["unknown"] * 400)
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels)})
    picked = STRATEGY.select(SelectionContext(obs, None), 60, CelltypeReweightedConfig(), np.random.default_rng(0))
    assert len(picked) == 60 and set(labels[picked]) == {"a", "b"}
    assert (labels[picked] == "a").sum() == 30                  # two types, equal quotas; "unknown" is not a type
    more = STRATEGY.select(SelectionContext(obs, None), 150, CelltypeReweightedConfig(), np.random.default_rng(0))
    assert len(more) == 150 and (labels[more] != "unknown").sum() == 100     # every labelled cell, then the rest


def test_scimilarity_and_evaluation_use_the_same_rule(tiny_store, tmp_path):
    import anndata as ad
    import scipy.sparse as sp

    from cellplateau.evaluation.datasets import DatasetSpec, load_dataset
    from cellplateau.models.scimilarity import check_labels

    n = len(LABELS) * 3
    obs = pd.DataFrame({"cell_type": LABELS * 3}, index=[f"c{i}" for i in range(n)])
    X = sp.csr_matrix(np.random.default_rng(0).poisson(3, (n, tiny_store.n_genes)).astype(np.float32))
    ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=tiny_store.var["gene_symbol"].astype(str))).write_h5ad(
        tmp_path / "d.h5ad")
    ds = load_dataset(DatasetSpec(name="d", path=tmp_path / "d.h5ad"), tiny_store.var)
    assert ds.n_cells == 3 * EXPECTED.count(False) and set(ds.labels) == {"T", "B", "NK"}

    class Store:
        path = "corpus"
        obs = pd.DataFrame({"cell_type": ["unknown", "T", "Unsure", "T"]})

    with pytest.raises(ValueError, match="fewer than two labelled types"):
        check_labels(Store, "cell_type")
