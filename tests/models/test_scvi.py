import anndata as ad
import numpy as np
import pytest

from cellplateau.evaluation.datasets import load_eval_dataset
from cellplateau.models import FAMILIES
from tests.models._learning import assert_learns_and_round_trips, train_tiny


@pytest.fixture(scope="module")
def scvi_model(tiny_store):
    return train_tiny(tiny_store, "scvi", n_hidden=64, n_latent=10, kl_warmup_steps=100,
                      budget={"policy": "fixed_steps", "steps": 300})


def test_scvi_learns_and_round_trips(scvi_model, tiny_atlas, tiny_store, tmp_path):
    assert_learns_and_round_trips(scvi_model, tiny_atlas, tiny_store, tmp_path, margin=0.15)
    assert scvi_model.embed(tiny_store.read_rows(np.arange(5))).shape == (5, 10)


def test_reference_size_preset():
    cfg = FAMILIES["scvi"].config(size="s")
    assert (cfg.n_hidden, cfg.n_layers, cfg.n_latent) == (128, 1, 10)
    assert FAMILIES["scvi"].config(size="s", n_latent=20).n_latent == 20


def test_scvi_refuses_fractional_counts_naming_the_dataset(scvi_model, realdata):
    path = realdata / "panc8_human_pancreas_5tech_nebula.h5ad"
    vocab = ad.read_h5ad(path, backed="r").var_names
    import pandas as pd

    ds = load_eval_dataset(path, pd.DataFrame({"gene_symbol": list(vocab), "gene_id": ""}), name="panc8",
                           label_key="cell_type")
    with pytest.raises(ValueError, match=r"panc8.*scVI needs integer counts .*round_counts: true"):
        scvi_model.embed(ds.counts[:, :300], source="evaluation dataset 'panc8'")
    rounding = FAMILIES["scvi"].model(scvi_model.config.model_copy(update={"round_counts": True}))
    rounding.net, rounding.n_genes = scvi_model.net, scvi_model.n_genes
    assert np.isfinite(rounding.embed(ds.counts[:, :300])).all()
