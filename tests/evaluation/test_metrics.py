"""Every integration / classification / perturbation metric against a reference or a known answer."""

import numpy as np
import pytest

from cellplateau.evaluation import _neighbors as nb
from cellplateau.evaluation.integration import integration_scores, nmi_ari_kmeans
from cellplateau.evaluation.knn_classification import classification_scores
from cellplateau.evaluation.perturbation import response_metrics


def _blobs(n=600, d=8, n_labels=4, n_batches=3, batch_shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, n_labels, n)
    bat = rng.integers(0, n_batches, n)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, 0] += lab * 6.0
    X[:, 1] += bat * batch_shift
    return X, lab.astype(str), bat.astype(str)


def test_silhouette_matches_sklearn_and_scib_and_sampled_estimate_is_unbiased():
    from scib_metrics import silhouette_label
    from sklearn.metrics import silhouette_samples

    X, lab, _ = _blobs()
    lab = lab.copy()
    lab[7] = "alone"                                  # singleton label: silhouette 0, as sklearn
    ours = nb.silhouette_samples(X, lab)
    np.testing.assert_allclose(ours, silhouette_samples(X, lab), atol=1e-4)
    X2, lab2, _ = _blobs(seed=1)
    assert abs(np.mean((nb.silhouette_samples(X2, lab2) + 1) / 2) - float(silhouette_label(X2, lab2))) < 1e-4
    q = nb.sample_queries(len(X2), 200, seed=3)
    np.testing.assert_allclose(nb.silhouette_samples(X2, lab2, query=q), nb.silhouette_samples(X2, lab2)[q],
                               atol=1e-5)


def test_knn_is_exact_with_self_first():
    from sklearn.neighbors import NearestNeighbors

    X, _, _ = _blobs(n=500)
    res = nb.knn(X, 12)
    dist, idx = NearestNeighbors(n_neighbors=12).fit(X).kneighbors(X)
    assert (res.indices[:, 0] == np.arange(500)).all()
    np.testing.assert_allclose(res.distances, dist, atol=1e-3)
    assert (res.indices == idx).mean() > 0.99       # ties aside
    approx = nb.knn(X, 12, exact_max=100)           # the HNSW path
    assert (approx.indices[:, 0] == np.arange(500)).all()
    recall = np.mean([len(np.intersect1d(a, b)) / 12 for a, b in zip(approx.indices, idx)])
    assert recall > 0.95


def test_kbet_acceptance_matches_scib_metrics():
    from scib_metrics.metrics._kbet import kbet

    X, _, bat = _blobs(n=400, batch_shift=0.0)
    res = nb.knn(X, 20)
    ours = nb.kbet_acceptance(res.indices, bat)
    theirs = float(kbet(res, bat)[0])
    assert abs(ours - theirs) < 1e-9
    # fully separated batches are rejected everywhere; mixed ones mostly accepted
    Xs, _, bats = _blobs(n=400, batch_shift=50.0)
    assert nb.kbet_acceptance(nb.knn(Xs, 20).indices, bats) == 0.0
    assert ours > 0.7


def test_nmi_ari_known_answers():
    X, lab, _ = _blobs(n_labels=4)
    s = nmi_ari_kmeans(X, lab, seed=0)
    assert s["nmi"] > 0.99 and s["ari"] > 0.99     # well-separated clusters are recovered exactly
    rng = np.random.default_rng(0)
    noise = nmi_ari_kmeans(rng.normal(size=(600, 8)).astype(np.float32), lab, seed=0)
    assert noise["nmi"] < 0.05 and abs(noise["ari"]) < 0.05


def test_integration_scores_reward_mixed_batches_and_separated_labels():
    X_mix, lab, bat = _blobs(n=900, batch_shift=0.0, seed=2)
    X_sep, _, _ = _blobs(n=900, batch_shift=40.0, seed=2)
    mixed = integration_scores(X_mix, lab, bat, X_sep, silhouette_max_cells=None)
    separated = integration_scores(X_sep, lab, bat, X_sep, silhouette_max_cells=None)
    for m in ("ilisi", "kbet", "silhouette_batch", "batch"):
        assert mixed[m] > separated[m] + 0.2, m
    assert mixed["avg_bio"] == pytest.approx(np.mean([mixed["nmi"], mixed["ari"], mixed["silhouette_label"]]))
    assert separated["pcr_comparison"] == pytest.approx(0.0, abs=1e-6)   # unchanged from the reference
    assert mixed["pcr_comparison"] > 0.5                                 # batch variance removed
    assert mixed["clisi"] > 0.95 and mixed["graph_connectivity"] > 0.95


def test_classification_scores_per_class_against_sklearn():
    from sklearn.metrics import f1_score

    truth = np.array(["a"] * 6 + ["b"] * 3 + ["c"])
    pred = np.array(["a"] * 5 + ["b"] + ["b"] * 2 + ["a"] + ["c"])
    s = classification_scores(truth, pred)
    ref = f1_score(truth, pred, average=None, labels=["a", "b", "c"])
    assert [s["f1:a"], s["f1:b"], s["f1:c"]] == pytest.approx(list(ref))
    assert s["macro_f1"] == pytest.approx(ref.mean()) and s["micro_f1"] == pytest.approx(0.8)


def test_response_metrics_known_answers():
    ctrl = np.zeros(50)
    obs = np.zeros(50)
    obs[:5] = [3, -2, 1.5, -1, 0.5]
    perfect = response_metrics(obs.copy(), obs, ctrl, n_top=5)
    assert perfect["pearson_delta"] == pytest.approx(1) and perfect["mse"] == 0 and perfect["direction_top_de"] == 1
    flipped = response_metrics(-obs, obs, ctrl, n_top=5)
    assert flipped["pearson_delta_top_de"] == pytest.approx(-1) and flipped["direction_top_de"] == 0
    none = response_metrics(ctrl.copy(), obs, ctrl, n_top=5)
    assert np.isnan(none["pearson_delta"]) and none["direction_top_de"] == 0
    assert none["mse"] == pytest.approx(np.mean(obs**2)) and none["mse_top_de"] == pytest.approx(np.mean(obs[:5] ** 2))
