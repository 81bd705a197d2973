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
