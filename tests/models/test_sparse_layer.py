"""The sparse first layer (CPU) computes what the dense layer computes, forward and backward, and the MLP
families trained through it match the dense path to float tolerance."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from cellplateau.models import FAMILIES, TrainingData
from cellplateau.models._layers import SparseBatch, masked_input, sparse_first_layer, sparse_linear


def test_sparse_layer_matches_dense_forward_and_gradients():
    torch.manual_seed(0)
    X = sp.random(37, 300, density=0.1, format="csr", dtype=np.float32, random_state=1)
    X[3] = 0                                   # an empty cell
    lin = sparse_linear(300, 24)
    ref = torch.nn.Linear(300, 24)
    ref.load_state_dict(lin.state_dict())
    out = lin(SparseBatch(X.tocsr()))
    expected = ref(torch.from_numpy(X.toarray()))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = torch.randn(37, 24)
    (out * g).sum().backward()
    (expected * g).sum().backward()
    np.testing.assert_allclose(lin.weight_t.grad.t().numpy(), ref.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert lin.weight_t.grad.abs().sum() > 0     # not trivially equal
    # dense input through the same layer is the plain linear layer
    np.testing.assert_allclose(lin(torch.from_numpy(X.toarray())).detach().numpy(), expected.detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_masking_a_sparse_batch_is_masked_fill_of_the_dense_batch():
    X = sp.random(10, 50, density=0.3, format="csr", dtype=np.float32, random_state=2)
    mask = torch.rand(10, 50, generator=torch.Generator().manual_seed(0)) < 0.5
    dense = masked_input(torch.from_numpy(X.toarray()), mask)
    np.testing.assert_array_equal(masked_input(SparseBatch(X), mask).X.toarray(), dense.numpy())


@pytest.mark.parametrize("family, config", [
    ("mae", {"hidden": [64], "latent": 8, "batch_size": 64}),
    ("mae", {"hidden": [64], "latent": 8, "batch_size": 64, "masking": "gene_program", "n_programs": 5}),
    ("scimilarity", {"hidden": [64, 64], "latent": 8, "batch_size": 64}),
])
def test_families_train_the_same_on_the_sparse_and_the_dense_path(tiny_store, family, config):
    fam = FAMILIES[family]
    cfg = fam.config(**config, budget={"policy": "fixed_steps", "steps": 8})
    rows = np.arange(1200)
    counts = tiny_store.read_rows(np.arange(50))
    runs = {}
    for enabled in (True, False):
        with sparse_first_layer(enabled):
            model = fam.model(cfg)
            info = model.fit(TrainingData(tiny_store, rows[:1000], rows[1000:]), seed=3)
            runs[enabled] = (model.embed(counts), info.train_loss, info.val_loss)
    (emb_s, tl_s, vl_s), (emb_d, tl_d, vl_d) = runs[True], runs[False]
    assert tl_s == pytest.approx(tl_d, rel=1e-5) and vl_s == pytest.approx(vl_d, rel=1e-3)
    # AdamW's first steps move every weight by about lr * sign(gradient), so float-rounding differences in
    # near-zero gradients show up as ~lr-sized differences: far below what training itself moved
    control = fam.model(cfg)
    control.init_untrained(tiny_store.n_genes, seed=3)
    moved = np.abs(emb_d - control.embed(counts)).max()
    assert np.abs(emb_s - emb_d).max() < min(0.02, moved / 10), (np.abs(emb_s - emb_d).max(), moved)
