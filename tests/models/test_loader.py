import numpy as np

from cellplateau.models._loader import BatchStream


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
