import numpy as np

from cellplateau.analysis.diversity import hausdorff_to_subset
from cellplateau.selection import STRATEGIES
from cellplateau.selection.base import SelectionContext
from cellplateau.selection.kcenter import KCenterConfig, select_kcenter


def _naive_farthest_point(X: np.ndarray, k: int, first: int) -> list[int]:
    picks, d = [first], np.linalg.norm(X - X[first], axis=1)
    for _ in range(k - 1):
        j = int(np.argmax(d))
        picks.append(j)
        d = np.minimum(d, np.linalg.norm(X - X[j], axis=1))
    return picks


def test_pruned_kernel_picks_exactly_what_the_naive_greedy_picks():
    from cellplateau.selection._kcenter_kernels import farthest_point

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 8)) * 6
    X = (centres[rng.integers(0, 12, 4000)] + rng.normal(size=(4000, 8))).astype(np.float32)
    picks, cover = farthest_point(X, 150, 17)
    assert list(picks) == _naive_farthest_point(X.astype(np.float64), 150, 17)
    assert np.all(np.diff(cover) <= 1e-9), "the covering radius never grows"


def test_covering_radius_is_the_hausdorff_distance_and_beats_random():
    rng = np.random.default_rng(1)
    sizes = rng.integers(5, 600, 15)                       # clusters of very different sizes, as cell types
    centres = rng.normal(size=(15, 10)) * 5
    X = np.concatenate([c + rng.normal(size=(s, 10)) for c, s in zip(centres, sizes)]).astype(np.float32)
    n = len(X)
    idx, cover = select_kcenter(X, 60, rng=np.random.default_rng(2))
    assert len(idx) == 60 and np.all(np.diff(idx) > 0) and idx.dtype == np.int64
    exact = hausdorff_to_subset(X, idx, np.arange(len(X)))
    assert abs(cover[-1] - exact) < 1e-4
    rand = [hausdorff_to_subset(X, np.sort(np.random.default_rng(s).choice(n, 60, replace=False)),
                                np.arange(n)) for s in range(5)]
    assert exact < min(rand)
    np.testing.assert_array_equal(idx, select_kcenter(X, 60, rng=np.random.default_rng(2))[0])


def test_a_rare_isolated_cluster_is_always_covered():
    rng = np.random.default_rng(3)
    sizes = [2000, 800, 300, 40, 3]                       # one cluster of 3 cells in 3,143
    centres = np.eye(5, 6) * 40
    X = np.concatenate([c + rng.normal(size=(s, 6)) for c, s in zip(centres, sizes)]).astype(np.float32)
    labels = np.repeat(np.arange(5), sizes)
    for seed in range(5):
        idx = STRATEGIES["kcenter"].select(SelectionContext(obs=None, embedding=X), 5, KCenterConfig(),
                                           np.random.default_rng(seed))
        assert sorted(labels[idx]) == [0, 1, 2, 3, 4]
    hits = sum(4 in labels[np.random.default_rng(s).choice(len(X), 5, replace=False)] for s in range(50))
    assert hits <= 2, "random picks almost never reach the 3-cell cluster"


def test_duplicates_fill_up_to_the_requested_size():
    X = np.zeros((50, 3), np.float32)
    X[:5] = np.arange(5)[:, None]
    idx, _ = select_kcenter(X, 20, rng=np.random.default_rng(0))
    assert len(np.unique(idx)) == 20 and set(range(5)) <= set(idx.tolist())


def test_parts_share_the_centres_by_coverage_not_by_size():
    """A crowded tight cluster and a small diffuse one, cut into k-d parts: centres in proportion to part size
    would leave the diffuse cells (a tenth of the corpus) with a tenth of the centres; the greedy rule across
    parts must cover the corpus nearly as well as the exact global greedy, and far better than random."""
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(18_000, 10)) * 0.1,
                        20 + rng.normal(size=(2_000, 10)) * 5]).astype(np.float32)
    queries = np.arange(len(X))
    idx, cover = select_kcenter(X, 200, rng=np.random.default_rng(0), max_part=2_500)
    parted = hausdorff_to_subset(X, idx, queries)
    assert parted <= cover[-1] + 1e-4, "the reported radius bounds the true Hausdorff distance"
    exact = hausdorff_to_subset(X, select_kcenter(X, 200, rng=np.random.default_rng(0))[0], queries)
    assert parted <= 1.25 * exact
    assert (idx >= 18_000).mean() > 0.5, "most centres go to the diffuse cells"
    rand = hausdorff_to_subset(X, np.sort(rng.choice(len(X), 200, replace=False)), queries)
    assert parted < 0.7 * rand


def test_one_part_is_the_plain_greedy():
    from cellplateau.selection._kcenter_kernels import farthest_point_parts

    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    rows, cover = farthest_point_parts(X, np.array([0, 3000]), 40, np.array([11]))
    assert list(rows) == _naive_farthest_point(X.astype(np.float64), 40, 11)
    assert np.all(np.diff(cover) <= 1e-9)
