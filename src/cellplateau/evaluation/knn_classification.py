"""Zero-shot cell-type classification: kNN on frozen embeddings.

kNN (k = 5, Euclidean) is fitted on a seeded, stratified half of the dataset and scored on the other
half, repeated over ``n_splits`` seeded splits: micro-F1 (the headline; equal to accuracy for
single-label data), macro-F1, accuracy and the F1 of every class (``f1:<class>``), each the mean over
splits, plus the standard deviation of micro-F1 across splits. Baselines on the same splits:
log-normalised HVG expression, a PCA fitted on the dataset itself, and the majority class.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cellplateau._hashing import derive_seed
from cellplateau.evaluation.base import Task, require
from cellplateau.evaluation.datasets import EvalDataset
from cellplateau.evaluation.splits import stratified_split


class KNNConfig(BaseModel):
    """Zero-shot kNN cell-type classification."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["knn_classification"] = "knn_classification"
    k: int = Field(5, ge=1, description="neighbours")
    test_fraction: float = Field(0.5, gt=0, lt=1, description="share of each class held out for scoring")
    n_splits: int = Field(3, ge=1, description="repeated seeded splits; scores are means over them")
    per_class: bool = Field(True, description="also report the F1 of every class (metric 'f1:<class>')")
    baseline_hvg: int = Field(2000, ge=10, description="HVGs of the expression baseline")
    baseline_pcs: int = Field(50, ge=2, description="components of the dataset-PCA baseline")


def classification_scores(truth: np.ndarray, pred: np.ndarray, *, per_class: bool = True) -> dict[str, float]:
    """Micro-F1, macro-F1, accuracy and (optionally) per-class F1 ``f1:<class>`` over the true classes."""
    from sklearn.metrics import accuracy_score, f1_score

    out = {
        "micro_f1": float(f1_score(truth, pred, average="micro")),
        "macro_f1": float(f1_score(truth, pred, average="macro", labels=np.unique(truth), zero_division=0)),
        "accuracy": float(accuracy_score(truth, pred)),
    }
    if per_class:
        classes = np.unique(truth)
        f1 = f1_score(truth, pred, average=None, labels=classes, zero_division=0)
        out.update({f"f1:{c}": float(v) for c, v in zip(classes, f1)})
    return out


def knn_scores(embedding: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray, *, k: int,
               per_class: bool = False) -> dict[str, float]:
    """Scores of a kNN classifier fitted on ``train`` and scored on ``test``."""
    from sklearn.neighbors import KNeighborsClassifier

    emb = np.asarray(embedding, dtype=np.float32)
    if not np.all(np.isfinite(emb)):
        raise ValueError("embedding holds NaN or infinite values")
    clf = KNeighborsClassifier(n_neighbors=min(k, len(train)))
    clf.fit(emb[train], labels[train])
    return classification_scores(labels[test], clf.predict(emb[test]), per_class=per_class)


def splits(labels: np.ndarray, config: KNNConfig, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``n_splits`` seeded stratified splits every model and baseline shares (split 0 uses ``seed``)."""
    return [stratified_split(labels, config.test_fraction, seed=seed if i == 0 else derive_seed(seed, "split", i))
            for i in range(config.n_splits)]


def mean_over_splits(per_split: list[dict[str, float]], headline: str = "micro_f1") -> dict[str, float]:
    keys = sorted({k for s in per_split for k in s})
    out = {k: float(np.mean([s[k] for s in per_split if k in s])) for k in keys}
    if len(per_split) > 1:
        out[f"{headline}_sd"] = float(np.std([s[headline] for s in per_split], ddof=1))
        out[f"{headline}_se"] = out[f"{headline}_sd"] / float(np.sqrt(len(per_split)))   # of the mean: the
        # evaluation's own sampling error, which seeds do not show (every model shares the splits)
    return out


def evaluate(embedding: np.ndarray, ds: EvalDataset, config: KNNConfig, seed: int, model=None) -> dict[str, float]:
    labels = require(ds, "labels", config.name)
    return mean_over_splits([knn_scores(embedding, labels, tr, te, k=config.k, per_class=config.per_class)
                             for tr, te in splits(labels, config, seed)])


def majority_scores(labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Scores of predicting the most common training label for every test cell."""
    values, counts = np.unique(labels[train], return_counts=True)
    return classification_scores(labels[test], np.full(len(test), values[np.argmax(counts)]), per_class=False)


def baseline_embeddings(ds: EvalDataset, n_hvg: int, n_pcs: int) -> dict[str, np.ndarray]:
    """Model-free references: HVG expression and a PCA fitted on the dataset itself."""
    from cellplateau.corpus.features import gram_pca, log1p_cp10k, select_hvg

    genes = select_hvg(ds.own_counts, n_hvg)
    X = log1p_cp10k(ds.own_counts, genes=genes, dense=True)
    mean, comps, _ = gram_pca([X], X.shape[1], min(n_pcs, X.shape[1], X.shape[0] - 1))
    return {"hvg_expression": X, "dataset_pca": (X - mean) @ comps.T}


def baselines(ds: EvalDataset, config: KNNConfig, seed: int) -> dict[str, dict[str, float]]:
    labels = require(ds, "labels", config.name)
    split_list = splits(labels, config, seed)
    out = {name: mean_over_splits([knn_scores(emb, labels, tr, te, k=config.k, per_class=config.per_class)
                                   for tr, te in split_list])
           for name, emb in baseline_embeddings(ds, config.baseline_hvg, config.baseline_pcs).items()}
    out["majority_class"] = mean_over_splits([majority_scores(labels, tr, te) for tr, te in split_list])
    return out


TASK = Task("knn_classification", KNNConfig, evaluate, baselines, requires=("labels",), headline="micro_f1",
            ceiling_baselines=("dataset_pca", "hvg_expression"))
