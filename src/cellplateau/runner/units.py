"""Units of work. Each is keyed by a hash of its inputs and writes its artifact atomically.

A unit is *done* when its outputs match its done record (sizes and checksums, see ``runner/verify.py``);
re-running a finished study therefore does nothing, and a study killed mid-way, or with a damaged output,
recomputes only the units whose outputs are missing or damaged.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cellplateau._hashing import derive_seed, stable_hash
from cellplateau._io import atomic_dir, atomic_write_bytes, atomic_write_json
from cellplateau.runner.context import StudyContext
from cellplateau.spec import STAGE_NAMES

ALL_CELLS = "all"  # the strategy name of a fraction-1.0 subset: every strategy gives the whole corpus


@dataclass(frozen=True)
class Unit:
    kind: str
    key: str
    label: str
    params: dict = field(default_factory=dict, compare=False, hash=False)
    deps: tuple[str, ...] = ()

    def path(self, ctx: StudyContext):
        lay = ctx.layout
        return {"sketch_embedding": lay.sketch_embedding, "subset": lay.subset, "diversity": lay.diversity,
                "train": lay.model, "evaluate": lay.evaluation, "baseline": lay.evaluation}[self.kind](self.key)

    def done(self, ctx: StudyContext) -> bool:
        from cellplateau.runner.verify import unit_done

        return unit_done(ctx, self)


# ---------------------------------------------------------------- sketch embedding

def run_sketch_embedding(ctx: StudyContext, unit: Unit) -> None:
    from cellplateau.selection.sketch_embedding import compute_sketch_embedding

    p = unit.params
    with atomic_dir(unit.path(ctx)) as tmp:
        compute_sketch_embedding(ctx.store, tmp / "embedding.npy", n_pcs=p["n_pcs"], n_hvg=p["n_hvg"],
                                 pca_sample=p["pca_sample"], rng=np.random.default_rng(p["seed"]))
        atomic_write_json(tmp / "params.json", p)
        (tmp / "DONE").touch()


# ---------------------------------------------------------------- subsets

def composition(labels: np.ndarray, subset: np.ndarray, *, rare_below: float = 0.01) -> dict[str, float]:
    """How a subset covers the corpus's cell types.

    ``types_covered``: share of corpus types with at least one cell in the subset;
    ``rare_types_covered``: the same for types below ``rare_below`` of the corpus;
    ``rare_cell_share``: share of subset cells from rare types; ``type_entropy``: normalised Shannon
    entropy of the subset's type distribution (1 = perfectly balanced).
    """
    codes, inv = np.unique(labels, return_inverse=True)
    corpus_counts = np.bincount(inv, minlength=len(codes))
    sub_counts = np.bincount(inv[subset], minlength=len(codes))
    rare = corpus_counts / corpus_counts.sum() < rare_below
    p = sub_counts[sub_counts > 0] / sub_counts.sum()
    ent = float(-(p * np.log(p)).sum() / np.log(len(codes))) if len(codes) > 1 else 1.0
    return {
        "types_covered": float((sub_counts > 0).mean()),
        "rare_types_covered": float((sub_counts[rare] > 0).mean()) if rare.any() else float("nan"),
        "rare_cell_share": float(sub_counts[rare].sum() / sub_counts.sum()) if rare.any() else 0.0,
        "type_entropy": ent,
    }


def run_subset(ctx: StudyContext, unit: Unit) -> None:
    from cellplateau.runner.overlap import excluded_rows_path
    from cellplateau.selection import STRATEGIES
    from cellplateau.selection.base import SelectionContext
    from cellplateau.selection.subset import split_train_val, subset_size, write_subset

    p = unit.params
    store = ctx.store
    pool = None                  # every corpus row, unless evaluation cells leave the pool (on_overlap: exclude)
    if p.get("exclude"):
        excluded = np.load(excluded_rows_path(ctx, p["exclude"]["key"]))
        pool = np.setdiff1d(np.arange(store.n_cells, dtype=np.int64), excluded)
    n = subset_size(store.n_cells if pool is None else len(pool), p["fraction"])
    t0 = time.perf_counter()
    described = {}
    if p["strategy"] == ALL_CELLS:
        indices = np.arange(store.n_cells, dtype=np.int64) if pool is None else pool
    else:
        strategy = STRATEGIES[p["strategy"]]
        config = strategy.config.model_validate(p["config"])
        embedding = None
        if strategy.needs_embedding:
            embedding = np.load(ctx.layout.sketch_embedding(p["embedding_key"]) / "embedding.npy", mmap_mode="r")
        obs = store.obs
        if pool is not None:                        # selection runs on the pool; indices map back to corpus rows
            obs = obs.iloc[pool].reset_index(drop=True)
            embedding = None if embedding is None else np.asarray(embedding[pool])
        sctx = SelectionContext(obs, embedding)
        if strategy.pool_size is not None:          # the fraction refers to part of the corpus (spike-in: the base)
            n = subset_size(strategy.pool_size(sctx, config), p["fraction"])
        indices = strategy.select(sctx, n, config, np.random.default_rng(p["seed"]))
        if strategy.describe is not None:
            described = {"selection": strategy.describe(sctx, indices, config)}
        if pool is not None:
            indices = pool[indices]
    select_s = time.perf_counter() - t0
    is_val = split_train_val(len(indices), p["val_fraction"], rng=np.random.default_rng(p["split_seed"]))
    label_key = p.get("label_key", "cell_type")
    comp = {}
    if label_key in store.obs.columns:
        comp = composition(store.obs[label_key].astype(str).to_numpy(), indices)
    manifest = {**p, "corpus_fingerprint": store.fingerprint, "composition": comp, "select_time_s": select_s,
                "on_overlap": ctx.spec.evaluation.on_overlap,
                "excluded_eval_cells": int(p["exclude"]["n"]) if p.get("exclude") else 0, **described}
    path = unit.path(ctx)
    write_subset(path, indices, is_val, manifest)
    (path / "DONE").touch()


def run_diversity(ctx: StudyContext, unit: Unit) -> None:
    from cellplateau.analysis.diversity import subset_diversity
    from cellplateau.selection.subset import load_subset

    p = unit.params
    subset = load_subset(ctx.layout.subset(p["subset_key"]))
    embedding = np.load(ctx.layout.sketch_embedding(p["embedding_key"]) / "embedding.npy", mmap_mode="r")
    metrics = subset_diversity(ctx.store.obs, subset.indices, label_key=p["label_key"], embedding=embedding,
                               seed=p["seed"], n_hausdorff=p.get("n_hausdorff", 0))
    atomic_write_json(unit.path(ctx), {"params": p, "metrics": metrics})


# ---------------------------------------------------------------- training

def resolve_device(requested: str, kinds: tuple[str, ...] = ("cpu", "cuda")) -> str:
    """The device a training runs on: the spec's request, within the devices the family supports."""
    if requested == "cpu" or "cuda" not in kinds:
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise RuntimeError("the spec asks for device 'cuda' but no CUDA device is available")
    return "cpu"


def run_train(ctx: StudyContext, unit: Unit) -> None:
    from cellplateau.models import FAMILIES, TrainingData
    from cellplateau.selection.subset import load_subset

    p = unit.params
    family = FAMILIES[p["family"]]
    model = family.model(family.config.model_validate(p["config"]))
    if p.get("control"):
        model.untrained_control(ctx.store.n_genes, seed=p["seed"], store=ctx.store)
        path = model.save(unit.path(ctx), extra={"unit": p, "spec_hash": ctx.spec.spec_hash()})
        (path / "DONE").touch()
        return
    subset = load_subset(ctx.layout.subset(p["subset_key"]))
    device = resolve_device(ctx.spec.execution.device, family.device_kinds)
    store = ctx.store
    if p.get("depth", 1.0) < 1.0:           # the sequencing-depth axis: counts thinned as they are read
        from cellplateau.corpus.thinning import ThinnedStore

        store = ThinnedStore(store, depth=p["depth"], seed=p["thin_seed"])
    final = unit.path(ctx)
    workdir = final.with_name(f".{unit.key}.work.tmp")     # a killed worker's leftover is cleaned like any temporary
    try:
        model.fit(TrainingData(store, subset.train, subset.val, subset.manifest, workdir), seed=p["seed"],
                  device=device)
        path = model.save(final, extra={"unit": p, "subset_manifest": subset.manifest,
                                        "spec_hash": ctx.spec.spec_hash(), "depth": p.get("depth", 1.0)})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    (path / "DONE").touch()


# ---------------------------------------------------------------- evaluation

def _records_to_parquet(path, records: list[dict[str, Any]]) -> None:
    import io

    buf = io.BytesIO()
    pd.DataFrame.from_records(records).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def run_evaluate(ctx: StudyContext, unit: Unit) -> None:
    from cellplateau.evaluation import TASKS
    from cellplateau.models import load_model

    p = unit.params
    ds_spec = next(d for d in ctx.spec.evaluation.datasets if d.name == p["dataset"])
    ds = ctx.dataset(ds_spec)
    task = TASKS[p["task"]]
    config = task.config.model_validate(p["config"])
    model = load_model(ctx.layout.model(p["model_key"]))
    t0 = time.perf_counter()
    emb = model.embed(ds.counts, source=f"evaluation dataset {ds.name!r} ({ds_spec.path})")
    embed_s = time.perf_counter() - t0
    scores = task.evaluate(emb, ds, config, p["seed"], model=model)
    scores["embed_s_per_1k_cells"] = embed_s / max(ds.counts.shape[0], 1) * 1000
    records = [{"model_key": p["model_key"], "task": p["task"], "dataset": p["dataset"], "metric": m,
                "value": float(v), "eval_seed": p["seed"], "n_eval_cells": int(ds.counts.shape[0]),
                "gene_overlap": ds.mapping.overlap, "eval_layer": ds.layer} for m, v in scores.items()]
    _records_to_parquet(unit.path(ctx), records)


def run_baseline(ctx: StudyContext, unit: Unit) -> None:
    from cellplateau.evaluation import TASKS

    p = unit.params
    ds_spec = next(d for d in ctx.spec.evaluation.datasets if d.name == p["dataset"])
    ds = ctx.dataset(ds_spec)
    task = TASKS[p["task"]]
    config = task.config.model_validate(p["config"])
    results = task.baselines(ds, config, p["seed"])
    records = [{"baseline": b, "task": p["task"], "dataset": p["dataset"], "metric": m, "value": float(v),
                "eval_seed": p["seed"], "n_eval_cells": int(ds.counts.shape[0]), "gene_overlap": ds.mapping.overlap,
                "eval_layer": ds.layer}
               for b, scores in results.items() for m, v in scores.items()]
    _records_to_parquet(unit.path(ctx), records)


RUNNERS = {"sketch_embedding": run_sketch_embedding, "subset": run_subset, "diversity": run_diversity,
           "train": run_train, "evaluate": run_evaluate, "baseline": run_baseline}
STAGES = STAGE_NAMES


def run_unit(ctx: StudyContext, unit: Unit, *, threads: int | None = None) -> None:
    """Compute one unit; ``threads``: torch and numba threads (default: the spec's, or cores / local workers)."""
    execution = ctx.spec.execution
    threads = threads or execution.threads or max(1, (os.cpu_count() or 1) // execution.n_workers())
    if unit.kind == "train" or unit.kind == "evaluate":
        from cellplateau.models._compute import use_threads

        use_threads(threads)
    RUNNERS[unit.kind](ctx, unit)


def unit_key(*parts: Any) -> str:
    return stable_hash(list(parts))


__all__ = ["ALL_CELLS", "STAGES", "Unit", "composition", "derive_seed", "run_unit", "unit_key"]
