"""Fine-tuned cell-type classification.

Each of ``n_splits`` seeded, stratified 80/10/10 splits (train / validation / test) is used twice:

* **frozen**: an MLP head (one hidden layer, dropout) on the frozen embedding, for every family;
  metrics ``micro_f1``, ``macro_f1``, ``accuracy`` and per-class ``f1:<class>`` (the headline is
  ``micro_f1``).
* **full**: the encoder and a fresh head trained together (neural families only; the encoder at a
  ``encoder_lr_ratio`` of the head's learning rate); metrics ``full_micro_f1``, ``full_macro_f1``, ``full_accuracy``.

Both stop early on the validation loss (patience in epochs) and restore their best weights; the test
part is scored once. Baseline: L1-regularised logistic regression on log1p(CP10k) HVGs, with HVGs and
feature scaling fitted on the training part and applied unchanged to the test part, plus the majority
class.
"""

from __future__ import annotations

import copy
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cellplateau._hashing import derive_seed
from cellplateau.evaluation.base import Task, require
from cellplateau.evaluation.datasets import EvalDataset
from cellplateau.evaluation.knn_classification import classification_scores, majority_scores, mean_over_splits
from cellplateau.evaluation.splits import stratified_three_way


class FineTuneConfig(BaseModel):
    """Fine-tuned classification: frozen encoder + MLP head, and full fine-tuning."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["finetune_classification"] = "finetune_classification"
    n_splits: int = Field(2, ge=1, description="repeated seeded 80/10/10 splits")
    full: bool = Field(True, description="also fine-tune the whole encoder (neural families)")
    hidden: int = Field(128, ge=4, description="hidden units of the MLP head")
    dropout: float = Field(0.1, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0, description="learning rate of the head")
    encoder_lr_ratio: float = Field(0.1, gt=0, le=1, description="encoder learning rate as a share of lr (full)")
    batch_size: int = Field(128, ge=2)
    max_epochs: int = Field(100, ge=1, description="epoch cap of the frozen head")
    full_max_epochs: int = Field(30, ge=1, description="epoch cap of full fine-tuning")
    patience: int = Field(5, ge=1, description="epochs without a better validation loss before stopping")
    per_class: bool = Field(True, description="also report per-class F1 of the frozen head")
    baseline_hvg: int = Field(2000, ge=10, description="HVGs of the logistic-regression baseline")
    baseline_c: float = Field(0.5, gt=0, description="inverse L1 strength of the logistic-regression baseline")


def _splits(labels: np.ndarray, config: FineTuneConfig, seed: int):
    return [stratified_three_way(labels, (0.8, 0.1, 0.1), seed=seed if i == 0 else derive_seed(seed, "ft", i))
            for i in range(config.n_splits)]


def _head(d_in: int, n_classes: int, config: FineTuneConfig):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(d_in, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
                         nn.Linear(config.hidden, n_classes))


def _fit(forward, params_groups, y_train, y_val, n_train: int, n_val: int, config: FineTuneConfig, *,
         max_epochs: int, seed: int, modules) -> None:
    """Minibatch Adam on cross-entropy; early stopping on validation loss; best weights restored.

    ``forward(part, positions)`` returns logits of cells ``positions`` of ``part`` ("train"/"val").
    """
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params_groups, fused=True)
    best, best_state, waited = float("inf"), None, 0
    yt = torch.from_numpy(y_train)
    yv = torch.from_numpy(y_val)
    for _ in range(max_epochs):
        for m in modules:
            m.train()
        order = torch.randperm(n_train, generator=gen)
        for s in range(0, n_train, config.batch_size):
            pos = order[s : s + config.batch_size]
            if len(pos) < 2:        # BatchNorm in the encoders needs two cells
                continue
            loss = F.cross_entropy(forward("train", pos.numpy()), yt[pos])
            opt.zero_grad()
            loss.backward()
            opt.step()
        for m in modules:
            m.eval()
        with torch.no_grad():
            val = float(F.cross_entropy(forward("val", np.arange(n_val)), yv))
        if val < best - 1e-4:
            best, waited = val, 0
            best_state = [copy.deepcopy(m.state_dict()) for m in modules]
        else:
            waited += 1
            if waited >= config.patience:
                break
    if best_state is not None:
        for m, state in zip(modules, best_state):
            m.load_state_dict(state)
    for m in modules:
        m.eval()


def frozen_head_predict(embedding: np.ndarray, y: np.ndarray, n_classes: int, train, val, test,
                        config: FineTuneConfig, seed: int) -> np.ndarray:
    """Class codes predicted for ``test`` by an MLP head trained on the frozen ``embedding``."""
    import torch

    torch.manual_seed(seed)
    Z = np.asarray(embedding, dtype=np.float32)
    mu, sd = Z[train].mean(0), Z[train].std(0) + 1e-6           # scaling fitted on the training part
    Z = torch.from_numpy((Z - mu) / sd)
    head = _head(Z.shape[1], n_classes, config)
    parts = {"train": Z[train], "val": Z[val]}

    def forward(part, pos):
        return head(parts[part][pos])

    _fit(forward, [{"params": head.parameters(), "lr": config.lr}], y[train], y[val], len(train), len(val),
         config, max_epochs=config.max_epochs, seed=seed, modules=[head])
    with torch.no_grad():
        return head(Z[test]).argmax(1).numpy()


def full_finetune_predict(model, counts, y: np.ndarray, n_classes: int, train, val, test,
                          config: FineTuneConfig, seed: int) -> np.ndarray | None:
    """Class codes predicted for ``test`` after fine-tuning a copy of the model's encoder with a head;
    ``None`` for families without a trainable encoder."""
    import torch

    model = copy.deepcopy(model)
    enc = model.trainable_encoder()
    if enc is None:
        return None
    torch.manual_seed(seed)
    head = _head(enc.dim, n_classes, config)
    rows = {"train": train, "val": val}

    def forward(part, pos):
        return head(enc.forward(enc.prepare(counts[rows[part][pos]])))

    groups = [{"params": head.parameters(), "lr": config.lr},
              {"params": enc.module.parameters(), "lr": config.lr * config.encoder_lr_ratio}]
    _fit(forward, groups, y[train], y[val], len(train), len(val), config, max_epochs=config.full_max_epochs,
         seed=seed, modules=[head, enc.module])
    out = []
    with torch.no_grad():
        for s in range(0, len(test), 512):
            out.append(head(enc.forward(enc.prepare(counts[test[s : s + 512]]))).argmax(1).numpy())
    return np.concatenate(out)


def evaluate(embedding: np.ndarray, ds: EvalDataset, config: FineTuneConfig, seed: int,
             model=None) -> dict[str, float]:
    labels = require(ds, "labels", config.name)
    classes, y = np.unique(labels, return_inverse=True)
    y = y.astype(np.int64)
    per_split = []
    for i, (train, val, test) in enumerate(_splits(labels, config, seed)):
        split_seed = derive_seed(seed, "ft-model", i)
        pred = frozen_head_predict(embedding, y, len(classes), train, val, test, config, split_seed)
        scores = classification_scores(labels[test], classes[pred], per_class=config.per_class)
        if config.full and model is not None:
            pred = full_finetune_predict(model, ds.counts, y, len(classes), train, val, test, config, split_seed)
            if pred is not None:
                full = classification_scores(labels[test], classes[pred], per_class=False)
                scores.update({f"full_{k}": v for k, v in full.items()})
        per_split.append(scores)
    return mean_over_splits(per_split)


def l1_logistic_predict(own_counts, labels: np.ndarray, train, test, *, n_hvg: int, c: float, seed: int
                        ) -> np.ndarray:
    """L1 logistic regression on log1p(CP10k) HVGs; HVGs and scaling fitted on ``train`` only."""
    from sklearn.linear_model import LogisticRegression

    from cellplateau.corpus.features import log1p_cp10k, select_hvg

    genes = select_hvg(own_counts[train], n_hvg)
    X_train = log1p_cp10k(own_counts[train], genes=genes, dense=True)
    X_test = log1p_cp10k(own_counts[test], genes=genes, dense=True)
    sd = X_train.std(0) + 1e-6
    clf = LogisticRegression(l1_ratio=1.0, solver="saga", C=c, max_iter=300, tol=1e-3,
                             random_state=seed % (2**31))
    clf.fit(X_train / sd, labels[train])
    return clf.predict(X_test / sd)


def baselines(ds: EvalDataset, config: FineTuneConfig, seed: int) -> dict[str, dict[str, float]]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    labels = require(ds, "labels", config.name)
    logistic, majority = [], []
    for i, (train, _, test) in enumerate(_splits(labels, config, seed)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pred = l1_logistic_predict(ds.own_counts, labels, train, test, n_hvg=config.baseline_hvg,
                                       c=config.baseline_c, seed=derive_seed(seed, "ft-model", i))
        logistic.append(classification_scores(labels[test], pred, per_class=config.per_class))
        majority.append(majority_scores(labels, train, test))
    return {"l1_logistic_hvg": mean_over_splits(logistic), "majority_class": mean_over_splits(majority)}


TASK = Task("finetune_classification", FineTuneConfig, evaluate, baselines, requires=("labels",),
            headline="micro_f1", ceiling_baselines=("l1_logistic_hvg",))
