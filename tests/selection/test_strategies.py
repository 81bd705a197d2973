import numpy as np
import pandas as pd
import pytest

from cellplateau.selection import STRATEGIES
from cellplateau.selection.base import SelectionContext
from cellplateau.selection.celltype_reweighted import select_reweighted, water_fill
from cellplateau.selection.random import select_random


def test_random_exact_size_sorted_distinct_and_deterministic():
    a = select_random(1000, 137, rng=np.random.default_rng(1))
    b = select_random(1000, 137, rng=np.random.default_rng(1))
    c = select_random(1000, 137, rng=np.random.default_rng(2))
    assert len(a) == 137 and np.all(np.diff(a) > 0) and a.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="subset size"):
        select_random(10, 11, rng=np.random.default_rng(0))


def test_water_fill_rule():
    rng = np.random.default_rng(0)
    # n = 60, K = 3: q = 20; type 0 (5) is below quota -> whole; then q = 55/2 = 27.5; take 27/28
    take = water_fill(np.array([5, 100, 200]), 60, rng=rng)
    assert take[0] == 5 and sorted(take[1:]) == [27, 28] and take.sum() == 60


def test_type_equal_to_quota_is_kept_whole():
    # the reference code dropped a type whose size equals the quota exactly
    take = water_fill(np.array([10, 10, 50]), 30, rng=np.random.default_rng(0))
    assert list(take) == [10, 10, 10]
    take = water_fill(np.array([4, 10, 10, 50]), 34, rng=np.random.default_rng(0))
    assert list(take) == [4, 10, 10, 10]


@pytest.mark.parametrize("n", [1, 7, 50, 333, 999, 1000])
def test_reweighted_exact_sizes(n):
    rng = np.random.default_rng(3)
    labels = np.repeat(np.array(list("abcdef")), [500, 250, 150, 60, 30, 10])
    idx = select_reweighted(labels, n, rng=rng)
    assert len(idx) == n and len(np.unique(idx)) == n and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, select_reweighted(labels, n, rng=np.random.default_rng(3)))


def test_reweighted_balances_types():
    labels = np.repeat(np.array(list("abcdef")), [500, 250, 150, 60, 30, 10])
    idx = select_reweighted(labels, 120, rng=np.random.default_rng(0))
    counts = pd.Series(labels[idx]).value_counts()
    assert counts["f"] == 10 and counts.max() - counts.drop("f").min() <= 1


@pytest.mark.parametrize("backend", ["cellplateau", "geosketch"])
def test_geometric_sketch_enriches_rare_types(tiny_store, backend):
    import tempfile
    from pathlib import Path

    from cellplateau.selection.sketch_embedding import compute_sketch_embedding

    with tempfile.TemporaryDirectory() as d:
        emb = np.array(compute_sketch_embedding(tiny_store, Path(d) / "e.npy", n_pcs=10, n_hvg=200, pca_sample=2000,
                                                rng=np.random.default_rng(0)))
    obs = tiny_store.obs
    ctx = SelectionContext(obs, emb)
    labels = obs["cell_type"].astype(str).to_numpy()
    freq = pd.Series(labels).value_counts(normalize=True)
    rare = set(freq[freq < 0.02].index)
    assert rare
    n = 150
    shares = {}
    for name in ("random", "geometric_sketch", "celltype_reweighted"):
        s = STRATEGIES[name]
        per_seed = []
        for seed in range(20):
            cfg = s.config(backend=backend) if name == "geometric_sketch" else s.config()
            idx = s.select(ctx, n, cfg, np.random.default_rng(seed))
            assert len(idx) == n and np.all(np.diff(idx) > 0)
            per_seed.append(np.isin(labels[idx], list(rare)).mean())
        shares[name] = float(np.mean(per_seed))
    population = np.isin(labels, list(rare)).mean()
    assert shares["geometric_sketch"] > 1.1 * population and shares["geometric_sketch"] > shares["random"], shares
    assert shares["celltype_reweighted"] > shares["geometric_sketch"], shares
    s = STRATEGIES["geometric_sketch"]
    a = s.select(ctx, n, s.config(), np.random.default_rng(5))
    np.testing.assert_array_equal(a, s.select(ctx, n, s.config(), np.random.default_rng(5)))


def test_numpy_backend_through_the_registry(tiny_store):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(tiny_store.n_cells, 5)).astype(np.float32)
    s = STRATEGIES["geometric_sketch"]
    cfg = s.config(backend="numpy")
    idx = s.select(SelectionContext(tiny_store.obs, emb), 77, cfg, np.random.default_rng(4))
    assert len(idx) == 77 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, s.select(SelectionContext(tiny_store.obs, emb), 77, cfg, np.random.default_rng(4)))
