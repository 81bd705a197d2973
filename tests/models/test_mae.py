import numpy as np
import pytest

from cellplateau.evaluation.datasets import load_eval_dataset
from cellplateau.evaluation.knn_classification import KNNConfig, evaluate
from cellplateau.models import FAMILIES, TrainingData, load_model


@pytest.fixture(scope="module")
def trained(tiny_store):
    fam = FAMILIES["mae"]
    cfg = fam.config(hidden=[128], latent=16, batch_size=128, lr=2e-3, budget={"policy": "fixed_steps", "steps": 300})
    model = fam.model(cfg)
    rows = np.arange(tiny_store.n_cells)
    model.fit(TrainingData(tiny_store, rows[:2700], rows[2700:]), seed=0)
    return model


def test_mae_beats_its_untrained_control(trained, tiny_atlas, tiny_store):
    ds = load_eval_dataset(tiny_atlas / "eval" / "heldout_donors.h5ad", tiny_store.var, name="h",
                           label_key="cell_type")
    untrained = FAMILIES["mae"].model(trained.config)
    untrained.init_untrained(tiny_store.n_genes, seed=0)
    cfg = KNNConfig()
    trained_f1 = evaluate(trained.embed(ds.counts), ds, cfg, 0)["micro_f1"]
    untrained_f1 = evaluate(untrained.embed(ds.counts), ds, cfg, 0)["micro_f1"]
    assert trained_f1 > untrained_f1 + 0.05, (trained_f1, untrained_f1)


def test_mae_training_is_recorded_and_loss_drops(trained):
    info = trained.fit_info
    assert info.steps == 300 and info.cells_seen == 300 * 128
    assert info.budget["policy"] == "fixed_steps" and info.n_params > 0
    assert np.isfinite(info.val_loss) and info.val_loss < 1.0


def test_mae_save_load_gives_identical_embeddings(trained, tiny_store, tmp_path):
    trained.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    counts = tiny_store.read_rows(np.arange(100))
    np.testing.assert_array_equal(again.embed(counts), trained.embed(counts))
    assert again.fit_info.steps == trained.fit_info.steps


def test_early_stopping_stops_and_records(tiny_store):
    fam = FAMILIES["mae"]
    cfg = fam.config(hidden=[32], latent=8, batch_size=64,
                     budget={"policy": "early_stopping", "max_steps": 400, "eval_every": 10, "patience": 2})
    model = fam.model(cfg)
    rows = np.arange(600)
    info = model.fit(TrainingData(tiny_store, rows[:500], rows[500:]), seed=1)
    assert info.budget["policy"] == "early_stopping" and info.steps <= 400
    assert info.budget["steps_taken"] == info.steps


def test_bf16_on_cpu_is_recorded_and_learns_as_fp32_does(tiny_store, tiny_atlas):
    """precision: bf16 runs the training steps under bf16 autocast on CPU (the demo's setting); the model
    learns as the fp32 one does (same kNN F1 within 0.05, far above its untrained control)."""
    ds = load_eval_dataset(tiny_atlas / "eval" / "heldout_donors.h5ad", tiny_store.var, name="h",
                           label_key="cell_type")
    rows = np.arange(tiny_store.n_cells)
    f1 = {}
    for precision in ("fp32", "bf16"):
        cfg = FAMILIES["mae"].config(hidden=[128], latent=16, batch_size=128, lr=2e-3, precision=precision,
                                     budget={"policy": "fixed_steps", "steps": 200})
        model = FAMILIES["mae"].model(cfg)
        info = model.fit(TrainingData(tiny_store, rows[:2700], rows[2700:]), seed=0)
        assert info.budget["precision"] == precision
        f1[precision] = evaluate(model.embed(ds.counts), ds, KNNConfig(), 0)["micro_f1"]
    untrained = FAMILIES["mae"].model(cfg)
    untrained.init_untrained(tiny_store.n_genes, seed=0)
    control = evaluate(untrained.embed(ds.counts), ds, KNNConfig(), 0)["micro_f1"]
    assert abs(f1["bf16"] - f1["fp32"]) < 0.05 and f1["bf16"] > control + 0.05, (f1, control)
