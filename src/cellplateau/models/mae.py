"""Masked autoencoder family (the reference study's SSL model).

Input: log1p(CP10k) of every vocabulary gene. An MLP encoder maps the masked input to the
embedding, an MLP decoder reconstructs the genes; ``mask_ratio`` (50 %) of genes are masked per cell
and the loss is the mean squared error on the masked genes only. Two masking schemes: ``random``
(independent genes) and ``gene_program`` (whole co-expressed gene modules, computed from the
training subset, are masked together). The embedding is the encoder output on the unmasked input.
Size presets: ``xs``..``m`` for CPU, ``l`` = the reference MLP 512-512-256-256-64.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from cellplateau.models._autoencoder import MLPAutoencoder
from cellplateau.models._layers import bernoulli_mask, log_normalised_input, masked_input
from cellplateau.models._recon_loss import reconstruction_mse
from cellplateau.models.base import Family, TrainingData
from cellplateau.models.torch_family import TorchConfig

SIZES = {s: {"hidden": h, "latent": z} for s, (h, z) in {
    "xs": ([128], 16), "s": ([256, 128], 32), "m": ([512, 256], 64), "l": ([512, 512, 256, 256], 64)}.items()}


class MAEConfig(TorchConfig):
    """Masked autoencoder on log-normalised expression."""

    presets = SIZES
    name: Literal["mae"] = "mae"
    hidden: list[int] = Field([256, 128], min_length=1, description="encoder hidden widths")
    latent: int = Field(32, ge=2, description="embedding dimensions")
    mask_ratio: float = Field(0.5, gt=0, lt=1, description="share of genes masked per cell")
    masking: Literal["random", "gene_program"] = Field("random", description="random genes or whole gene programs")
    n_programs: int = Field(50, ge=2, description="gene programs (gene_program masking)")
    dropout: float = Field(0.0, ge=0, lt=1)


def gene_programs(X: np.ndarray, n_programs: int, *, seed: int) -> np.ndarray:
    """Assign each gene to one of ``n_programs`` co-expression modules: k-means on the genes'
    standardised expression profiles across cells (``X`` cells x genes, log-normalised). ``seed``: any
    non-negative integer (a study's derived seeds are 64-bit; scikit-learn takes 32, so it is folded)."""
    from sklearn.cluster import KMeans

    Z = (X - X.mean(0)) / (X.std(0) + 1e-6)
    k = min(n_programs, X.shape[1])
    return KMeans(k, n_init=3, random_state=int(seed) % 2**32).fit_predict(Z.T.astype(np.float64)).astype(np.int64)


class MAEModel(MLPAutoencoder):
    name = "mae"
    config: MAEConfig

    def untrained_state(self, n_genes: int) -> None:
        self.programs = np.zeros(n_genes, dtype=np.int64)

    def prepare(self, data: TrainingData, *, seed: int) -> None:
        from cellplateau.corpus.features import log1p_cp10k

        self.untrained_state(data.store.n_genes)
        if self.config.masking == "gene_program":
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(data.train, size=min(5000, len(data.train)), replace=False))
            self.programs = gene_programs(log1p_cp10k(data.store.read_rows(sample), dense=True),
                                          self.config.n_programs, seed=seed)

    def extra_state(self) -> dict:
        import torch

        return {"programs": torch.from_numpy(self.programs)}

    def load_extra_state(self, state: dict) -> None:
        self.programs = state["programs"].numpy()

    def _mask(self, shape: tuple[int, int], gen):
        import torch

        if self.config.masking == "random":
            return bernoulli_mask(shape, self.config.mask_ratio, gen)
        # gene programs: mask whole modules until about mask_ratio of genes are covered
        n_prog = int(self.programs.max()) + 1
        chosen = torch.rand((shape[0], n_prog), generator=gen) < self.config.mask_ratio
        return chosen[:, torch.from_numpy(self.programs)]

    def loss(self, rows, counts, *, gen, device, step):
        x = log_normalised_input(counts, device)      # the input and the target (sparse on CPU)
        mask = self._mask(tuple(x.shape), gen).to(device)     # drawn on the CPU from the CPU generator
        recon = self.decoder(self.encoder(masked_input(x, mask)))
        return reconstruction_mse(recon, x, mask)


FAMILY = Family("mae", MAEConfig, MAEModel)
