"""Diversity of a subset: label entropy, inverse Simpson, coverage counts, and the Vendi score.

The Vendi score (Friedman & Dieng 2023) is ``exp(H(lambda))`` of the eigenvalues of ``K / n`` for a
similarity kernel ``K`` with unit diagonal. With a linear kernel on ``d`` features it can never exceed
``d`` (the reference study's choice); an RBF kernel is not capped by the feature count.
"""

from __future__ import annotations

import numpy as np


def shannon_entropy(labels: np.ndarray) -> float:
    """Natural-log Shannon entropy of the label distribution."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def inverse_simpson(labels: np.ndarray) -> float:
    """``1 / sum p_k^2``: the effective number of equally common labels."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    p = counts / counts.sum()
    return float(1.0 / np.sum(p**2))


def rbf_kernel(X: np.ndarray, *, gamma: float | None = None) -> np.ndarray:
    """``exp(-gamma ||x - y||^2)``; ``gamma`` defaults to 1 / median squared distance."""
    X = np.asarray(X, float)
    sq = (X**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0)
    if gamma is None:
        med = np.median(d2[np.triu_indices_from(d2, 1)]) if len(X) > 1 else 1.0
        gamma = 1.0 / med if med > 0 else 1.0
    return np.exp(-gamma * d2)


def vendi_score(K: np.ndarray) -> float:
    """Vendi score of a kernel matrix with unit diagonal (between 1 and n)."""
    n = K.shape[0]
    ev = np.linalg.eigvalsh(K / n)
    ev = ev[ev > 1e-12]
    return float(np.exp(-(ev * np.log(ev)).sum()))


def coverage(obs_subset, obs_corpus, columns=("cell_type", "tissue", "donor", "dataset")) -> dict[str, float]:
    """How many distinct values of each column the subset covers (and the corpus has)."""
    out = {}
    for col in columns:
        if col in obs_corpus.columns:
            out[f"n_{col}"] = float(obs_subset[col].nunique())
            out[f"n_{col}_corpus"] = float(obs_corpus[col].nunique())
    return out
