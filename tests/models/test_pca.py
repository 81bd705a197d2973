import numpy as np

from cellplateau.corpus.features import gram_pca, log1p_cp10k
from cellplateau.models import FAMILIES, TrainingData, load_model


def test_gram_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)) + 5).astype(np.float32)
    mean, comps, ev = gram_pca([X[:100], X[100:]], 12, 4)
    ref = PCA(4, svd_solver="full").fit(X)
    np.testing.assert_allclose(mean, ref.mean_, rtol=1e-4)
    np.testing.assert_allclose(np.abs(comps @ ref.components_.T), np.eye(4), atol=1e-3)
    np.testing.assert_allclose(ev, ref.explained_variance_, rtol=1e-3)


def test_pca_is_centred_saved_and_reloaded(tiny_store, tmp_path):
    fam = FAMILIES["pca"]
    model = fam.model(fam.config(n_components=8, n_hvg=100))
    rows = np.arange(0, 3000, 2)
    info = model.fit(TrainingData(tiny_store, rows[:1200], rows[1200:]), seed=0)
    assert info.cells_seen == 1200 and np.isfinite(info.val_loss)
    emb = model.embed(tiny_store.read_rows(rows[:1200]))
    np.testing.assert_allclose(emb.mean(0), 0, atol=1e-3)   # centred: the training mean projects to 0
    X = log1p_cp10k(tiny_store.read_rows(rows[:1200]), genes=model.genes, dense=True)
    assert np.allclose(emb, (X - model.mean) @ model.components.T, atol=1e-4)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    counts = tiny_store.read_rows(np.arange(50))
    np.testing.assert_array_equal(again.embed(counts), model.embed(counts))
