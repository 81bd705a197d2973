"""PCA family: log1p(CP10k) on HVGs of the training cells, exact centred PCA, out of core.

HVGs are chosen on a seeded sample of training cells; the mean and the Gram matrix are then
accumulated over *all* training cells chunk by chunk (:func:`gram_pca`), so memory is O(HVG^2).
The mean is saved and every projection is centred (the reference study forgot both).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from cellplateau.corpus.features import gram_pca, log1p_cp10k, select_hvg
from cellplateau.models._compute import pca_flops, peak_rss_mb
from cellplateau.models._validation import validation_sample
from cellplateau.models.base import Family, FamilyConfig, FitInfo, ModelFamily, TrainingData

SIZES = {s: {"n_components": k} for s, k in {"xs": 10, "s": 25, "m": 50, "l": 100}.items()}   # reference: 50


class PCAConfig(FamilyConfig):
    """Principal components of log-normalised HVG expression."""

    presets = SIZES
    name: Literal["pca"] = "pca"
    n_components: int = Field(50, ge=1, description="embedding dimensions")
    n_hvg: int = Field(2000, ge=2, description="highly variable genes fitted on")
    hvg_sample: int = Field(50_000, ge=100, description="training cells sampled to choose the HVGs")


class PCAModel(ModelFamily):
    name = "pca"
    device_kinds = ("cpu",)
    config: PCAConfig

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        train = data.train
        sample = np.sort(rng.choice(train, size=min(self.config.hvg_sample, len(train)), replace=False))
        self.genes = select_hvg(data.store.read_rows(sample), self.config.n_hvg)
        chunks = (log1p_cp10k(c, genes=self.genes, dense=True) for _, c in data.store.iter_rows(train))
        k = min(self.config.n_components, len(self.genes), max(len(train) - 1, 1))
        self.mean, self.components, self.explained_variance = gram_pca(chunks, len(self.genes), k)
        val_err = float("nan")
        val_rows = validation_sample(data.val, seed=seed)
        if len(val_rows):
            Xv = log1p_cp10k(data.store.read_rows(val_rows), genes=self.genes, dense=True) - self.mean
            recon = (Xv @ self.components.T) @ self.components
            val_err = float(np.mean((Xv - recon) ** 2))
        self.fit_info = FitInfo(steps=1, epochs=1.0, cells_seen=len(train), val_loss=val_err,
                                n_params=self.n_params(), wall_time_s=time.perf_counter() - t0,
                                budget={"policy": "closed_form"}, device="cpu", peak_rss_mb=peak_rss_mb(),
                                converged=True, loss_converged=True,     # an exact solution
                                probe_skipped="closed form: no training trajectory to probe",
                                flops=pca_flops(len(train), len(self.genes)))
        return self.fit_info

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        """A random orthonormal projection of all log-normalised genes (no data seen, no centring)."""
        rng = np.random.default_rng(seed)
        k = min(self.config.n_components, n_genes)
        q, _ = np.linalg.qr(rng.normal(size=(n_genes, k)))
        self.genes = np.arange(n_genes)
        self.mean = np.zeros(n_genes, dtype=np.float32)
        self.components = q.T.astype(np.float32)
        self.explained_variance = np.full(k, np.nan)

    def n_params(self) -> int:
        return int(self.components.size + self.mean.size)

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096, source: str = "counts") -> np.ndarray:
        counts = sp.csr_matrix(counts)
        out = np.empty((counts.shape[0], self.components.shape[0]), dtype=np.float32)
        for s in range(0, counts.shape[0], batch_size):
            X = log1p_cp10k(counts[s : s + batch_size], genes=self.genes, dense=True)
            out[s : s + batch_size] = (X - self.mean) @ self.components.T
        return out

    def _save_weights(self, folder: Path) -> None:
        np.savez(folder / "weights.npz", genes=self.genes, mean=self.mean, components=self.components,
                 explained_variance=self.explained_variance)

    def _load_weights(self, folder: Path) -> None:
        w = np.load(folder / "weights.npz")
        self.genes, self.mean, self.components = w["genes"], w["mean"], w["components"]
        self.explained_variance = w["explained_variance"]


def _estimate(config: PCAConfig, n_genes: int, n_train: int) -> float:
    return pca_flops(n_train, min(config.n_hvg, n_genes))


FAMILY = Family("pca", PCAConfig, PCAModel, estimate=_estimate)
