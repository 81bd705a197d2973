import io
from contextlib import redirect_stdout

import numpy as np
import pytest

from cellplateau.selection._plaid import cover, sketch


def _geosketch_boxes(X, n):
    """Number of covering boxes geosketch settles on (parsed from its verbose log)."""
    from geosketch import gs

    buf = io.StringIO()
    with redirect_stdout(buf):
        gs(X, n, replace=False, seed=0, verbose=1)
    lines = [ln for ln in buf.getvalue().splitlines() if "Found" in ln and "grid cells" in ln]
    return int(lines[-1].split("Found ")[1].split()[0])


@pytest.mark.parametrize("n", [40, 150, 600])
def test_same_covering_as_geosketch(n):
    X = np.random.default_rng(n).normal(size=(2500, 6))
    assert cover(X, n).max() + 1 == _geosketch_boxes(X, n)


def test_sketch_sizes_determinism_and_round_robin():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.2, (2000, 3)), rng.normal(5, 0.2, (20, 3))])   # one dense, one rare cluster
    a = sketch(X, 100, rng=np.random.default_rng(1))
    assert len(a) == 100 and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, sketch(X, 100, rng=np.random.default_rng(1)))
    assert not np.array_equal(a, sketch(X, 100, rng=np.random.default_rng(2)))
    assert (a >= 2000).mean() > 5 * 20 / 2020, "the rare cluster is over-represented"
    box = cover(X, 100)
    counts = np.bincount(box[a], minlength=box.max() + 1)
    sizes = np.bincount(box)
    full = counts.min()
    assert np.all((counts == np.minimum(sizes, full)) | (counts == np.minimum(sizes, full + 1)))
    np.testing.assert_array_equal(sketch(X, len(X), rng=rng), np.arange(len(X)))


def test_rare_enrichment_matches_geosketch():
    from geosketch import gs

    rng = np.random.default_rng(3)
    centers = rng.normal(0, 5, (12, 5))
    sizes = (np.arange(1, 13) ** -1.5 * 6000).astype(int)
    X = np.vstack([c + rng.normal(0, 0.5, (s, 5)) for c, s in zip(centers, sizes)])
    lab = np.repeat(np.arange(12), sizes)
    ours = np.mean([np.isin(lab[sketch(X, 300, rng=np.random.default_rng(s))], range(6, 12)).mean() for s in range(3)])
    ref = np.mean([np.isin(lab[np.array(gs(X, 300, replace=False, seed=s))], range(6, 12)).mean() for s in range(3)])
    assert abs(ours - ref) < 0.05 and ours > 3 * np.isin(lab, range(6, 12)).mean()


def test_coverage_and_hausdorff_indistinguishable_from_geosketch_over_seeds():
    """Rare-type coverage and the Hausdorff distance from the full set to the sketch, over 5 seeds: ours and the
    reference package agree within their seed-to-seed spread, and both differ from uniform sampling."""
    from geosketch import gs
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(11)
    centers = rng.normal(0, 6, (15, 8))
    sizes = (np.arange(1, 16) ** -1.6 * 8000).astype(int)
    X = np.vstack([c + rng.normal(0, 0.6, (s, 8)) for c, s in zip(centers, sizes)])
    lab = np.repeat(np.arange(15), sizes)

    def stats(idx):
        covered = np.isin(lab[idx], range(7, 15)).mean()        # share of the sketch from the 8 rarest types
        hausdorff = cKDTree(X[idx]).query(X)[0].max()
        return covered, hausdorff

    m = 150
    ours = np.array([stats(sketch(X, m, rng=np.random.default_rng(s))) for s in range(5)])
    ref = np.array([stats(np.asarray(gs(X, m, replace=False, seed=s))) for s in range(5)])
    unif = np.array([stats(np.random.default_rng(s).choice(len(X), m, replace=False)) for s in range(5)])
    spread = ours[:, 1].std() + ref[:, 1].std()
    assert abs(ours[:, 1].mean() - ref[:, 1].mean()) <= 2 * spread + 1e-9
    assert abs(ours[:, 0].mean() - ref[:, 0].mean()) <= 2 * (ours[:, 0].std() + ref[:, 0].std()) + 0.01
    assert ours[:, 0].mean() > 3 * unif[:, 0].mean() and ours[:, 1].mean() < unif[:, 1].mean() / 2
