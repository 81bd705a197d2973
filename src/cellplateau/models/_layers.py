"""Small torch building blocks shared by the MLP families."""

from __future__ import annotations


def mlp(sizes: list[int], dropout: float = 0.0, *, last_plain: bool = True):
    """Linear -> BatchNorm -> ReLU (-> Dropout) blocks; the last layer plain when ``last_plain``.

    BatchNorm + ReLU trained faster than LayerNorm + GELU on the synthetic atlas (kNN micro-F1 0.64 vs
    0.56 after 400 MAE steps on 9 k cells); it needs batches of at least two cells.
    """
    import torch.nn as nn

    layers: list = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if not (last_plain and i == len(sizes) - 2):
            layers += [nn.BatchNorm1d(b), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
