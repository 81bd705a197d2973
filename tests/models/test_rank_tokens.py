import numpy as np
import scipy.sparse as sp

from cellplateau.models._rank_tokens import N_SPECIAL, PAD, nonzero_medians, rank_value_tokens


def test_rank_value_encoding_hand_example():
    # two cells, four genes; medians divide the CP10k-normalised values gene-wise
    counts = sp.csr_matrix(np.array([[10, 0, 30, 60],
                                     [0, 5, 5, 0]]))
    medians = np.array([1000.0, 500.0, 3000.0, 2000.0])
    # cell 0: CP10k = [1000, 0, 3000, 6000] -> / medians = [1.0, -, 1.0, 3.0]
    #         rank: gene 3 (3.0), then genes 0 and 2 tie at 1.0 -> lower gene index first
    # cell 1: CP10k = [0, 5000, 5000, 0] -> / medians = [-, 10.0, 1.667, -]
    tokens = rank_value_tokens(counts, medians, context_length=4)
    g = N_SPECIAL
    np.testing.assert_array_equal(tokens, [[3 + g, 0 + g, 2 + g, PAD],
                                           [1 + g, 2 + g, PAD, PAD]])
    np.testing.assert_array_equal(rank_value_tokens(counts, medians, context_length=2),
                                  [[3 + g, 0 + g], [1 + g, 2 + g]])


def test_vectorised_matches_a_per_cell_loop():
    rng = np.random.default_rng(0)
    counts = sp.random(50, 40, density=0.3, random_state=1, format="csr") * 20
    counts.data = np.ceil(counts.data)
    medians = rng.uniform(1, 100, 40)
    got = rank_value_tokens(counts, medians, context_length=16)
    dense = counts.toarray()
    for i, row in enumerate(dense):
        norm = row / row.sum() * 1e4 / medians
        nz = np.flatnonzero(row)
        order = nz[np.lexsort((nz, -norm[nz]))][:16]
        expected = np.full(16, PAD)
        expected[: len(order)] = order + N_SPECIAL
        np.testing.assert_array_equal(got[i], expected)


def test_nonzero_medians_streaming_matches_exact():
    counts = sp.random(400, 30, density=0.4, random_state=3, format="csr") * 50
    counts.data = np.ceil(counts.data)
    chunks = [counts[:150], counts[150:]]
    med = nonzero_medians(chunks, 30)
    dense = counts.toarray()
    norm = dense / dense.sum(1, keepdims=True) * 1e4
    for g in range(30):
        vals = norm[:, g][dense[:, g] > 0]
        assert abs(med[g] - np.median(vals)) / np.median(vals) < 0.02
