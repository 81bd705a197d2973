"""Binomial thinning: the planted truth is that thinning a Poisson(lambda) measurement to depth d is a
Poisson(d lambda) measurement, and a negative binomial keeps its dispersion (the simulator's counts)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.store import CorpusStore, StoreWriter
from cellplateau.corpus.thinning import ThinnedStore, thin_csr


@pytest.fixture(scope="module")
def poisson_store(tmp_path_factory):
    rng = np.random.default_rng(0)
    lam = np.geomspace(0.5, 40, 60)                           # known per-gene means
    X = sp.csr_matrix(rng.poisson(lam, size=(6000, 60)))
    var = pd.DataFrame({"gene_symbol": [f"g{i}" for i in range(60)], "gene_id": [f"E{i}" for i in range(60)]})
    path = tmp_path_factory.mktemp("poisson") / "store"
    with StoreWriter(path, var) as w:
        w.append(X, pd.DataFrame({"cell_type": ["t"] * 6000}))
    return CorpusStore(path), lam


def test_thinned_poisson_is_poisson_at_the_lower_mean(poisson_store):
    store, lam = poisson_store
    view = ThinnedStore(store, depth=0.3, seed=5)
    X = view.read_range(0, store.n_cells).toarray().astype(float)
    mean, varc = X.mean(0), X.var(0)
    assert np.all(np.abs(mean - 0.3 * lam) < 4 * np.sqrt(0.3 * lam / len(X)))   # mean scales by d (4 SE)
    np.testing.assert_allclose(varc / mean, 1.0, atol=0.12)           # still Poisson (variance = mean)
    full = store.read_range(0, store.n_cells).toarray()
    assert np.all(X <= full) and abs(X.sum() / full.sum() - 0.3) < 0.01


def test_negative_binomial_keeps_its_dispersion(tiny_store):
    rows = np.arange(tiny_store.n_cells)
    full = tiny_store.read_rows(rows).toarray().astype(float)
    thin = ThinnedStore(tiny_store, depth=0.25, seed=1).read_rows(rows).toarray().astype(float)
    assert abs(thin.sum() / full.sum() - 0.25) < 0.01
    # binomial thinning of a count with variance v and mean m: mean d m, variance d^2 v + d (1 - d) m
    m, v = full.mean(0), full.var(0)
    ok = m > 2
    np.testing.assert_allclose(thin.var(0)[ok], (0.0625 * v + 0.25 * 0.75 * m)[ok], rtol=0.25)


def test_same_cell_same_measurement_on_every_read_path(tiny_store):
    from cellplateau.models._loader import BatchStream

    view = ThinnedStore(tiny_store, depth=0.5, seed=9)
    rows = np.array([40, 7, 1999, 7, 123])
    a = view.read_rows(rows).toarray()
    assert np.array_equal(a[1], a[3])                                  # a repeat reads the same thinned cell
    b = view.read_rows(np.sort(rows)).toarray()
    order = np.argsort(rows, kind="stable")
    assert np.array_equal(a[order], b)                                 # independent of the read order
    assert np.array_equal(view.read_dense(rows), a.astype(np.float32))
    chunks = dict((int(r), c) for idx, m in view.iter_rows(np.arange(0, 200), chunk_size=64)
                  for r, c in zip(idx, m.toarray()))
    assert np.array_equal(chunks[40], a[0]) and np.array_equal(chunks[123], a[4])
    assert np.array_equal(view.read_range(100, 130).toarray()[23], a[4])
    with BatchStream(view, np.arange(300), batch_size=50, rng=np.random.default_rng(0), layout="dense") as s:
        batch_rows, batch = next(s)
    direct = view.read_rows(batch_rows).toarray()
    assert np.array_equal(batch, direct.astype(np.float32))
    other = ThinnedStore(tiny_store, depth=0.5, seed=10).read_rows(rows).toarray()
    assert not np.array_equal(other, a)                                # the seed matters
    assert np.array_equal(ThinnedStore(tiny_store, depth=1.0, seed=9).read_rows(rows).toarray(),
                          tiny_store.read_rows(rows).toarray())        # depth 1 = the corpus as measured


def test_bad_depth_is_refused():
    with pytest.raises(ValueError, match="depth must be in"):
        thin_csr(sp.csr_matrix(np.ones((1, 2))), np.array([0]), depth=1.5, seed=0)
