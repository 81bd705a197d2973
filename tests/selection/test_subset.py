import numpy as np
import pytest

from cellplateau.selection.subset import load_subset, split_train_val, subset_size, write_subset


def test_sizes_and_split():
    assert subset_size(1000, 0.01) == 10 and subset_size(1000, 1.0) == 1000 and subset_size(10, 0.001) == 1
    m = split_train_val(100, 0.1, rng=np.random.default_rng(0))
    assert m.sum() == 10
    np.testing.assert_array_equal(m, split_train_val(100, 0.1, rng=np.random.default_rng(0)))
    assert split_train_val(2, 0.1, rng=np.random.default_rng(0)).sum() == 1


def test_round_trip_and_content_hash(tmp_path):
    idx = np.array([1, 5, 9, 20])
    s = write_subset(tmp_path / "s", idx, np.array([False, True, False, False]), {"strategy": "random"})
    t = load_subset(tmp_path / "s")
    np.testing.assert_array_equal(t.train, [1, 9, 20])
    np.testing.assert_array_equal(t.val, [5])
    assert t.content_hash == s.content_hash and t.manifest["n"] == 4
    np.save(tmp_path / "s" / "indices.npy", np.array([1, 5, 9, 21]))
    with pytest.raises(ValueError, match="content hash"):
        load_subset(tmp_path / "s")
    with pytest.raises(ValueError, match="strictly increasing"):
        write_subset(tmp_path / "u", np.array([3, 1]), np.zeros(2, bool), {})
