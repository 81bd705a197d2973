"""Perturbation response prediction in a held-out context (cell line or cell type).

For each held-out context ``h`` (by default every context in turn), nothing from ``h`` but its control
cells' embeddings is used to predict, and none of its cells are fitted on:

* the target space is log1p(CP10k) of ``n_genes`` HVGs chosen on the training contexts' cells, the
  same for every family (the embedding only enters as the head's input);
* a head (MLP) maps ``[standardised embedding of a control cell, multi-hot perturbation targets]`` to
  the change from that control cell's expression to the expression of a cell of that perturbation in
  the same context; it is fitted on the training contexts, pairing each cell with a random control of
  its own context (fresh pairs every epoch), controls included as the empty perturbation;
* the prediction for perturbation ``p`` in ``h`` is the mean over ``h``'s control cells of their
  expression plus the predicted change.

Metrics, per perturbation of ``h`` whose targets were all seen in training (``n_perturbations`` of
them), then averaged over perturbations and held-out contexts: Pearson correlation of predicted vs
observed mean change (perturbed minus control mean) over all genes (``pearson_delta``, the headline)
and over the ``n_top_de`` genes with the largest observed change (``pearson_delta_top_de``), MSE of the
predicted vs observed perturbed mean (``mse``, ``mse_top_de``), and the share of top DE genes whose
direction is right (``direction_top_de``). Baselines: ``no_change`` (the control mean: its change is
zero, so its correlations are undefined and its directions all wrong) and ``train_mean_change`` (the
mean change of the perturbation across the training contexts; combinations never seen together get
the sum of their single-target changes). Neither sees a perturbed cell of ``h``: they are the floor of the
value verdict. Its ceiling, ``split_half_replicate``, is not a predictor but the measurement's own
reproducibility: each perturbation's held-out cells split into two seeded halves, one half's mean change scored
against the other's (what a perfect model could reach given the cells' noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cellplateau._hashing import derive_seed
from cellplateau.evaluation.base import Task, require
from cellplateau.evaluation.datasets import EvalDataset


class PerturbationConfig(BaseModel):
    """Perturbation response in a held-out context."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["perturbation_response"] = "perturbation_response"
    held_out: list[str] | dict[str, str] | None = Field(
        None, description="contexts held out one at a time (default: every context with an evaluable "
        "perturbation), or one held-out context per perturbation as in the reference, e.g. {Dinaciclib: "
        "NCI-H2030, TAK-901: PANC-1}: each perturbation is then evaluated only in its context (perturbations "
        "of the mapping absent from a dataset are skipped)")
    n_genes: int = Field(1000, ge=10, description="HVGs (chosen on the training contexts) of the target space")
    n_top_de: int = Field(20, ge=2, description="top differentially expressed genes of the *_top_de metrics")
    min_cells: int = Field(10, ge=1, description="perturbed cells a perturbation needs in a context")
    hidden: int = Field(256, ge=8, description="hidden units of the response head")
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(256, ge=2)
    lr: float = Field(1e-3, gt=0)


def targets_of(perturbation: str, control: str) -> tuple[str, ...]:
    """Perturbed genes of a perturbation label: ``'A+B'`` -> ``('A', 'B')``; the control -> ``()``."""
    if perturbation == control:
        return ()
    return tuple(sorted(t.strip() for t in perturbation.split("+") if t.strip() and t.strip() != control))


@dataclass(frozen=True)
class HeldOutSplit:
    """One held-out context: the training rows (every cell of the other contexts), the held-out
    context's control rows (the prediction inputs) and its perturbed rows per perturbation (truth)."""

    context: str
    train: np.ndarray
    controls: np.ndarray
    perturbed: dict[str, np.ndarray]


def held_out_splits(perturbations: np.ndarray, contexts: np.ndarray, control: str, config: PerturbationConfig
                    ) -> list[HeldOutSplit]:
    """The held-out splits and, in each, the perturbations that can be evaluated."""
    mapping = config.held_out if isinstance(config.held_out, dict) else None
    if mapping is not None:
        present = {p: c for p, c in mapping.items() if np.any(perturbations == p)}
        if not present:
            raise ValueError(f"none of the held_out perturbations {sorted(mapping)} is in the dataset; "
                             f"perturbations are {sorted(set(perturbations))[:20]}")
        names = sorted(set(present.values()))
    else:
        names = sorted(set(contexts)) if config.held_out is None else list(config.held_out)
    unknown = sorted(set(names) - set(contexts))
    if unknown:
        raise ValueError(f"held_out contexts {unknown} are not in the dataset; contexts are {sorted(set(contexts))}")
    out = []
    for h in names:
        train = np.flatnonzero(contexts != h)
        seen = {t for p in np.unique(perturbations[train]) for t in targets_of(p, control)}
        in_h = contexts == h
        controls = np.flatnonzero(in_h & (perturbations == control))
        perturbed = {}
        for p in np.unique(perturbations[in_h]):
            rows = np.flatnonzero(in_h & (perturbations == p))
            tg = targets_of(p, control)
            if mapping is not None and present.get(p) != h:
                continue
            if tg and set(tg) <= seen and len(rows) >= config.min_cells:
                perturbed[p] = rows
        if perturbed and len(controls) >= 2 and np.any(perturbations[train] == control):
            out.append(HeldOutSplit(h, train, controls, perturbed))
    if not out:
        raise ValueError("no context has a perturbation whose targets appear in the other contexts, with "
                         f"at least {config.min_cells} cells and control cells")
    return out


def expression(ds: EvalDataset, genes: np.ndarray) -> np.ndarray:
    from cellplateau.corpus.features import log1p_cp10k

    return log1p_cp10k(ds.own_counts, genes=genes, dense=True)


def target_genes(ds: EvalDataset, split: HeldOutSplit, n_genes: int) -> np.ndarray:
    """HVGs of the target space, chosen on the training contexts only."""
    from cellplateau.corpus.features import select_hvg

    return select_hvg(ds.own_counts[split.train], min(n_genes, ds.own_counts.shape[1]))


def response_metrics(pred_mean: np.ndarray, obs_mean: np.ndarray, ctrl_mean: np.ndarray, n_top: int
                     ) -> dict[str, float]:
    """Scores of one perturbation's predicted mean expression against the observed one."""
    d_pred, d_obs = pred_mean - ctrl_mean, obs_mean - ctrl_mean
    top = np.argsort(-np.abs(d_obs), kind="stable")[:n_top]

    def pearson(a, b):
        if np.std(a) == 0 or np.std(b) == 0:
            return float("nan")
        return float(np.corrcoef(a, b)[0, 1])

    return {
        "pearson_delta": pearson(d_pred, d_obs),
        "pearson_delta_top_de": pearson(d_pred[top], d_obs[top]),
        "mse": float(np.mean((pred_mean - obs_mean) ** 2)),
        "mse_top_de": float(np.mean((pred_mean[top] - obs_mean[top]) ** 2)),
        "direction_top_de": float(np.mean(np.sign(d_pred[top]) == np.sign(d_obs[top]))),
    }


def _multi_hot(perts: np.ndarray, vocab: dict[str, int], control: str) -> np.ndarray:
    out = np.zeros((len(perts), len(vocab)), dtype=np.float32)
    for i, p in enumerate(perts):
        for t in targets_of(p, control):
            if t in vocab:
                out[i, vocab[t]] = 1.0
    return out


def _pairs(ctx_tr: np.ndarray, is_ctrl: np.ndarray, contexts, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Every cell of ``contexts`` paired with a random control of its own context (positions), shuffled."""
    cells, partner = [], []
    for c in contexts:
        members = np.flatnonzero(ctx_tr == c)
        ctrls = members[is_ctrl[members]]
        if len(ctrls):
            cells.append(members)
            partner.append(ctrls[rng.integers(0, len(ctrls), len(members))])
    if not cells:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cells_a, partner_a = np.concatenate(cells), np.concatenate(partner)
    order = rng.permutation(len(cells_a))
    return cells_a[order], partner_a[order]


def _train_head(Zt, Pt, Yt, ctx_tr, is_ctrl, contexts, config: PerturbationConfig, seed: int, *,
                epochs: int, val_contexts=()):
    """Fit the response head on ``contexts``; with ``val_contexts``, also return after each epoch the MSE of
    the predicted vs observed pseudo-bulk change of every perturbation in ``val_contexts``."""
    import torch
    import torch.nn as nn

    from cellplateau.models._optim import adamw

    torch.manual_seed(seed % (2**31))
    rng = np.random.default_rng(seed)
    head = nn.Sequential(nn.Linear(Zt.shape[1] + Pt.shape[1], config.hidden), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Linear(config.hidden, Yt.shape[1]))
    opt = adamw(head.parameters(), lr=config.lr, weight_decay=1e-4)
    # validation: pseudo-bulk change of every perturbation of the validation contexts, predicted from
    # their controls (the quantity the metrics score)
    val_sets = []
    for c in val_contexts:
        members = np.flatnonzero(ctx_tr == c)
        ctrls = members[is_ctrl[members]]
        if not len(ctrls):
            continue
        for row in np.unique(Pt[members[~is_ctrl[members]]].numpy(), axis=0):
            cells = members[~is_ctrl[members] & (Pt[members].numpy() == row).all(1)]
            if len(cells) >= config.min_cells:
                delta = Yt[cells].mean(0) - Yt[ctrls].mean(0)
                val_sets.append((ctrls, torch.from_numpy(row).expand(len(ctrls), -1), delta))
    history = []
    for _ in range(epochs):
        head.train()
        cells, partner = _pairs(ctx_tr, is_ctrl, contexts, rng)
        for s in range(0, len(cells), config.batch_size):
            c_idx, p_idx = cells[s : s + config.batch_size], partner[s : s + config.batch_size]
            loss = ((head(torch.cat([Zt[p_idx], Pt[c_idx]], 1)) - (Yt[c_idx] - Yt[p_idx])) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if val_sets:
            head.eval()
            with torch.no_grad():
                history.append(float(np.mean([float(((head(torch.cat([Zt[ctrls], onehot], 1)).mean(0) - delta) ** 2)
                                                     .mean()) for ctrls, onehot, delta in val_sets])))
    head.eval()
    return head, history


def control_mean(ds: EvalDataset, split: HeldOutSplit, genes: np.ndarray) -> np.ndarray:
    """Mean log1p(CP10k) expression of the held-out context's control cells (the prediction's starting point)."""
    from cellplateau.corpus.features import log1p_cp10k

    return log1p_cp10k(ds.own_counts[split.controls], genes=genes, dense=True).mean(0).astype(np.float64)


def predict_held_out(embedding: np.ndarray, ds: EvalDataset, split: HeldOutSplit, genes: np.ndarray,
                     config: PerturbationConfig, seed: int, ctrl_mean: np.ndarray | None = None
                     ) -> dict[str, np.ndarray]:
    """Predicted mean expression (over ``genes``) of every evaluable perturbation of the held-out context.

    Reads only the training rows and the held-out control cells (their embeddings and expression). The
    number of epochs is chosen on one training context held out in turn (the one with the most cells),
    then the head is refitted on every training context for that many epochs.
    """
    import torch

    from cellplateau.corpus.features import log1p_cp10k

    perts = require(ds, "perturbations", config.name)
    ctx = require(ds, "contexts", config.name)
    control = ds.control_value
    tr = split.train
    Z = np.asarray(embedding, dtype=np.float32)
    mu, sd = Z[tr].mean(0), Z[tr].std(0) + 1e-6
    Y = log1p_cp10k(ds.own_counts[tr], genes=genes, dense=True)
    vocab = {t: i for i, t in enumerate(sorted({t for p in np.unique(perts[tr]) for t in targets_of(p, control)}))}
    Zt = torch.from_numpy((Z[tr] - mu) / sd)
    Pt, Yt = torch.from_numpy(_multi_hot(perts[tr], vocab, control)), torch.from_numpy(Y)
    ctx_tr, is_ctrl = ctx[tr], perts[tr] == control
    contexts = list(np.unique(ctx_tr))
    epochs = config.epochs
    if len(contexts) >= 2:
        names, sizes = np.unique(ctx_tr, return_counts=True)
        val = names[np.argmax(sizes)]
        _, history = _train_head(Zt, Pt, Yt, ctx_tr, is_ctrl, [c for c in contexts if c != val], config, seed,
                                 epochs=config.epochs, val_contexts=[val])
        if history:
            epochs = int(np.argmin(history)) + 1
    head, _ = _train_head(Zt, Pt, Yt, ctx_tr, is_ctrl, contexts, config, seed, epochs=epochs)
    Zc = torch.from_numpy((Z[split.controls] - mu) / sd)
    ctrl_mean = control_mean(ds, split, genes) if ctrl_mean is None else ctrl_mean
    out = {}
    with torch.no_grad():
        for p in split.perturbed:
            onehot = torch.from_numpy(_multi_hot(np.array([p]), vocab, control)).expand(len(Zc), -1)
            out[p] = ctrl_mean + head(torch.cat([Zc, onehot], 1)).mean(0).numpy().astype(np.float64)
    return out


def _observed(ds: EvalDataset, split: HeldOutSplit, genes: np.ndarray):
    from cellplateau.corpus.features import log1p_cp10k

    ctrl = control_mean(ds, split, genes)
    obs = {p: log1p_cp10k(ds.own_counts[rows], genes=genes, dense=True).mean(0).astype(np.float64)
           for p, rows in split.perturbed.items()}
    return ctrl, obs


def _score(predicted: dict[str, np.ndarray], ctrl: np.ndarray, observed: dict[str, np.ndarray], n_top: int
           ) -> list[dict[str, float]]:
    return [response_metrics(predicted[p], observed[p], ctrl, n_top) for p in observed]


def _average(per_context: list[list[dict[str, float]]]) -> dict[str, float]:
    means = []
    for rows in per_context:
        keys = rows[0].keys()
        means.append({k: float(np.nanmean([r[k] for r in rows])) if any(np.isfinite(r[k]) for r in rows)
                      else float("nan") for k in keys})
    out = {k: float(np.nanmean([m[k] for m in means])) if any(np.isfinite(m[k]) for m in means) else float("nan")
           for k in means[0]}
    out["n_perturbations"] = float(sum(len(rows) for rows in per_context))
    out["n_held_out_contexts"] = float(len(per_context))
    return out


def _splits(ds: EvalDataset, config: PerturbationConfig) -> list[HeldOutSplit]:
    return held_out_splits(require(ds, "perturbations", config.name), require(ds, "contexts", config.name),
                           ds.control_value, config)


def evaluate(embedding: np.ndarray, ds: EvalDataset, config: PerturbationConfig, seed: int,
             model=None) -> dict[str, float]:
    per_context = []
    for split in _splits(ds, config):
        genes = target_genes(ds, split, config.n_genes)
        ctrl, obs = _observed(ds, split, genes)
        pred = predict_held_out(embedding, ds, split, genes, config, derive_seed(seed, "pert", split.context), ctrl)
        per_context.append(_score(pred, ctrl, obs, config.n_top_de))
    return _average(per_context)


def mean_change_prediction(ds: EvalDataset, split: HeldOutSplit, genes: np.ndarray, config: PerturbationConfig,
                           ctrl_mean: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per evaluable perturbation, the held-out control mean plus the perturbation's mean change across
    training contexts (single-target changes summed for unseen combinations). Reads training rows only,
    plus the held-out controls' mean as the starting point."""
    from cellplateau.corpus.features import log1p_cp10k

    perts, ctx, control = ds.perturbations, ds.contexts, ds.control_value
    tr = split.train
    X = log1p_cp10k(ds.own_counts[tr], genes=genes, dense=True).astype(np.float64)
    changes: dict[str, list[np.ndarray]] = {}
    for c in np.unique(ctx[tr]):
        in_c = ctx[tr] == c
        ctrl = in_c & (perts[tr] == control)
        if not ctrl.any():
            continue
        base = X[ctrl].mean(0)
        for p in np.unique(perts[tr][in_c]):
            sel = in_c & (perts[tr] == p)
            if p != control and sel.sum() >= config.min_cells:
                changes.setdefault(p, []).append(X[sel].mean(0) - base)
    mean_change = {p: np.mean(v, 0) for p, v in changes.items()}
    ctrl_mean = control_mean(ds, split, genes) if ctrl_mean is None else ctrl_mean
    out = {}
    for p in split.perturbed:
        if p in mean_change:
            delta = mean_change[p]
        else:
            parts = [mean_change.get(t) for t in targets_of(p, control)]
            delta = np.sum([d for d in parts if d is not None], 0) if any(d is not None for d in parts) else 0.0
        out[p] = ctrl_mean + delta
    return out


def split_half_replicate(ds: EvalDataset, split: HeldOutSplit, genes: np.ndarray, ctrl: np.ndarray, n_top: int, *,
                         seed: int) -> list[dict[str, float]]:
    """Each perturbation of the held-out context scored as one seeded half of its cells predicting the other
    half's mean (perturbations with fewer than 2 cells are left out)."""
    from cellplateau.corpus.features import log1p_cp10k

    rng = np.random.default_rng(derive_seed(seed, "split_half", split.context))
    out = []
    for p, rows in split.perturbed.items():
        rows = np.asarray(rows)
        if len(rows) < 2:
            continue
        order = rng.permutation(len(rows))
        a, b = np.sort(rows[order[: len(rows) // 2]]), np.sort(rows[order[len(rows) // 2:]])
        half = [log1p_cp10k(ds.own_counts[r], genes=genes, dense=True).mean(0).astype(np.float64) for r in (a, b)]
        out.append(response_metrics(half[0], half[1], ctrl, n_top))
    return out


def baselines(ds: EvalDataset, config: PerturbationConfig, seed: int) -> dict[str, dict[str, float]]:
    no_change, mean_change, halves = [], [], []
    for split in _splits(ds, config):
        genes = target_genes(ds, split, config.n_genes)
        ctrl, obs = _observed(ds, split, genes)
        no_change.append(_score({p: ctrl for p in obs}, ctrl, obs, config.n_top_de))
        mean_change.append(_score(mean_change_prediction(ds, split, genes, config, ctrl), ctrl, obs, config.n_top_de))
        replicate = split_half_replicate(ds, split, genes, ctrl, config.n_top_de, seed=seed)
        if replicate:
            halves.append(replicate)
    out = {"no_change": _average(no_change), "train_mean_change": _average(mean_change)}
    if halves:
        out["split_half_replicate"] = _average(halves)
    return out


TASK = Task("perturbation_response", PerturbationConfig, evaluate, baselines,
            requires=("perturbations", "contexts"), headline="pearson_delta", lower_is_better=("mse", "mse_top_de"),
            replicate_baselines=("split_half_replicate",), floor_baselines=("no_change", "train_mean_change"))
