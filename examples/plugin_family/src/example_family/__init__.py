"""A denoising autoencoder as a cellplateau model family, plugged in from outside the package."""

from typing import Literal

from pydantic import Field

from cellplateau.models.base import Family
from cellplateau.models.torch_family import TorchConfig, TorchFamily


class DAEConfig(TorchConfig):
    """Denoising autoencoder: reconstruct log1p(CP10k) expression from a copy with genes dropped out."""

    name: Literal["dae"] = "dae"
    presets = {"xs": {"hidden": 64, "latent": 8}, "s": {"hidden": 256, "latent": 32}}
    hidden: int = Field(128, ge=2, description="hidden width")
    latent: int = Field(16, ge=2, description="embedding dimensions")
    dropout: float = Field(0.3, gt=0, lt=1, description="share of genes zeroed in the input")


class DAE(TorchFamily):
    name = "dae"
    config: DAEConfig

    @property
    def dim(self) -> int:
        return self.config.latent

    def build(self, n_genes: int):
        import torch.nn as nn

        c = self.config
        self.encoder = nn.Sequential(nn.Linear(n_genes, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.latent))
        self.decoder = nn.Sequential(nn.Linear(c.latent, c.hidden), nn.ReLU(), nn.Linear(c.hidden, n_genes))
        return nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder})

    def encode(self, x):
        return self.encoder(x)

    def loss(self, rows, counts, *, gen, device, step):
        import torch

        x = self.inputs(counts).to(device)
        keep = (torch.rand(x.shape, generator=gen) >= self.config.dropout).to(device)
        return ((self.decoder(self.encoder(x * keep)) - x) ** 2).mean()


FAMILY = Family("dae", DAEConfig, DAE)
