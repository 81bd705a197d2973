import numpy as np

from cellplateau.models._loader import BatchStream, batch_label_entropy, mixing_report, shuffled_order


def test_batches_are_full_cover_every_cell_and_match_the_store(tiny_store):
    rows = np.arange(0, 3000, 7)          # 429 cells: not a multiple of the batch size
    with BatchStream(tiny_store, rows, batch_size=100, rng=np.random.default_rng(0), block_size=8,
                     fetch_blocks=4) as stream:
        seen = []
        for _ in range(30):
            r, counts = next(stream)
            assert len(r) == 100 and counts.shape == (100, tiny_store.n_genes)
            np.testing.assert_array_equal(counts.toarray(), tiny_store.read_rows(r).toarray())
            seen.append(r)
    seen = np.concatenate(seen)
    first_epoch = seen[:429]
    assert sorted(first_epoch) == list(rows), "one epoch visits every cell exactly once"
    assert not np.array_equal(first_epoch, np.sort(first_epoch)), "order is shuffled"
    assert abs(stream.epochs - 3000 / 429) < 1e-9


def test_deterministic_for_a_seed_and_small_sets(tiny_store):
    def draw(seed, rows, n=5, bs=64):
        with BatchStream(tiny_store, rows, batch_size=bs, rng=np.random.default_rng(seed)) as s:
            return np.concatenate([next(s)[0] for _ in range(n)])

    rows = np.arange(500)
    np.testing.assert_array_equal(draw(1, rows), draw(1, rows))
    assert not np.array_equal(draw(1, rows), draw(2, rows))
    small = draw(0, np.array([3, 9, 27]), n=2)
    assert sorted(small[:3]) == [3, 9, 27] and len(small) == 6


def test_dense_layout_matches_the_store_and_each_epoch_is_a_permutation(tiny_store):
    rows = np.sort(np.random.default_rng(0).choice(3000, 1000, replace=False))
    with BatchStream(tiny_store, rows, batch_size=100, rng=np.random.default_rng(3), block_size=16, fetch_blocks=4,
                     layout="dense") as stream:
        batches = [next(stream) for _ in range(20)]
    for r, x in batches[:3]:
        assert x.dtype == np.float32 and x.shape == (100, tiny_store.n_genes)
        np.testing.assert_array_equal(x, tiny_store.read_rows(r).toarray())
    seen = np.concatenate([r for r, _ in batches])
    for epoch in (seen[:1000], seen[1000:2000]):
        np.testing.assert_array_equal(np.sort(epoch), rows)
    assert not np.array_equal(seen[:1000], seen[1000:2000])


def test_shuffled_order_keeps_blocks_together_before_the_window_shuffle():
    rows = np.arange(10, 110)
    order = shuffled_order(rows, rng=np.random.default_rng(0), block_size=10)
    np.testing.assert_array_equal(np.sort(order), rows)
    assert np.all(np.diff(np.sort(order.reshape(10, 10), axis=1), axis=1) == 1), "a window of one block is one run"
    a = shuffled_order(rows, rng=np.random.default_rng(1), block_size=7, fetch_blocks=3)
    np.testing.assert_array_equal(a, shuffled_order(rows, rng=np.random.default_rng(1), block_size=7, fetch_blocks=3))
    np.testing.assert_array_equal(np.sort(a), rows)


def test_mixing_report_tracks_block_size():
    labels = np.repeat(np.arange(20), 500)                 # 20 datasets stored one after another
    rows = np.arange(len(labels))
    fine = mixing_report(rows, labels, batch_size=256, block_size=1, fetch_blocks=1, rng=np.random.default_rng(0))
    coarse = mixing_report(rows, labels, batch_size=256, block_size=256, fetch_blocks=1,
                           rng=np.random.default_rng(0))
    assert abs(fine["ratio"] - 1) < 0.02 and fine["entropy_random"] > 4.0
    assert coarse["ratio"] < 0.25                          # whole batches from one or two datasets
    assert batch_label_entropy(np.arange(512), np.zeros(512), 256) == 0.0
