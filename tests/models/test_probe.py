"""The embedding probe: its kNN accuracy (against sklearn), its seeded slice, the reasons it is skipped, and a
trained MAE whose probe rises above its step-0 value."""

import numpy as np
import pandas as pd
import pytest

from cellplateau.models import FAMILIES, TrainingData
from cellplateau.models._probe import ProbeSkipped, knn_accuracy, probe_slice

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_knn_accuracy_matches_sklearn_and_known_answers():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=400) > 0, "a", "b")     # two classes, k odd: no tied vote
    ref, q = np.arange(0, 400, 2), np.arange(1, 400, 2)
    expected = KNeighborsClassifier(n_neighbors=5).fit(X[ref], y[ref]).score(X[q], y[q])
    assert knn_accuracy(X[ref], y[ref], X[q], y[q], k=5) == pytest.approx(expected)
    # two far-apart clusters: every query finds its own; labels unrelated to the embedding: near chance
    centres = np.repeat([[0.0, 0.0], [100.0, 100.0]], 50, axis=0) + rng.normal(size=(100, 2))
    lab = np.repeat(["x", "y"], 50)
    assert knn_accuracy(centres[::2], lab[::2], centres[1::2], lab[1::2]) == 1.0
    shuffled = rng.permutation(np.tile(["x", "y"], 200))
    assert abs(knn_accuracy(X[ref], shuffled[ref], X[q], shuffled[q]) - 0.5) < 0.1
    # a tie (k = 2, one vote each) goes to the nearer neighbour; k above the reference size uses them all
    assert knn_accuracy(np.array([[0.0], [3.0]]), np.array(["n", "f"]), np.array([[1.0]]), np.array(["n"]), k=2) == 1
    assert knn_accuracy(np.array([[0.0], [3.0]]), np.array(["f", "n"]), np.array([[1.0]]), np.array(["n"]), k=2) == 0
    assert knn_accuracy(X[:3], y[:3], X[3:5], y[3:5], k=10) in (0.0, 0.5, 1.0)
    assert np.isnan(knn_accuracy(np.full((4, 2), np.nan), lab[:4], X[:2, :2], lab[:2]))


def test_probe_slice_is_seeded_labelled_and_split_in_halves():
    rng = np.random.default_rng(1)
    labels = rng.choice(["T", "B", "NK", "unknown"], size=20_000)
    labels[:50] = None
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels)})
    val = np.sort(rng.choice(20_000, size=5_000, replace=False))
    cut = probe_slice(obs, val, label_key="cell_type", seed=3, n=1024)
    assert len(cut.rows) == 1024 and np.all(np.diff(cut.rows) > 0) and np.isin(cut.rows, val).all()
    assert set(cut.labels) == {"T", "B", "NK"}                              # unlabelled cells left out
    np.testing.assert_array_equal(cut.labels, obs["cell_type"].iloc[cut.rows].astype(str).to_numpy())
    both = np.concatenate([cut.reference, cut.query])
    assert len(set(both)) == 1024 and abs(len(cut.query) - 512) <= 3      # disjoint halves, stratified
    again = probe_slice(obs, val, label_key="cell_type", seed=3, n=1024)
    np.testing.assert_array_equal(again.rows, cut.rows)
    np.testing.assert_array_equal(again.query, cut.query)
    assert not np.array_equal(probe_slice(obs, val, label_key="cell_type", seed=4, n=1024).rows, cut.rows)
    assert len(probe_slice(obs, val[:100], label_key="cell_type", seed=3).rows) <= 100


@pytest.mark.parametrize(("label_key", "obs", "val", "reason"), [
    ("cell_type", pd.DataFrame({"donor": ["a"] * 10}), np.arange(10), "corpus obs has no column 'cell_type'"),
    ("cell_type", pd.DataFrame({"cell_type": ["a", "b"] * 5}), np.array([], int), "the subset has no validation cells"),
    ("cell_type", pd.DataFrame({"cell_type": ["a"] * 9 + ["b"]}), np.arange(10),
     r"the validation slice has 1 class\(es\) of 'cell_type' with at least 2 labelled cells \(10 labelled cells\)"),
    ("cell_type", pd.DataFrame({"cell_type": ["unknown"] * 10}), np.arange(10), "has 0 class"),
    (None, pd.DataFrame({"cell_type": ["a", "b"] * 5}), np.arange(10), "probe_label_key is null"),
])
def test_probe_slice_says_why_it_is_skipped(label_key, obs, val, reason):
    with pytest.raises(ProbeSkipped, match=reason):
        probe_slice(obs, val, label_key=label_key, seed=0)


def test_trained_mae_probe_rises_above_its_step_zero_value(tiny_store):
    fam = FAMILIES["mae"]
    rows = np.arange(tiny_store.n_cells)
    model = fam.model(fam.config(hidden=[128], latent=16, batch_size=128, lr=2e-3,
                                 budget={"policy": "fixed_steps", "steps": 150, "eval_every": 30}))
    info = model.fit(TrainingData(tiny_store, rows[:2400], rows[2400:]), seed=0)
    assert info.probe_skipped is None
    assert [r[:2] for r in info.probe_curve] == [r[:2] for r in info.val_curve]    # the same validation points
    probe = np.array([r[2] for r in info.probe_curve])
    assert probe[0] > 1 / 13 and np.all((probe >= 0) & (probe <= 1))             # an untrained net is no oracle
    assert probe[-1] > probe[0] + 0.05 and probe[1:].max() > probe[0] + 0.08, probe
    # the recorded probe is the accuracy of the returned weights at the last point, on the same slice
    from cellplateau.models._probe import probe_slice

    cut = probe_slice(tiny_store.obs, rows[2400:], label_key="cell_type", seed=0, n=1024)
    assert model.probe(tiny_store.read_rows(cut.rows), cut, device="cpu") == pytest.approx(probe[-1])


def test_a_corpus_without_the_label_column_skips_the_probe_and_the_loss_decides(tiny_store):
    fam = FAMILIES["mae"]
    rows = np.arange(tiny_store.n_cells)
    model = fam.model(fam.config(hidden=[16], latent=4, batch_size=64, probe_label_key="no_such_column",
                                 budget={"policy": "fixed_steps", "steps": 40, "eval_every": 10}))
    info = model.fit(TrainingData(tiny_store, rows[:1000], rows[2900:]), seed=0)
    assert info.probe_skipped == "corpus obs has no column 'no_such_column'"
    assert info.probe_curve == [] and info.probe_converged is None
    assert info.converged is info.loss_converged and info.loss_converged is not None
