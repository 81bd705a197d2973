import anndata as ad
import numpy as np

from cellplateau.corpus.simulate import AtlasParams, simulate_atlas
from cellplateau.corpus.store import CorpusStore


def test_deterministic_for_a_seed(tmp_path, tiny_store):
    from tests.conftest import TINY

    again = simulate_atlas(tmp_path / "c", TINY, eval_dir=tmp_path / "e")
    assert again.fingerprint == tiny_store.fingerprint
    other = simulate_atlas(tmp_path / "d", AtlasParams(**{**TINY.__dict__, "seed": 8}), eval_dir=tmp_path / "f")
    assert other.fingerprint != tiny_store.fingerprint


def test_structure_that_makes_diversity_matter(tiny_store: CorpusStore):
    obs = tiny_store.obs
    counts = obs["cell_type"].value_counts()
    assert counts.iloc[0] > 10 * counts.iloc[-1], "power-law abundances: some types must be rare"
    assert counts.index.str.contains(r"^L\d+\.T\d+$").all()           # lineage -> subtype hierarchy
    assert obs["lineage"].nunique() == 4
    assert obs.groupby("donor", observed=True)["dataset"].nunique().max() == 1   # donors nested in datasets
    assert obs["assay"].nunique() == 3 and obs["tissue"].nunique() >= 2
    comp = obs.groupby("tissue", observed=True)["cell_type"].value_counts(normalize=True).unstack(fill_value=0)
    assert (comp.max() - comp.min()).max() > 0.1                        # tissues differ in composition
    X = tiny_store.read_range(0, 1000)
    assert X.dtype == np.int32 and X.min() >= 0
    lib = np.asarray(X.sum(1)).ravel()
    assert lib.std() / lib.mean() > 0.3                                 # library sizes vary
    var_mean = X.toarray().var(0) / np.maximum(X.toarray().mean(0), 1e-9)
    assert np.median(var_mean[X.toarray().mean(0) > 1]) > 1.5           # overdispersed (negative binomial)


def test_assay_batch_effects_are_gene_wise(tiny_store: CorpusStore):
    obs = tiny_store.obs
    t = obs["cell_type"].value_counts().index[0]
    X = tiny_store.read_rows(np.flatnonzero(obs["cell_type"] == t)).toarray().astype(float)
    X = X / X.sum(1, keepdims=True)
    assays = obs.loc[obs["cell_type"] == t, "assay"].to_numpy()
    means = np.vstack([X[assays == a].mean(0) for a in np.unique(assays)])
    expressed = means.min(0) > 1e-3
    ratio = np.log(means[0, expressed] / means[1, expressed])
    assert ratio.std() > 0.2, "the same type must look different under different assays"


def test_eval_sets_have_labels_and_new_batches(tiny_atlas, tiny_store):
    for name in ("heldout_donors", "new_assay", "balanced_types"):
        a = ad.read_h5ad(tiny_atlas / "eval" / f"{name}.h5ad")
        assert a.n_obs == 800 and list(a.var_names[:2]) == ["GENE00001", "GENE00002"]
        assert set(a.obs["cell_type"]) <= set(tiny_store.obs["cell_type"].astype(str))
        assert not set(a.obs["donor"]) & set(tiny_store.obs["donor"].astype(str))
    bal = ad.read_h5ad(tiny_atlas / "eval" / "balanced_types.h5ad").obs["cell_type"].value_counts()
    assert bal.min() > 0.3 * bal.max()
