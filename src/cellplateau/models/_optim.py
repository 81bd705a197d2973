"""The optimizer every gradient-trained family (and the fine-tuning heads) uses: AdamW with torch's fused kernel.

The fused kernel updates every parameter in one pass instead of a Python loop over tensors; same update rule,
equal to float tolerance (tests/models/test_optim.py). On CPU at the demo MAE's size (1.1 M parameters, one
thread) a step takes 2.6 ms instead of 7.3 ms, about an eighth of a training step.
"""

from __future__ import annotations


def adamw(params, *, lr: float, weight_decay: float):
    """``torch.optim.AdamW`` over ``params`` (tensors or parameter groups), fused."""
    import torch

    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
