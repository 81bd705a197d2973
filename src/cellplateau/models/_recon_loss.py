"""The reconstruction loss of the MLP autoencoders: the mean squared error of the decoder's output against the
log-normalised batch, over the masked genes (MAE) or all of them (SCimilarity).

On CPU the target stays sparse (a :class:`~cellplateau.models._layers.SparseBatch`) and one compiled pass per
direction (:mod:`cellplateau.models._sparse_kernels`) computes the loss and its gradient straight from the
decoder's float32 or bfloat16 output: the dense expression ``((recon.float() - x) ** 2 * mask).sum() /
mask.sum()`` makes about a dozen passes over the cells x genes matrix (dense target, casts, difference, square,
mask product, sums, and their backward), which cost more than the decoder's output layer itself at 19,331 genes
in bf16. Same value and gradient to float tolerance (tests/models/test_recon_loss.py); other devices and dense
targets use that expression.
"""

from __future__ import annotations

from functools import cache

import numpy as np


def reconstruction_mse(recon, target, mask=None):
    """Mean of ``(recon - target)^2`` over the entries where ``mask`` (bool, cells x genes) is true, or over all
    entries when ``mask`` is None; a float32 scalar. ``target``: a dense tensor or a ``SparseBatch``."""
    import torch

    from cellplateau.models._layers import SparseBatch

    if isinstance(target, SparseBatch):
        if recon.device.type == "cpu" and recon.dtype in (torch.float32, torch.bfloat16):
            return _fused().apply(recon, target.X.tocsr(), mask)
        target = target.dense().to(recon.device)
    if mask is None:
        import torch.nn.functional as F

        return F.mse_loss(recon.float(), target)
    err = (recon.float() - target) ** 2
    mask = mask.to(err.device)
    return (err * mask).sum() / mask.sum().clamp(min=1)


@cache
def _fused():
    import torch

    from cellplateau.models import _sparse_kernels as K

    def raw(t) -> np.ndarray:
        """A CPU tensor's values for the kernels: float32 as is, bfloat16 as its 16-bit patterns."""
        t = t.detach().contiguous()
        return t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.numpy()

    class FusedMSE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, recon, X, mask):
            R = raw(recon)
            m = np.ascontiguousarray(mask.cpu().numpy()) if mask is not None else np.zeros((1, 1), bool)
            kernel = K.sq_error_bf16 if R.dtype == np.uint16 else K.sq_error_f32
            rows = kernel(R, m, mask is not None, X.indptr, X.indices, X.data)
            n = max(float(rows[:, 1].sum()), 1.0)
            ctx.saved = (R, m, mask is not None, X, n, recon.dtype)
            return torch.tensor(rows[:, 0].sum() / n, dtype=torch.float32)

        @staticmethod
        def backward(ctx, grad):
            R, m, use_mask, X, n, dtype = ctx.saved
            scale = np.float32(2.0 * float(grad) / n)
            G = np.empty_like(R)
            kernel = K.sq_error_grad_bf16 if R.dtype == np.uint16 else K.sq_error_grad_f32
            kernel(R, m, use_mask, X.indptr, X.indices, X.data, scale, G)
            G = torch.from_numpy(G)
            return (G.view(torch.bfloat16) if dtype == torch.bfloat16 else G), None, None

    return FusedMSE
