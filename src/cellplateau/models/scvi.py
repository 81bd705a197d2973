"""scVI family through scvi-tools: raw counts, negative-binomial likelihood, latent posterior mean.

The model maths is scvi-tools' own :class:`scvi.module.VAE` (encoder, NB decoder, KL to the prior).
Training streams shuffled batches from the corpus store with our :class:`BatchStream` instead of
materialising the subset as one in-memory AnnData (the role scvi-tools' custom data modules play),
so a 22 M-cell subset trains in constant memory. The loss is the module's own ELBO with linear KL
warm-up. Embedding = posterior mean of ``q(z | x)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from cellplateau.models._budget import Budget
from cellplateau.models.base import Family
from cellplateau.models.torch_family import TorchConfig, TorchFamily

SIZES = {s: dict(zip(("n_hidden", "n_layers", "n_latent"), v)) for s, v in {
    "xs": (64, 1, 10), "s": (128, 1, 10), "m": (256, 2, 16), "l": (512, 2, 32)}.items()}


class SCVIConfig(TorchConfig):
    """scVI (scvi-tools VAE) on raw counts."""

    presets = SIZES
    name: Literal["scvi"] = "scvi"
    gene_likelihood: Literal["nb", "zinb", "poisson"] = Field("nb", description="count likelihood of the decoder")
    n_hidden: int = Field(128, ge=2, description="hidden width (reference 128)")
    n_layers: int = Field(1, ge=1, description="hidden layers (reference 1)")
    n_latent: int = Field(10, ge=2, description="latent dimensions = embedding size (reference 10)")
    dropout_rate: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(1e-6, ge=0, description="Adam weight decay (scvi-tools' default)")
    batch_size: int = Field(128, ge=2)
    kl_warmup_steps: int = Field(400, ge=0, description="steps over which the KL weight rises to 1")
    round_counts: bool = Field(False, description="round non-integer input counts instead of refusing them")
    budget: Budget = Budget(policy="fixed_steps", steps=400)


class SCVIModel(TorchFamily):
    name = "scvi"
    config: SCVIConfig
    amp = False                                       # fp32: the NB likelihood

    @property
    def dim(self) -> int:
        return self.config.n_latent

    def build(self, n_genes: int):
        from scvi.module import VAE

        c = self.config
        return VAE(n_input=n_genes, n_hidden=c.n_hidden, n_latent=c.n_latent, n_layers=c.n_layers,
                   dropout_rate=c.dropout_rate, gene_likelihood=c.gene_likelihood)

    def encoder_module(self):
        return self.net.z_encoder

    def optimizer(self, params):
        import torch

        # scVI's own optimiser settings (scvi-tools TrainingPlan defaults)
        return torch.optim.Adam(params, lr=self.config.lr, eps=0.01, weight_decay=self.config.weight_decay)

    def inputs(self, counts: sp.spmatrix, *, source: str = "counts"):
        """Dense float32 raw counts; non-integer values are refused (or rounded with ``round_counts``)."""
        import torch

        counts = sp.csr_matrix(counts)
        data = counts.data
        if data.size and np.any(data != np.round(data)):
            if not self.config.round_counts:
                raise ValueError(f"{source}: scVI needs integer counts but the data holds non-integer values "
                                 f"(e.g. {data[data != np.round(data)][0]:g}); set round_counts: true in the scvi "
                                 "family of the spec to round them")
            counts = counts.copy()
            counts.data = np.round(counts.data)
        return torch.from_numpy(counts.toarray().astype(np.float32))

    def encode(self, x):
        import torch

        return self.net.inference(x, torch.zeros((x.shape[0], 1), device=x.device))["qz"].loc

    def loss(self, rows, counts, *, gen, device, step):
        import torch
        from scvi import REGISTRY_KEYS

        x = torch.from_numpy(counts.toarray().astype(np.float32)).to(device)   # corpus counts, as stored
        x = x[x.sum(1) > 0]                          # scVI's log-library needs at least one count
        if len(x) < 2:
            return None
        warm = self.config.kl_warmup_steps
        kl_weight = 1.0 if step is None or not warm else min(1.0, step / warm)
        zeros = torch.zeros((x.shape[0], 1), device=x.device)
        tensors = {REGISTRY_KEYS.X_KEY: x, REGISTRY_KEYS.BATCH_KEY: zeros, REGISTRY_KEYS.LABELS_KEY: zeros}
        return self.net(tensors, loss_kwargs={"kl_weight": kl_weight})[2].loss


FAMILY = Family("scvi", SCVIConfig, SCVIModel)
