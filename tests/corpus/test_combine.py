"""`cellplateau combine`: stores on one vocabulary into one store (scTab + a Perturb-seq screen for spike-in)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.combine import combine_stores
from cellplateau.corpus.ingest import IngestError
from cellplateau.corpus.store import CorpusStore, StoreWriter


def _store(path, n, genes, extra=None, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(rng.poisson(1, (n, len(genes))))
    obs = pd.DataFrame({"cell_type": rng.choice(["a", "b"], n), "dataset": path.name, **(extra or {})})
    with StoreWriter(path, pd.DataFrame({"gene_symbol": genes, "gene_id": ""})) as w:
        w.append(X, obs)
    return X


def test_combine_copies_rows_and_unions_columns(tmp_path):
    genes = ["A", "B", "C"]
    x1 = _store(tmp_path / "sctab", 7, genes)
    x2 = _store(tmp_path / "replogle", 5, genes, {"perturbation": ["g1"] * 5}, seed=1)
    report = combine_stores(tmp_path / "both", [tmp_path / "sctab", tmp_path / "replogle"], chunk_size=3)
    s = CorpusStore(tmp_path / "both")
    assert report.n_cells == s.n_cells == 12
    np.testing.assert_array_equal(s.read_rows(np.arange(12)).toarray(), sp.vstack([x1, x2]).toarray())
    assert list(s.obs["dataset"].astype(str)) == ["sctab"] * 7 + ["replogle"] * 5
    assert list(s.obs["perturbation"].astype(str)) == ["unknown"] * 7 + ["g1"] * 5
    _store(tmp_path / "other", 3, ["A", "B", "D"])
    with pytest.raises(IngestError, match="gene vocabulary differs.*--vocabulary"):
        combine_stores(tmp_path / "x", [tmp_path / "sctab", tmp_path / "other"])
    assert not (tmp_path / "x").exists()
