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


def save_checkpoint(folder, module, n_genes: int, **extra) -> None:
    """``weights.pt``: the module's state dict, the vocabulary size and any extra tensors."""
    import torch

    torch.save({"n_genes": n_genes, "state_dict": module.state_dict(), **extra}, folder / "weights.pt")


def load_checkpoint(folder) -> dict:
    import torch

    return torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)


def embed_log_normalised(counts, encode, dim: int, *, batch_size: int):
    """Run ``encode`` (a torch function of log1p(CP10k) tensors) over ``counts`` in batches, no grad."""
    import numpy as np
    import scipy.sparse as sp
    import torch

    from cellplateau.corpus.features import log1p_cp10k

    counts = sp.csr_matrix(counts)
    out = []
    with torch.no_grad():
        for s in range(0, counts.shape[0], batch_size):
            x = torch.from_numpy(log1p_cp10k(counts[s : s + batch_size], dense=True))
            out.append(encode(x).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), np.float32)


def log_normalised_tensor(counts):
    """log1p(CP10k) of a CSR batch as a float32 torch tensor (the input of the MLP families)."""
    import torch

    from cellplateau.corpus.features import log1p_cp10k

    return torch.from_numpy(log1p_cp10k(counts, dense=True))
