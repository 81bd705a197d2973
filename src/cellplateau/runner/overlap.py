"""The plan-time evaluation-corpus overlap of a study: per evaluation dataset, how many of its cells are corpus
cells (:func:`cellplateau.corpus.overlap.find_overlap`), and the corpus rows to leave out of the selection pool
under ``on_overlap: exclude``. Cached under ``artifacts/overlap/`` by corpus fingerprint and dataset files, so a
second ``plan`` or ``run`` does not stream the corpus again."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from cellplateau._hashing import stable_hash
from cellplateau._io import atomic_write_bytes, atomic_write_json
from cellplateau.runner.context import StudyContext


@dataclass
class StudyOverlap:
    """``per_dataset``: ``{name: {"n_cells", "share", "by_counts", "by_id"}}``; ``excluded_key``: the hash naming
    the saved corpus rows to exclude (``None`` when nothing is excluded); ``warnings``: lines for the user."""

    per_dataset: dict[str, dict] = field(default_factory=dict)
    n_excluded: int = 0
    excluded: np.ndarray | None = None
    excluded_key: str | None = None
    warnings: list[str] = field(default_factory=list)


def excluded_rows_path(ctx: StudyContext, key: str):
    return ctx.layout.artifacts / "overlap" / f"{key}.npy"


def study_overlap(ctx: StudyContext, signatures: dict[str, dict]) -> StudyOverlap:
    """Overlap of every evaluation dataset on disk with the corpus, applying ``evaluation.on_overlap``
    (``error`` raises ``ValueError`` naming the datasets). ``signatures``: each dataset's file signature."""
    import io

    from cellplateau.corpus.overlap import find_overlap

    spec = ctx.spec
    out = StudyOverlap()
    if ctx.corpus_planned:
        return out
    rows: list[np.ndarray] = []
    for ds in spec.evaluation.datasets:
        if not ds.path.exists():
            continue
        key = stable_hash(["overlap", ctx.store.fingerprint, ds.model_dump(mode="json"), signatures.get(ds.name),
                           spec.seed, spec.evaluation.min_gene_overlap])
        cache = ctx.layout.artifacts / "overlap" / f"{ds.name}-{key}.json"
        if cache.exists():
            rec = json.loads(cache.read_text())
            found = np.load(cache.with_suffix(".npy"))
        else:
            data = ctx.dataset(ds)
            shared = np.zeros(ctx.store.n_genes, bool)
            shared[data.mapping.target[data.mapping.target >= 0]] = True
            ov = find_overlap(ctx.store, data.counts, shared, eval_obs=data.cell_ids)
            found = ov.corpus_rows
            rec = {"n_cells": ov.n_cells, "share": ov.n_cells / max(data.n_cells, 1), "by_counts": ov.by_counts,
                   "by_id": ov.by_id, "corpus_rows": int(len(found)), "n_eval_cells": data.n_cells}
            if ctx.layout.root.exists():        # a plan the study refuses writes nothing: cache only once it runs
                buf = io.BytesIO()
                np.save(buf, found)
                atomic_write_bytes(cache.with_suffix(".npy"), buf.getvalue())
                atomic_write_json(cache, rec)
        out.per_dataset[ds.name] = rec
        if rec["n_cells"]:
            rows.append(found)
    hits = {n: r for n, r in out.per_dataset.items() if r["n_cells"]}
    if not hits:
        return out
    text = "; ".join(f"{n}: {r['n_cells']:,} of {r['n_eval_cells']:,} cells ({r['share']:.1%}) are corpus cells"
                     for n, r in hits.items())
    action = spec.evaluation.on_overlap
    if action == "error":
        raise ValueError(f"evaluation datasets overlap the corpus ({text}); set evaluation.on_overlap: exclude to "
                         "leave those cells out of the pretraining pool, or warn to keep them")
    if action == "warn":
        out.warnings.append(f"evaluation datasets overlap the corpus and the overlap is kept (on_overlap: warn): "
                            f"{text}; larger subsets hold more evaluation cells")
        return out
    excluded = np.unique(np.concatenate(rows)).astype(np.int64)
    out.n_excluded = int(len(excluded))
    out.excluded_key = stable_hash(["excluded", ctx.store.fingerprint, excluded.tolist()])
    out.excluded = excluded
    out.warnings.append(f"{out.n_excluded:,} corpus cells are evaluation cells and leave the selection pool "
                        f"(on_overlap: exclude): {text}")
    return out


def save_excluded(ctx: StudyContext, plan) -> None:
    """Write the plan's excluded corpus rows where the subset units read them (``run`` does, once the plan is
    accepted)."""
    import io

    if plan.excluded_rows is None or not plan.excluded_key:
        return
    path = excluded_rows_path(ctx, plan.excluded_key)
    if not path.exists():
        buf = io.BytesIO()
        np.save(buf, plan.excluded_rows)
        atomic_write_bytes(path, buf.getvalue())
