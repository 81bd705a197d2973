"""Shared learning check: a family trained on the tiny atlas beats its untrained control."""

from __future__ import annotations

import numpy as np

from cellplateau.evaluation.datasets import load_eval_dataset
from cellplateau.evaluation.knn_classification import KNNConfig, evaluate
from cellplateau.models import FAMILIES, TrainingData, load_model


def train_tiny(store, name: str, **config):
    fam = FAMILIES[name]
    model = fam.model(fam.config(**config))
    rows = np.arange(store.n_cells)
    model.fit(TrainingData(store, rows[:2700], rows[2700:]), seed=0)
    return model


def knn_f1(model, atlas, store, dataset: str = "heldout_donors") -> float:
    ds = load_eval_dataset(atlas / "eval" / f"{dataset}.h5ad", store.var, name=dataset, label_key="cell_type")
    return evaluate(model.embed(ds.counts), ds, KNNConfig(), 0)["micro_f1"]


def assert_learns_and_round_trips(model, atlas, store, tmp_path, *, margin: float = 0.05) -> None:
    control = FAMILIES[model.name].model(model.config)
    control.untrained_control(store.n_genes, seed=0)
    trained, untrained = knn_f1(model, atlas, store), knn_f1(control, atlas, store)
    assert trained > untrained + margin, (model.name, trained, untrained)
    model.save(tmp_path / model.name)
    again = load_model(tmp_path / model.name)
    counts = store.read_rows(np.arange(64))
    np.testing.assert_array_equal(again.embed(counts), model.embed(counts))
    info = model.fit_info
    assert info.steps > 0 and info.flops > 0 and info.n_params > 0 and np.isfinite(info.val_loss)
    assert info.budget["steps_taken"] == info.steps and info.wall_time_s > 0
