import numpy as np
import pytest

from cellplateau.evaluation.knn_classification import knn_scores
from cellplateau.evaluation.splits import stratified_split


def test_separated_clusters_score_one_and_noise_scores_chance():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c", "d"], 50)
    centres = {"a": 0, "b": 10, "c": 20, "d": 30}
    emb = np.array([[centres[lab], 0] for lab in labels]) + rng.normal(0, 0.5, (200, 2))
    train, test = stratified_split(labels, 0.5, seed=1)
    s = knn_scores(emb, labels, train, test, k=5)
    assert s["micro_f1"] == 1.0 and s["macro_f1"] == 1.0 and s["accuracy"] == 1.0
    noise = knn_scores(rng.normal(size=(200, 2)), labels, train, test, k=5)
    assert noise["micro_f1"] < 0.45


def test_split_is_stratified_seeded_and_drops_singletons():
    labels = np.array(["a"] * 10 + ["b"] * 4 + ["c"])
    train, test = stratified_split(labels, 0.5, seed=3)
    assert not set(train) & set(test) and 14 not in np.concatenate([train, test])
    assert (labels[test] == "a").sum() == 5 and (labels[test] == "b").sum() == 2
    t2, s2 = stratified_split(labels, 0.5, seed=3)
    np.testing.assert_array_equal(test, s2)
    with pytest.raises(ValueError, match="NaN"):
        knn_scores(np.full((15, 2), np.nan), labels, train, test, k=5)
