"""The MLP autoencoder the MAE and SCimilarity families share: an encoder from the vocabulary to ``latent``
dimensions and a mirrored decoder (:func:`cellplateau.models._layers.mlp`, whose first layer also takes sparse
batches on CPU). A family adds its loss and, if it
needs one, its own ``encode`` (SCimilarity L2-normalises)."""

from __future__ import annotations

from cellplateau.models._layers import log_normalised_input, mlp
from cellplateau.models.torch_family import TorchFamily


class MLPAutoencoder(TorchFamily):
    """Config fields read: ``hidden`` (encoder widths), ``latent``, ``dropout``."""

    @property
    def dim(self) -> int:
        return self.config.latent

    def build(self, n_genes: int):
        import torch.nn as nn

        c = self.config
        self.encoder = mlp([n_genes, *c.hidden, c.latent], c.dropout)
        self.decoder = mlp([c.latent, *reversed(c.hidden), n_genes], c.dropout)
        return nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder})

    def encode(self, x):
        return self.encoder(x)

    def embed_input(self, counts, *, source: str = "counts"):
        """log1p(CP10k) kept sparse on CPU: the first layer's sparse path (models/_layers.py)."""
        return log_normalised_input(counts, "cpu")

    def encoder_module(self):
        return self.encoder
