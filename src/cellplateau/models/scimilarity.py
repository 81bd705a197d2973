"""SCimilarity-style family: a metric learner on log-normalised expression.

MLP encoder (reference 1024 x 3 -> 128) with an L2-normalised output and an MLP decoder. Loss =
``triplet_weight`` x triplet + (1 - ``triplet_weight``) x reconstruction (MSE on log1p(CP10k)),
reference 0.001 / 0.999. Triplets are mined inside each batch among cells with cell-type labels:
for each anchor, a positive of the same type (preferably from another dataset) and a semi-hard
negative (farther than the positive but within the margin; the hardest negative when none is).
It needs labels: a corpus without the label column fails at plan time.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from cellplateau.corpus.labels import is_unlabelled
from cellplateau.corpus.store import CorpusStore
from cellplateau.models._autoencoder import MLPAutoencoder
from cellplateau.models._budget import Budget
from cellplateau.models._layers import log_normalised_input
from cellplateau.models._recon_loss import reconstruction_mse
from cellplateau.models.base import Family, FitInfo, TrainingData
from cellplateau.models.torch_family import TorchConfig

SIZES = {s: {"hidden": h, "latent": z} for s, (h, z) in {
    "xs": ([128, 128], 32), "s": ([256, 256], 64), "m": ([512, 512, 512], 128), "l": ([1024] * 3, 128)}.items()}


class SCimilarityConfig(TorchConfig):
    """Metric learning: triplet (label-aware) + reconstruction loss."""

    presets = SIZES
    name: Literal["scimilarity"] = "scimilarity"
    hidden: list[int] = Field([256, 256], min_length=1, description="encoder widths (reference 1024 x 3)")
    latent: int = Field(64, ge=2, description="embedding dimensions (reference 128)")
    label_key: str = Field("cell_type", description="obs column with the cell-type labels used for triplets")
    triplet_weight: float = Field(0.001, ge=0, le=1)
    margin: float = Field(0.05, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    lr: float = Field(5e-4, gt=0)
    batch_size: int = Field(256, ge=4)
    budget: Budget = Budget(policy="fixed_steps", steps=300)


def check_labels(store: CorpusStore, label_key: str) -> None:
    """Fail early (plan time) when the corpus has no usable labels for triplet mining."""
    if label_key not in store.obs.columns:
        raise ValueError(f"family 'scimilarity' needs cell-type labels: corpus {store.path} has no obs column "
                         f"{label_key!r} (label_key); columns are {list(store.obs.columns)}")
    col = store.obs[label_key]
    labelled = col[~is_unlabelled(col)].astype(str)
    if len(labelled) < 2 or labelled.nunique() < 2:
        raise ValueError(f"family 'scimilarity' needs cell-type labels: column {label_key!r} of corpus "
                         f"{store.path} has fewer than two labelled types")


def mine_triplets(emb, labels: np.ndarray, groups: np.ndarray, margin: float):
    """Indices ``(anchor, positive, negative)`` mined within a batch (torch tensors in, numpy out).

    Positive: same label, preferring a different ``groups`` value (dataset); the farthest such cell.
    Negative: semi-hard (d_ap < d_an < d_ap + margin), else the hardest (closest) other-label cell.
    Whole-batch array operations (11 ms of Python loop per 256-cell step before, 2.5 ms now); ties go to
    the lowest index, as a per-anchor loop with ``argmax``/``argmin`` gives (tests/models/test_scimilarity.py).
    """
    import torch

    with torch.no_grad():
        d = torch.cdist(emb, emb).numpy()
    n = len(labels)
    not_self = ~np.eye(n, dtype=bool)
    valid = labels != ""
    same = (labels[:, None] == labels[None, :]) & not_self
    other = same & (groups[:, None] != groups[None, :])
    cand = np.where(other.any(1)[:, None], other, same)
    pos = np.argmax(np.where(cand, d, -np.inf), 1)
    negs = ~same & valid[None, :] & not_self
    d_ap = d[np.arange(n), pos][:, None]
    semi = negs & (d > d_ap) & (d < d_ap + margin)
    neg = np.where(semi.any(1), np.argmin(np.where(semi, d, np.inf), 1), np.argmin(np.where(negs, d, np.inf), 1))
    anchors = np.flatnonzero(valid & same.any(1) & negs.any(1))
    return anchors.astype(int), pos[anchors].astype(int), neg[anchors].astype(int)


class SCimilarityModel(MLPAutoencoder):
    name = "scimilarity"
    config: SCimilarityConfig

    def encode(self, x):
        import torch.nn.functional as F

        return F.normalize(self.encoder(x), dim=-1)

    def prepare(self, data: TrainingData, *, seed: int) -> None:
        """Cell-type labels (unlabelled cells as "") and datasets of every corpus row, for triplet mining."""
        c = self.config
        check_labels(data.store, c.label_key)
        obs = data.store.obs
        self.labels = np.where(is_unlabelled(obs[c.label_key]), "", obs[c.label_key].astype(str).to_numpy())
        self.groups = obs["dataset"].astype(str).to_numpy() if "dataset" in obs.columns else np.zeros(len(obs), str)
        self.triplets = 0

    def loss(self, rows, counts, *, gen, device, step):
        import torch.nn.functional as F

        x = log_normalised_input(counts, device)      # the input and the target (sparse on CPU)
        z = self.encode(x)
        recon = reconstruction_mse(self.decoder(z), x)
        a, p, n = mine_triplets(z.detach().float().cpu(), self.labels[rows], self.groups[rows], self.config.margin)
        trip = F.triplet_margin_loss(z[a], z[p], z[n], margin=self.config.margin) if len(a) else z.sum() * 0
        if step is not None:
            self.triplets += len(a)
        w = self.config.triplet_weight
        return w * trip + (1 - w) * recon

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        info = super().fit(data, seed=seed, device=device)
        info.budget["triplets_per_step"] = self.triplets / max(info.steps, 1)
        return info


def _plan_check(config: SCimilarityConfig, store: CorpusStore) -> None:
    check_labels(store, config.label_key)


FAMILY = Family("scimilarity", SCimilarityConfig, SCimilarityModel, check=_plan_check)
