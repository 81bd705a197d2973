import numpy as np
import pandas as pd

from cellplateau.analysis.diversity import coverage, inverse_simpson, rbf_kernel, shannon_entropy, vendi_score


def test_entropy_and_inverse_simpson_hand_cases():
    assert abs(shannon_entropy(np.array(list("aabb"))) - np.log(2)) < 1e-12
    assert shannon_entropy(np.array(["a"] * 5)) == 0
    assert abs(inverse_simpson(np.array(list("aabbccdd"))) - 4) < 1e-12
    # p = (0.5, 0.25, 0.25): 1 / (0.25 + 0.0625 + 0.0625) = 2.6667
    assert abs(inverse_simpson(np.array(list("aabc"))) - 8 / 3) < 1e-12


def test_vendi_is_the_effective_number_of_distinct_points_and_not_capped_by_features():
    assert abs(vendi_score(np.eye(5)) - 5) < 1e-9
    assert abs(vendi_score(np.ones((4, 4))) - 1) < 1e-9
    X = np.repeat(np.array([[0.0], [10.0], [20.0], [30.0], [40.0], [50.0]]), 3, axis=0)   # 6 clusters, 1 feature
    v = vendi_score(rbf_kernel(X, gamma=1.0))
    assert abs(v - 6) < 1e-6, "an RBF kernel sees 6 groups on a single feature (a linear kernel caps at 1)"


def test_coverage_counts():
    corpus = pd.DataFrame({"cell_type": list("aabbc"), "donor": list("xyzzz")})
    out = coverage(corpus.iloc[[0, 2]], corpus)
    assert out == {"n_cell_type": 2.0, "n_cell_type_corpus": 3.0, "n_donor": 2.0, "n_donor_corpus": 3.0}


def test_gini_hand_cases():
    from cellplateau.analysis.diversity import gini, type_gini

    assert gini(np.array([3, 3, 3, 3])) == 0
    assert abs(gini(np.array([0, 0, 0, 8])) - 0.75) < 1e-12          # 1 - 1/K
    labels = np.array(list("aaaabbbbcccc"))
    assert type_gini(labels, np.array([0, 4, 8])) == 0               # one cell of each type
    assert abs(type_gini(labels, np.array([0, 1, 2])) - 2 / 3) < 1e-12  # only type a: absent types count


def test_hausdorff_hand_case_and_sampled_estimate_never_exceeds_the_exact():
    from cellplateau.analysis.diversity import hausdorff_to_subset

    X = np.array([[0.0, 0], [1, 0], [5, 0], [0, 3]])
    assert abs(hausdorff_to_subset(X, np.array([0]), np.arange(4)) - 5) < 1e-12
    assert abs(hausdorff_to_subset(X, np.array([0, 2]), np.arange(4), chunk=1) - 3) < 1e-12
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(2000, 5))
    sub = np.arange(0, 2000, 40)
    exact = hausdorff_to_subset(Y, sub, np.arange(2000))
    est = hausdorff_to_subset(Y, sub, rng.choice(2000, 300, replace=False))
    assert est <= exact + 1e-12 and est > 0.7 * exact
