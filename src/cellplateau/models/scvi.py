"""scVI family through scvi-tools: raw counts, negative-binomial likelihood, latent posterior mean.

The model maths is scvi-tools' own :class:`scvi.module.VAE` (encoder, NB decoder, KL to the prior).
Training streams shuffled batches from the corpus store with our :class:`BatchStream` instead of
materialising the subset as one in-memory AnnData (the role scvi-tools' custom data modules play),
so a 22 M-cell subset trains in constant memory. The loss is the module's own ELBO with linear KL
warm-up. Embedding = posterior mean of ``q(z | x)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cellplateau.models._budget import Budget
from cellplateau.models._compute import dense_training_flops
from cellplateau.models._layers import load_checkpoint, save_checkpoint
from cellplateau.models._train import train
from cellplateau.models._validation import validation_sample
from cellplateau.models.base import (
    Family,
    FitInfo,
    ModelFamily,
    TrainableEncoder,
    TrainingData,
    apply_size_preset,
)

SIZES = {s: dict(zip(("n_hidden", "n_layers", "n_latent"), v)) for s, v in {
    "xs": (64, 1, 10), "s": (128, 1, 10), "m": (256, 2, 16), "l": (512, 2, 32)}.items()}


class SCVIConfig(BaseModel):
    """scVI (scvi-tools VAE) on raw counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["scvi"] = "scvi"
    size: Literal["xs", "s", "m", "l"] | None = Field(None, description="preset; explicit fields override it")
    n_hidden: int = Field(128, ge=2, description="hidden width (reference 128)")
    n_layers: int = Field(1, ge=1, description="hidden layers (reference 1)")
    n_latent: int = Field(10, ge=2, description="latent dimensions = embedding size (reference 10)")
    gene_likelihood: Literal["nb", "zinb", "poisson"] = "nb"
    dropout_rate: float = Field(0.1, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, ge=2)
    kl_warmup_steps: int = Field(400, ge=0, description="steps over which the KL weight rises to 1")
    round_counts: bool = Field(False, description="round non-integer input counts instead of refusing them")
    budget: Budget = Budget(policy="fixed_steps", steps=400)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        return apply_size_preset(data, SIZES)


class SCVIModel(ModelFamily):
    name = "scvi"
    config: SCVIConfig

    def _build(self, n_genes: int) -> None:
        from scvi.module import VAE

        c = self.config
        self.n_genes = n_genes
        self.module = VAE(n_input=n_genes, n_hidden=c.n_hidden, n_latent=c.n_latent, n_layers=c.n_layers,
                          dropout_rate=c.dropout_rate, gene_likelihood=c.gene_likelihood)

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self._build(n_genes)
        self.module.eval()

    @staticmethod
    def _tensors(x):
        import torch
        from scvi import REGISTRY_KEYS

        zeros = torch.zeros((x.shape[0], 1), device=x.device)
        return {REGISTRY_KEYS.X_KEY: x, REGISTRY_KEYS.BATCH_KEY: zeros, REGISTRY_KEYS.LABELS_KEY: zeros}

    def _loss(self, x, kl_weight: float):
        _, _, losses = self.module(self._tensors(x), loss_kwargs={"kl_weight": kl_weight})
        return losses.loss

    def _val_loss(self, data: TrainingData, rows: np.ndarray) -> float:
        import torch

        if len(rows) == 0:
            return float("nan")
        device = next(self.module.parameters()).device
        self.module.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for _, counts in data.store.iter_rows(rows, chunk_size=2048):
                x = _dense_nonempty(counts)
                if len(x):
                    total += float(self._loss(torch.from_numpy(x).to(device), 1.0)) * len(x)
                    n += len(x)
        return total / max(n, 1)

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        import torch

        c = self.config
        torch.manual_seed(seed)
        self._build(data.store.n_genes)
        state = {"step": 0}

        def loss_fn(rows, counts):
            x = _dense_nonempty(counts)
            if len(x) < 2:
                return None
            state["step"] += 1
            kl_weight = min(1.0, state["step"] / c.kl_warmup_steps) if c.kl_warmup_steps else 1.0
            return self._loss(torch.from_numpy(x).to(device), kl_weight)

        # scVI's own optimiser settings (scvi-tools TrainingPlan defaults); fp32 (NB likelihood)
        opt = torch.optim.Adam(self.module.parameters(), lr=c.lr, eps=0.01, weight_decay=1e-6)
        val_rows = validation_sample(data.val, seed=seed)
        self.fit_info = train(self.module, data, seed=seed, device=device, batch_size=c.batch_size,
                              budget=c.budget, optimizer=opt, loss_fn=loss_fn,
                              val_fn=lambda: self._val_loss(data, val_rows), amp=False)
        self.fit_info.flops = dense_training_flops(self.fit_info.n_params, self.fit_info.cells_seen)
        return self.fit_info

    def _integer_counts(self, counts: sp.spmatrix, source: str) -> sp.csr_matrix:
        counts = sp.csr_matrix(counts)
        data = counts.data
        if data.size and np.any(data != np.round(data)):
            if not self.config.round_counts:
                raise ValueError(f"{source}: scVI needs integer counts but the data holds non-integer values "
                                 f"(e.g. {data[data != np.round(data)][0]:g}); set round_counts: true in the scvi "
                                 "family of the spec to round them")
            counts = counts.copy()
            counts.data = np.round(counts.data)
        return counts

    def trainable_encoder(self) -> TrainableEncoder:
        import torch

        def prepare(counts):
            return torch.from_numpy(self._integer_counts(counts, "fine-tuning data").toarray().astype(np.float32))

        def forward(x):
            return self.module.inference(x, torch.zeros((x.shape[0], 1), device=x.device))["qz"].loc

        return TrainableEncoder(self.module.z_encoder, prepare, forward, self.config.n_latent)

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096, source: str = "counts") -> np.ndarray:
        import torch

        counts = self._integer_counts(counts, source)
        out = []
        self.module.eval()
        with torch.no_grad():
            for s in range(0, counts.shape[0], batch_size):
                x = torch.from_numpy(counts[s : s + batch_size].toarray().astype(np.float32))
                inf = self.module.inference(x, torch.zeros((x.shape[0], 1)))
                out.append(inf["qz"].loc.numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.config.n_latent), np.float32)

    def _save_weights(self, folder: Path) -> None:
        save_checkpoint(folder, self.module, self.n_genes)

    def _load_weights(self, folder: Path) -> None:
        ckpt = load_checkpoint(folder)
        self._build(int(ckpt["n_genes"]))
        self.module.load_state_dict(ckpt["state_dict"])
        self.module.eval()


def _dense_nonempty(counts: sp.csr_matrix) -> np.ndarray:
    """Dense float32 counts of the cells with at least one count (scVI's log-library needs > 0)."""
    x = counts.toarray().astype(np.float32)
    return x[x.sum(1) > 0]


FAMILY = Family("scvi", SCVIConfig, SCVIModel)
