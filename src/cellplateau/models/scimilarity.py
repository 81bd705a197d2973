"""SCimilarity-style family: a metric learner on log-normalised expression.

MLP encoder (reference 1024 x 3 -> 128) with an L2-normalised output and an MLP decoder. Loss =
``triplet_weight`` x triplet + (1 - ``triplet_weight``) x reconstruction (MSE on log1p(CP10k)),
reference 0.001 / 0.999. Triplets are mined inside each batch among cells with cell-type labels:
for each anchor, a positive of the same type (preferably from another dataset) and a semi-hard
negative (farther than the positive but within the margin; the hardest negative when none is).
It needs labels: a corpus without the label column fails at plan time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cellplateau.corpus.store import CorpusStore
from cellplateau.models._budget import Budget
from cellplateau.models._compute import dense_training_flops
from cellplateau.models._layers import (
    embed_log_normalised,
    load_checkpoint,
    log_normalised_input,
    log_normalised_tensor,
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
    "xs": ([128, 128], 32), "s": ([256, 256], 64), "m": ([512, 512, 512], 128), "l": ([1024] * 3, 128)}.items()}
UNLABELLED = {"unknown", "nan", "", "none"}


class SCimilarityConfig(BaseModel):
    """Metric learning: triplet (label-aware) + reconstruction loss."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["scimilarity"] = "scimilarity"
    size: Literal["xs", "s", "m", "l"] | None = Field(None, description="preset; explicit fields override it")
    hidden: list[int] = Field([256, 256], min_length=1, description="encoder widths (reference 1024 x 3)")
    latent: int = Field(64, ge=2, description="embedding dimensions (reference 128)")
    label_key: str = Field("cell_type", description="obs column with the cell-type labels used for triplets")
    triplet_weight: float = Field(0.001, ge=0, le=1)
    margin: float = Field(0.05, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    lr: float = Field(5e-4, gt=0)
    batch_size: int = Field(256, ge=4)
    budget: Budget = Budget(policy="fixed_steps", steps=300)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data):
        return apply_size_preset(data, SIZES)


def check_labels(store: CorpusStore, label_key: str) -> None:
    """Fail early (plan time) when the corpus has no usable labels for triplet mining."""
    if label_key not in store.obs.columns:
        raise ValueError(f"family 'scimilarity' needs cell-type labels: corpus {store.path} has no obs column "
                         f"{label_key!r} (label_key); columns are {list(store.obs.columns)}")
    labels = store.obs[label_key].astype(str).str.lower()
    if (~labels.isin(UNLABELLED)).sum() < 2 or labels[~labels.isin(UNLABELLED)].nunique() < 2:
        raise ValueError(f"family 'scimilarity' needs cell-type labels: column {label_key!r} of corpus "
                         f"{store.path} has fewer than two labelled types")


def mine_triplets(emb, labels: np.ndarray, groups: np.ndarray, margin: float):
    """Indices ``(anchor, positive, negative)`` mined within a batch (torch tensors in, numpy out).

    Positive: same label, preferring a different ``groups`` value (dataset); the farthest such cell.
    Negative: semi-hard (d_ap < d_an < d_ap + margin), else the hardest (closest) other-label cell.
    """
    import torch

    with torch.no_grad():
        d = torch.cdist(emb, emb).numpy()
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    valid = labels != ""
    other_group = groups[:, None] != groups[None, :]
    anchors, pos, neg = [], [], []
    for a in np.flatnonzero(valid & same.any(1)):
        cand = np.flatnonzero(same[a] & other_group[a]) if (same[a] & other_group[a]).any() else np.flatnonzero(same[a])
        p = cand[np.argmax(d[a, cand])]
        negs = np.flatnonzero(~same[a] & valid & (np.arange(len(labels)) != a))
        if len(negs) == 0:
            continue
        semi = negs[(d[a, negs] > d[a, p]) & (d[a, negs] < d[a, p] + margin)]
        n = semi[np.argmin(d[a, semi])] if len(semi) else negs[np.argmin(d[a, negs])]
        anchors.append(a)
        pos.append(p)
        neg.append(n)
    return np.asarray(anchors, int), np.asarray(pos, int), np.asarray(neg, int)


class SCimilarityModel(ModelFamily):
    name = "scimilarity"
    config: SCimilarityConfig

    def _build(self, n_genes: int) -> None:
        import torch.nn as nn

        c = self.config
        self.n_genes = n_genes
        self.encoder = mlp([n_genes, *c.hidden, c.latent], c.dropout, last_plain=True)
        self.decoder = mlp([c.latent, *reversed(c.hidden), n_genes], c.dropout, last_plain=True)
        self.net = nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder})

    def init_untrained(self, n_genes: int, *, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self._build(n_genes)
        self.net.eval()

    def _encode(self, x):
        import torch.nn.functional as F

        return F.normalize(self.encoder(x), dim=-1)

    def _loss(self, x, labels, groups, x_in=None):
        """``x_in``: the same batch as the first layer's input (sparse on CPU), ``x`` dense."""
        import torch.nn.functional as F

        z = self._encode(x if x_in is None else x_in)
        recon = F.mse_loss(self.decoder(z), x)
        a, p, n = mine_triplets(z.detach(), labels, groups, self.config.margin)
        trip = F.triplet_margin_loss(z[a], z[p], z[n], margin=self.config.margin) if len(a) else z.sum() * 0
        w = self.config.triplet_weight
        return w * trip + (1 - w) * recon, float(trip.detach()), len(a)

    def fit(self, data: TrainingData, *, seed: int, device: str = "cpu") -> FitInfo:
        import torch

        c = self.config
        check_labels(data.store, c.label_key)
        obs = data.store.obs
        labels_all = obs[c.label_key].astype(str).to_numpy()
        labels_all = np.where(np.isin(np.char.lower(labels_all.astype(str)), list(UNLABELLED)), "", labels_all)
        groups_all = obs["dataset"].astype(str).to_numpy() if "dataset" in obs.columns else np.zeros(len(obs), str)
        torch.manual_seed(seed)
        self._build(data.store.n_genes)
        n_trip = {"triplets": 0}

        def loss_fn(rows, counts):
            x_in, x = log_normalised_input(counts, device)
            loss, _, k = self._loss(x, labels_all[rows], groups_all[rows], x_in)
            n_trip["triplets"] += k
            return loss

        def val_fn():
            if len(data.val) == 0:
                return float("nan")
            self.net.eval()
            rows = data.val[:4096]
            dev = next(self.net.parameters()).device
            with torch.no_grad():
                x_in, x = log_normalised_input(data.store.read_rows(rows), dev.type)
                return float(self._loss(x, labels_all[rows], groups_all[rows], x_in)[0])

        opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, weight_decay=1e-4)
        info = train(self.net, data, seed=seed, device=device, batch_size=c.batch_size, budget=c.budget,
                     optimizer=opt, loss_fn=loss_fn, val_fn=val_fn)
        info.flops = dense_training_flops(info.n_params, info.cells_seen)
        info.budget["triplets_per_step"] = n_trip["triplets"] / max(info.steps, 1)
        self.fit_info = info
        return info

    def embed(self, counts: sp.spmatrix, *, batch_size: int = 4096, source: str = "counts") -> np.ndarray:
        self.net.eval()
        return embed_log_normalised(counts, self._encode, self.config.latent, batch_size=batch_size)

    def trainable_encoder(self) -> TrainableEncoder:
        return TrainableEncoder(self.encoder, log_normalised_tensor, self._encode, self.config.latent)

    def _save_weights(self, folder: Path) -> None:
        save_checkpoint(folder, self.net, self.n_genes)

    def _load_weights(self, folder: Path) -> None:
        ckpt = load_checkpoint(folder)
        self._build(int(ckpt["n_genes"]))
        self.net.load_state_dict(ckpt["state_dict"])
        self.net.eval()


def _plan_check(config: SCimilarityConfig, store: CorpusStore) -> None:
    check_labels(store, config.label_key)


FAMILY = Family("scimilarity", SCimilarityConfig, SCimilarityModel, check=_plan_check)
