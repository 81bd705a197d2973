"""Masked autoencoder family (the reference study's SSL model).

Input: log1p(CP10k) of every vocabulary gene. An MLP encoder maps the masked input to the
embedding, an MLP decoder reconstructs the genes; 50 % of genes are masked at random per cell and
the loss is the mean squared error on the masked genes only. The embedding is the encoder output
on the unmasked input. Sizes and the training budget come from the spec; the defaults are scaled
down for CPU (the reference is 512-512-256-256-64).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.corpus.features import log1p_cp10k
from cellplateau.models._budget import Budget, planned_steps
from cellplateau.models._layers import mlp
from cellplateau.models._loader import BatchStream
from cellplateau.models.base import Family, FitInfo, ModelFamily, TrainingData


class MAEConfig(BaseModel):
    """Masked autoencoder on log-normalised expression."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["mae"] = "mae"
    hidden: list[int] = Field([256, 128], min_length=1, description="encoder hidden widths")
    latent: int = Field(32, ge=2, description="embedding dimensions")
    mask_ratio: float = Field(0.5, gt=0, lt=1, description="share of genes masked per cell")
    dropout: float = Field(0.0, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate")
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=2)
    budget: Budget = Budget()


class MAEModel(ModelFamily):
    name = "mae"
    config: MAEConfig

    def _build(self, n_genes: int) -> None:
        import torch.nn as nn

        c = self.config
        self.n_genes = n_genes
        self.encoder = mlp([n_genes, *c.hidden, c.latent], c.dropout, last_plain=True)
        self.decoder = mlp([c.latent, *reversed(c.hidden), n_genes], c.dropout, last_plain=True)
        self.net = nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder})

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        """Random initialisation only (the untrained control)."""
        import torch

        torch.manual_seed(seed)
        self._build(n_genes)

    def _masked_loss(self, x, gen):
        import torch

        mask = torch.rand(x.shape, generator=gen, device=x.device) < self.config.mask_ratio
        recon = self.decoder(self.encoder(x.masked_fill(mask, 0.0)))
        return ((recon - x) ** 2 * mask).sum() / mask.sum().clamp(min=1)

    def _val_loss(self, data: TrainingData, seed: int, device: str) -> float:
        import torch

        if len(data.val) == 0:
            return float("nan")
        gen = torch.Generator(device=device).manual_seed(seed + 1)
        self.net.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for _, counts in data.store.iter_rows(data.val, chunk_size=2048):
                x = torch.from_numpy(log1p_cp10k(counts, dense=True)).to(device)
                total += float(self._masked_loss(x, gen)) * len(x)
                n += len(x)
        self.net.train()
        return total / n

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        import torch

        t0 = time.perf_counter()
        c = self.config
        if len(data.train) < 2:
            raise ValueError(f"mae needs at least 2 training cells, the subset has {len(data.train)}")
        torch.manual_seed(seed)
        self._build(data.store.n_genes)
        self.net.to(device).train()
        opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        gen = torch.Generator(device=device).manual_seed(seed)
        total_steps = planned_steps(c.budget, n_train=len(data.train), batch_size=c.batch_size)
        best, bad, step, loss_ema = float("inf"), 0, 0, float("nan")
        best_state = None
        stream = BatchStream(data.store, data.train, batch_size=c.batch_size, rng=np.random.default_rng(seed))
        with stream:
            for step in range(1, total_steps + 1):
                _, counts = next(stream)
                x = torch.from_numpy(log1p_cp10k(counts, dense=True)).to(device)
                loss = self._masked_loss(x, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lv = float(loss.detach())
                loss_ema = lv if np.isnan(loss_ema) else 0.95 * loss_ema + 0.05 * lv
                if c.budget.policy == "early_stopping" and step % c.budget.eval_every == 0:
                    v = self._val_loss(data, seed, device)
                    if v < best - 1e-6:
                        best, bad = v, 0
                        best_state = {k: t.detach().clone() for k, t in self.net.state_dict().items()}
                    else:
                        bad += 1
                        if bad >= c.budget.patience:
                            break
            wait, epochs = stream.wait_s, stream.epochs
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.net.to("cpu").eval()
        self.fit_info = FitInfo(
            steps=step, epochs=epochs, cells_seen=step * c.batch_size, train_loss=loss_ema,
            val_loss=self._val_loss(data, seed, "cpu"), n_params=sum(p.numel() for p in self.net.parameters()),
            wall_time_s=time.perf_counter() - t0, data_wait_s=wait,
            budget={**c.budget.model_dump(), "planned_steps": total_steps, "steps_taken": step}, device=device,
        )
        return self.fit_info

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096) -> np.ndarray:
        import torch

        counts = sp.csr_matrix(counts)
        out = []
        self.net.eval()
        with torch.no_grad():
            for s in range(0, counts.shape[0], batch_size):
                x = torch.from_numpy(log1p_cp10k(counts[s : s + batch_size], dense=True))
                out.append(self.encoder(x).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.config.latent), np.float32)

    def _save_weights(self, folder: Path) -> None:
        import torch

        torch.save({"n_genes": self.n_genes, "state_dict": self.net.state_dict()}, folder / "weights.pt")

    def _load_weights(self, folder: Path) -> None:
        import torch

        ckpt = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        self._build(int(ckpt["n_genes"]))
        self.net.load_state_dict(ckpt["state_dict"])
        self.net.eval()


FAMILY = Family("mae", MAEConfig, MAEModel)
