"""Masked autoencoder family (the reference study's SSL model).

Input: log1p(CP10k) of every vocabulary gene. An MLP encoder maps the masked input to the
embedding, an MLP decoder reconstructs the genes; ``mask_ratio`` (50 %) of genes are masked per cell
and the loss is the mean squared error on the masked genes only. Two masking schemes: ``random``
(independent genes) and ``gene_program`` (whole co-expressed gene modules, computed from the
training subset, are masked together). The embedding is the encoder output on the unmasked input.
Size presets: ``xs``..``m`` for CPU, ``l`` = the reference MLP 512-512-256-256-64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cellplateau.corpus.features import log1p_cp10k
from cellplateau.models._budget import Budget
from cellplateau.models._compute import dense_training_flops
from cellplateau.models._layers import (
    embed_log_normalised,
    load_checkpoint,
    log_normalised_input,
    log_normalised_tensor,
    masked_input,
    mlp,
    save_checkpoint,
)
from cellplateau.models._train import train
from cellplateau.models.base import (
    Family,
    FitInfo,
    ModelFamily,
    TrainableEncoder,
    TrainingData,
    apply_size_preset,
)

SIZES = {s: {"hidden": h, "latent": z} for s, (h, z) in {
    "xs": ([128], 16), "s": ([256, 128], 32), "m": ([512, 256], 64), "l": ([512, 512, 256, 256], 64)}.items()}


class MAEConfig(BaseModel):
    """Masked autoencoder on log-normalised expression."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["mae"] = "mae"
    size: Literal["xs", "s", "m", "l"] | None = Field(None, description="preset; explicit fields override it")
    hidden: list[int] = Field([256, 128], min_length=1, description="encoder hidden widths")
    latent: int = Field(32, ge=2, description="embedding dimensions")
    mask_ratio: float = Field(0.5, gt=0, lt=1, description="share of genes masked per cell")
    masking: Literal["random", "gene_program"] = Field("random", description="random genes or whole gene programs")
    n_programs: int = Field(50, ge=2, description="gene programs (gene_program masking)")
    dropout: float = Field(0.0, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate")
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=2)
    budget: Budget = Budget()

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        return apply_size_preset(data, SIZES)


def gene_programs(X: np.ndarray, n_programs: int, *, seed: int) -> np.ndarray:
    """Assign each gene to one of ``n_programs`` co-expression modules: k-means on the genes'
    standardised expression profiles across cells (``X`` cells x genes, log-normalised)."""
    from sklearn.cluster import KMeans

    Z = (X - X.mean(0)) / (X.std(0) + 1e-6)
    k = min(n_programs, X.shape[1])
    return KMeans(k, n_init=3, random_state=seed).fit_predict(Z.T.astype(np.float64)).astype(np.int64)


class MAEModel(ModelFamily):
    name = "mae"
    config: MAEConfig

    def _build(self, n_genes: int) -> None:
        import torch.nn as nn

        c = self.config
        self.n_genes = n_genes
        self.encoder = mlp([n_genes, *c.hidden, c.latent], c.dropout)
        self.decoder = mlp([c.latent, *reversed(c.hidden), n_genes], c.dropout)
        self.net = nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder})
        self.programs = np.zeros(n_genes, dtype=np.int64)

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self._build(n_genes)
        self.net.eval()

    def _mask(self, x, gen):
        import torch

        if self.config.masking == "random":
            return torch.rand(x.shape, generator=gen) < self.config.mask_ratio
        # gene programs: mask whole modules until about mask_ratio of genes are covered
        n_prog = int(self.programs.max()) + 1
        chosen = torch.rand((x.shape[0], n_prog), generator=gen) < self.config.mask_ratio
        return chosen[:, torch.from_numpy(self.programs)]

    def _masked_loss(self, x, gen, x_in=None):
        """``x_in``: the same batch as the first layer's input (sparse on CPU), ``x`` dense."""
        mask = self._mask(x, gen).to(x.device)
        recon = self.decoder(self.encoder(masked_input(x if x_in is None else x_in, mask)))
        return ((recon.float() - x) ** 2 * mask).sum() / mask.sum().clamp(min=1)

    def _val_loss(self, data: TrainingData, seed: int) -> float:
        import torch

        if len(data.val) == 0:
            return float("nan")
        gen = torch.Generator().manual_seed(seed + 1)
        device = next(self.net.parameters()).device
        self.net.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for _, counts in data.store.iter_rows(data.val[:8192], chunk_size=2048):
                x_in, x = log_normalised_input(counts, device.type)
                total += float(self._masked_loss(x, gen, x_in)) * len(x)
                n += len(x)
        return total / n

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        import torch

        c = self.config
        torch.manual_seed(seed)
        self._build(data.store.n_genes)
        if c.masking == "gene_program":
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(data.train, size=min(5000, len(data.train)), replace=False))
            self.programs = gene_programs(log1p_cp10k(data.store.read_rows(sample), dense=True), c.n_programs,
                                          seed=seed)
        gen = torch.Generator().manual_seed(seed)

        def loss_fn(rows, counts):
            x_in, x = log_normalised_input(counts, device)
            return self._masked_loss(x, gen, x_in)

        opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.fit_info = train(self.net, data, seed=seed, device=device, batch_size=c.batch_size, budget=c.budget,
                              optimizer=opt, loss_fn=loss_fn, val_fn=lambda: self._val_loss(data, seed))
        self.fit_info.flops = dense_training_flops(self.fit_info.n_params, self.fit_info.cells_seen)
        return self.fit_info

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096, source: str = "counts") -> np.ndarray:
        self.net.eval()
        return embed_log_normalised(counts, self.encoder, self.config.latent, batch_size=batch_size)

    def trainable_encoder(self) -> TrainableEncoder:
        return TrainableEncoder(self.encoder, log_normalised_tensor, self.encoder, self.config.latent)

    def _save_weights(self, folder: Path) -> None:
        import torch

        save_checkpoint(folder, self.net, self.n_genes, programs=torch.from_numpy(self.programs))

    def _load_weights(self, folder: Path) -> None:
        ckpt = load_checkpoint(folder)
        self._build(int(ckpt["n_genes"]))
        self.net.load_state_dict(ckpt["state_dict"])
        self.programs = ckpt["programs"].numpy()
        self.net.eval()


FAMILY = Family("mae", MAEConfig, MAEModel)
