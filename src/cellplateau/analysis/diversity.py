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


def subset_diversity(obs, subset: np.ndarray, *, label_key: str = "cell_type", embedding: np.ndarray | None = None,
                     n_vendi: int = 1000, n_hausdorff: int = 1000, rare_below: float = 0.01, seed: int = 0
                     ) -> dict[str, float]:
    """Diversity of one subset (rows ``subset`` of the corpus ``obs``).

    Label metrics use ``label_key``: Shannon entropy (nats), inverse Simpson, types covered, rare-type
    coverage (types below ``rare_below`` of the corpus). Coverage counts of tissues, donors and datasets.
    Vendi score on ``embedding`` (corpus cells x PCs) for a seeded sample of up to ``n_vendi`` subset
    cells, with an RBF kernel whose bandwidth is fixed from a seeded sample of the *corpus* (so scores
    are comparable across subsets and not capped by the number of PCs). ``type_gini``: Gini coefficient of the
    subset's type proportions over the corpus's types. ``hausdorff``: the largest distance from a seeded sample
    of ``n_hausdorff`` corpus cells (``hausdorff_sample``) to their nearest subset cell on ``embedding``.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    if label_key in obs.columns:
        labels = obs[label_key].astype(str).to_numpy()
        sub = labels[subset]
        out["shannon_entropy"] = shannon_entropy(sub)
        out["inverse_simpson"] = inverse_simpson(sub)
        codes, counts = np.unique(labels, return_counts=True)
        rare = set(codes[counts / counts.sum() < rare_below])
        present = set(np.unique(sub))
        out["types_covered"] = len(present) / len(codes)
        out["rare_types_covered"] = len(present & rare) / len(rare) if rare else float("nan")
        out["type_gini"] = type_gini(labels, subset)
    out.update({k: v for k, v in coverage(obs.iloc[subset], obs).items() if not k.endswith("_corpus")})
    if embedding is not None:
        ref = np.sort(rng.choice(embedding.shape[0], size=min(1000, embedding.shape[0]), replace=False))
        E = np.asarray(embedding[ref], float)
        sq = (E**2).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * E @ E.T, 0)
        gamma = 1.0 / max(np.median(d2[np.triu_indices_from(d2, 1)]), 1e-12)
        pick = np.sort(rng.choice(subset, size=min(n_vendi, len(subset)), replace=False))
        out["vendi_rbf"] = vendi_score(rbf_kernel(np.asarray(embedding[pick], float), gamma=gamma))
        out["vendi_sample"] = float(len(pick))
        if n_hausdorff:
            queries = rng.choice(embedding.shape[0], size=min(n_hausdorff, embedding.shape[0]), replace=False)
            out["hausdorff"] = hausdorff_to_subset(embedding, subset, queries)
            out["hausdorff_sample"] = float(len(queries))
    return out


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative ``values`` (0: all equal; ``1 - 1/K`` when one of K holds everything)."""
    v = np.sort(np.asarray(values, float))
    if len(v) == 0 or v.sum() <= 0:
        return float("nan")
    k = len(v)
    return float((2 * np.arange(1, k + 1) - k - 1) @ v / (k * v.sum()))


def type_gini(labels: np.ndarray, subset: np.ndarray) -> float:
    """Gini coefficient of the subset's cell-type proportions over every type of the corpus (absent types
    count as 0): 0 when every corpus type is equally represented."""
    _, inv = np.unique(np.asarray(labels), return_inverse=True)
    return gini(np.bincount(inv.ravel()[subset], minlength=int(inv.max()) + 1))


def hausdorff_to_subset(embedding: np.ndarray, subset: np.ndarray, queries: np.ndarray, *, chunk: int = 16_384
                        ) -> float:
    """Directed Hausdorff distance from the cells ``queries`` to the cells ``subset`` (rows of ``embedding``):
    the largest distance from a query cell to its nearest subset cell. Exact; the subset is streamed from
    ``embedding`` (which may be memory-mapped) ``chunk`` rows at a time, so memory is ``len(queries) x chunk``."""
    Q = np.asarray(embedding[np.sort(queries)], np.float64)
    q2 = (Q**2).sum(1)
    best = np.full(len(Q), np.inf)
    subset = np.asarray(subset)
    for a in range(0, len(subset), chunk):
        S = np.asarray(embedding[subset[a : a + chunk]], np.float64)
        d2 = q2[:, None] - 2 * Q @ S.T + (S**2).sum(1)[None, :]
        np.minimum(best, d2.min(1), out=best)
    return float(np.sqrt(max(best.max(), 0.0))) if len(Q) else float("nan")
