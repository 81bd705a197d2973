"""The fused reconstruction loss (CPU, sparse target) has the value and the gradient of the dense expression it
replaces, in float32 and bfloat16, with and without a mask; the sparse layer's state dict is nn.Linear's."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from cellplateau.models._compute import keep_freed_memory
from cellplateau.models._layers import SparseBatch, sparse_linear
from cellplateau.models._recon_loss import reconstruction_mse


def _case(dtype, seed=0):
    D = sp.random(23, 301, density=0.15, dtype=np.float32, random_state=seed).toarray() * 5
    D[4] = 0                                        # an empty cell
    X = sp.csr_matrix(D)
    g = torch.Generator().manual_seed(seed)
    recon = (torch.randn(23, 301, generator=g) * 2).to(dtype)
    mask = torch.rand(23, 301, generator=g) < 0.5
    return X, recon, mask


def _reference(recon, X, mask):
    x = torch.from_numpy(X.toarray())
    err = (recon.float() - x) ** 2
    return err.mean() if mask is None else (err * mask).sum() / mask.sum().clamp(min=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("masked", [True, False])
def test_fused_loss_has_the_dense_value_and_gradient(dtype, masked):
    X, recon, mask = _case(dtype)
    mask = mask if masked else None
    a = recon.clone().requires_grad_(True)
    b = recon.clone().requires_grad_(True)
    fused, ref = reconstruction_mse(a, SparseBatch(X), mask), _reference(b, X, mask)
    assert type(fused.grad_fn).__name__.startswith("FusedMSE")      # the fused path, not the fallback
    assert fused.dtype == torch.float32
    assert float(fused.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    (fused * 3).backward()
    (ref * 3).backward()
    assert a.grad.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-2          # bf16 gradients: 8 bits of mantissa
    np.testing.assert_allclose(a.grad.float().numpy(), b.grad.float().numpy(), rtol=tol, atol=tol * 1e-2)
    if masked:
        assert (a.grad[mask] != 0).float().mean() > 0.9 and (a.grad[~mask] == 0).all()


def test_a_dense_target_takes_the_torch_expression():
    X, recon, mask = _case(torch.float32, seed=1)
    x = torch.from_numpy(X.toarray())
    assert float(reconstruction_mse(recon, x, mask)) == pytest.approx(float(_reference(recon, X, mask)), rel=1e-6)


def test_masking_drops_the_masked_values_instead_of_storing_zeros():
    X, _, mask = _case(torch.float32, seed=2)
    out = SparseBatch(X).masked(mask).X
    kept = X.toarray() * ~mask.numpy()
    assert out.format == "csc" and out.nnz == np.count_nonzero(kept)
    np.testing.assert_array_equal(out.toarray(), kept)


def test_sparse_layer_state_dict_is_nn_linear_both_ways():
    torch.manual_seed(0)
    lin, ref = sparse_linear(40, 7), torch.nn.Linear(40, 7)
    state = lin.state_dict()
    assert set(state) == {"weight", "bias"} and state["weight"].shape == (7, 40)
    ref.load_state_dict(state)
    x = torch.randn(5, 40)
    torch.testing.assert_close(lin(x), ref(x))
    other = sparse_linear(40, 7)
    other.load_state_dict(torch.nn.Linear(40, 7).state_dict())       # a plain linear layer's weights load too
    assert other.weight_t.is_contiguous() and other.weight_t.shape == (40, 7)
    assert not torch.equal(other.weight_t, lin.weight_t)
    other.load_state_dict(ref.state_dict())
    torch.testing.assert_close(other(x), ref(x))


def test_the_training_process_keeps_freed_memory_on_linux():
    import sys

    assert keep_freed_memory() is sys.platform.startswith("linux")


def test_a_units_thread_count_reaches_the_compiled_kernels_before_and_after_numba_loads():
    import subprocess
    import sys

    code = ("import sys; from cellplateau.models._compute import use_threads; use_threads(1); "
            "assert 'numba' not in sys.modules; import numba; import torch; "
            "print(numba.get_num_threads(), torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]
    import numba

    before = numba.get_num_threads(), torch.get_num_threads()
    try:
        from cellplateau.models._compute import use_threads

        use_threads(1)
        assert (numba.get_num_threads(), torch.get_num_threads()) == (1, 1)
    finally:
        numba.set_num_threads(before[0])
        torch.set_num_threads(before[1])
