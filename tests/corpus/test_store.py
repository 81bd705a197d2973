import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.store import CorpusStore, StoreError, StoreWriter


def _random_csr(rng, n, g, density=0.2):
    m = sp.random(n, g, density=density, format="csr", random_state=rng, dtype=np.float64)
    m.data = np.ceil(m.data * 10)
    return m.astype(np.int32)


@pytest.fixture()
def store_and_matrix(tmp_path):
    rng = np.random.default_rng(0)
    var = pd.DataFrame({"gene_symbol": [f"G{i}" for i in range(40)], "gene_id": [f"ENSG{i:011d}" for i in range(40)]})
    chunks = [_random_csr(rng, n, 40) for n in (17, 1, 30, 0, 12)]
    with StoreWriter(tmp_path / "s", var) as w:
        for i, c in enumerate(chunks):
            w.append(c, pd.DataFrame({"cell_type": [f"t{i}"] * c.shape[0]}))
    return CorpusStore(tmp_path / "s"), sp.vstack(chunks).toarray()


def test_round_trip_and_row_access(store_and_matrix):
    store, dense = store_and_matrix
    assert store.shape == dense.shape == (60, 40)
    assert store.nnz == np.count_nonzero(dense)
    rows = np.array([59, 3, 3, 17, 0, 41])
    np.testing.assert_array_equal(store.read_rows(rows).toarray(), dense[rows])
    np.testing.assert_array_equal(store.read_range(10, 50).toarray(), dense[10:50])
    got = np.vstack([c.toarray() for _, c in store.iter_rows(chunk_size=7)])
    np.testing.assert_array_equal(got, dense)
    assert list(store.obs["cell_type"].value_counts().sort_index()) == [17, 1, 30, 12]
    assert store.read_rows(np.array([], dtype=int)).shape == (0, 40)


def test_matrix_is_memory_mapped_not_loaded(store_and_matrix):
    store, _ = store_and_matrix
    store.read_rows(np.array([1]))
    assert isinstance(store._data, np.memmap) and isinstance(store._indices, np.memmap)


def test_out_of_range_and_missing_store(tmp_path, store_and_matrix):
    store, _ = store_and_matrix
    with pytest.raises(StoreError, match="out of range"):
        store.read_rows(np.array([60]))
    with pytest.raises(StoreError, match="not a corpus store"):
        CorpusStore(tmp_path / "nope")


def test_failed_writer_leaves_nothing(tmp_path):
    var = pd.DataFrame({"gene_symbol": ["a", "b"], "gene_id": ["", ""]})
    with pytest.raises(RuntimeError), StoreWriter(tmp_path / "s", var) as w:
        w.append(sp.csr_matrix(np.ones((2, 2), dtype=np.int32)), pd.DataFrame({"x": [1, 2]}))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_fingerprint_depends_on_content(tmp_path):
    var = pd.DataFrame({"gene_symbol": ["a", "b"], "gene_id": ["", ""]})
    fps = []
    for i, val in enumerate((1, 1, 2)):
        with StoreWriter(tmp_path / f"s{i}", var) as w:
            w.append(sp.csr_matrix(np.full((2, 2), val, dtype=np.int32)), pd.DataFrame({"x": [1, 2]}))
        fps.append(CorpusStore(tmp_path / f"s{i}").fingerprint)
    assert fps[0] == fps[1] != fps[2]
