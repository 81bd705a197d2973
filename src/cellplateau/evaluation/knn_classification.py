"""Zero-shot cell-type classification: kNN on frozen embeddings.

kNN (k = 5, Euclidean) is fitted on a seeded, stratified half of the dataset and scored on the other
half: micro-F1 (the headline; equal to accuracy for single-label data), macro-F1 and accuracy.
Baselines on the same split: log-normalised HVG expression, and a PCA fitted on the dataset itself.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.evaluation.base import Task
from cellplateau.evaluation.datasets import EvalDataset
from cellplateau.evaluation.splits import stratified_split


class KNNConfig(BaseModel):
    """Zero-shot kNN cell-type classification."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["knn_classification"] = "knn_classification"
    k: int = Field(5, ge=1, description="neighbours")
    test_fraction: float = Field(0.5, gt=0, lt=1, description="share of each class held out for scoring")
    baseline_hvg: int = Field(2000, ge=10, description="HVGs of the expression baseline")
    baseline_pcs: int = Field(50, ge=2, description="components of the dataset-PCA baseline")


def knn_scores(embedding: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray, *, k: int
               ) -> dict[str, float]:
    """Micro-F1, macro-F1 and accuracy of a kNN classifier fitted on ``train`` and scored on ``test``."""
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.neighbors import KNeighborsClassifier

    emb = np.asarray(embedding, dtype=np.float32)
    if not np.all(np.isfinite(emb)):
        raise ValueError("embedding holds NaN or infinite values")
    clf = KNeighborsClassifier(n_neighbors=min(k, len(train)))
    clf.fit(emb[train], labels[train])
    pred = clf.predict(emb[test])
    return {
        "micro_f1": float(f1_score(labels[test], pred, average="micro")),
        "macro_f1": float(f1_score(labels[test], pred, average="macro")),
        "accuracy": float(accuracy_score(labels[test], pred)),
    }


def _split(ds: EvalDataset, config: KNNConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return stratified_split(ds.labels, config.test_fraction, seed=seed)


def evaluate(embedding: np.ndarray, ds: EvalDataset, config: KNNConfig, seed: int) -> dict[str, float]:
    train, test = _split(ds, config, seed)
    return knn_scores(embedding, ds.labels, train, test, k=config.k)


def baseline_embeddings(ds: EvalDataset, config: KNNConfig, seed: int) -> dict[str, np.ndarray]:
    """Model-free references: HVG expression and a PCA fitted on the dataset itself."""
    from cellplateau.corpus.features import gram_pca, log1p_cp10k, select_hvg

    genes = select_hvg(ds.own_counts, config.baseline_hvg)
    X = log1p_cp10k(ds.own_counts, genes=genes, dense=True)
    mean, comps, _ = gram_pca([X], X.shape[1], min(config.baseline_pcs, X.shape[1], X.shape[0] - 1))
    return {"hvg_expression": X, "dataset_pca": (X - mean) @ comps.T}


def baselines(ds: EvalDataset, config: KNNConfig, seed: int) -> dict[str, dict[str, float]]:
    train, test = _split(ds, config, seed)
    majority = np.unique(ds.labels[train], return_counts=True)
    top = majority[0][np.argmax(majority[1])]
    out = {name: knn_scores(emb, ds.labels, train, test, k=config.k)
           for name, emb in baseline_embeddings(ds, config, seed).items()}
    out["majority_class"] = {"micro_f1": float(np.mean(ds.labels[test] == top))}
    return out


TASK = Task("knn_classification", KNNConfig, evaluate, baselines)
