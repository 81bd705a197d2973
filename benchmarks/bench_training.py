"""Training throughput of each family at the reference size, and the share of time spent waiting for data.

Usage: python benchmarks/bench_training.py [--cells 6000] [--genes 19331] [--out benchmarks/results/training.md]

A synthetic atlas with the reference corpus's gene count (19,331) is simulated once into a cache folder.
Each family trains a fixed number of steps at its reference size; we report cells/s (cells seen / wall time
of the training loop), the data-wait share (time the loop blocked on the loader, plus tokenisation for
Geneformer, over wall time; target < 10 %), and the inference time per 1,000 cells. The loader itself is
compared with the peer a user would otherwise use: random-batch reads from a backed .h5ad (anndata), in the
same run on the same cells.

The MLP families (MAE, SCimilarity) feed their first layer from the sparse batch on CPU and step with fused
AdamW. ``--sparse-repeats`` runs both of them as before (dense first layer, per-tensor AdamW), as now, and now
with ``precision: bf16``, alternating in one run, and reports the medians and their ratios (training cells/s).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

REFERENCE = {
    "pca": ({"size": "m", "n_hvg": 2000}, None),
    "scvi": ({"size": "s", "batch_size": 128}, 40),
    "mae": ({"size": "l", "batch_size": 256}, 40),
    "geneformer": ({"size": "l", "batch_size": 8, "val_cells": 16, "median_sample": 2000}, 3),
    "scimilarity": ({"size": "l", "batch_size": 256}, 40),
}


def _atlas(cache: Path, n_cells: int, n_genes: int):
    from cellplateau.corpus.simulate import AtlasParams, simulate_atlas
    from cellplateau.corpus.store import CorpusStore

    path = cache / f"atlas_{n_cells}x{n_genes}" / "corpus"
    if not (path / "store.json").exists():
        simulate_atlas(path, AtlasParams(n_cells=n_cells, n_genes=n_genes, eval_cells=500, chunk_size=1000,
                                         lineage_markers=200, subtype_markers=60))
    return CorpusStore(path)


def bench_loader(store, repeats: int = 3) -> list[tuple[str, float]]:
    """Cells/s of shuffled 256-cell batches: our memory-mapped store vs a backed .h5ad (peer)."""
    import anndata as ad

    from cellplateau.models._loader import BatchStream

    h5 = store.path.parent / "corpus.h5ad"
    if not h5.exists():
        a = ad.AnnData(X=store.read_range(0, store.n_cells))
        a.write_h5ad(h5)
    rows = np.arange(store.n_cells)
    ours, peer = [], []
    for r in range(repeats):
        with BatchStream(store, rows, batch_size=256, rng=np.random.default_rng(r)) as s:
            next(s)
            t = time.perf_counter()
            n = sum(len(next(s)[0]) for _ in range(40))
            ours.append(n / (time.perf_counter() - t))
        backed = ad.read_h5ad(h5, backed="r")
        rng = np.random.default_rng(r)
        t = time.perf_counter()
        n = 0
        for _ in range(5):
            idx = np.sort(rng.choice(store.n_cells, 256, replace=False))
            backed.X[idx]
            n += 256
        peer.append(n / (time.perf_counter() - t))
        backed.file.close()
    return [("cellplateau store (block-shuffled)", statistics.median(ours)),
            ("anndata backed h5ad, random batches (peer)", statistics.median(peer))]


def bench_family(store, name: str, config: dict, steps: int | None) -> dict:
    from cellplateau.models import FAMILIES, TrainingData

    fam = FAMILIES[name]
    if steps is not None:
        config = {**config, "budget": {"policy": "fixed_steps", "steps": steps}}
    model = fam.model(fam.config(**config))
    rows = np.arange(store.n_cells)
    info = model.fit(TrainingData(store, rows[: int(0.9 * len(rows))], rows[int(0.9 * len(rows)) :]), seed=0)
    wait = info.data_wait_s + float(info.budget.get("tokenise_s", 0.0))
    n_infer = 64 if name == "geneformer" else 1000      # 2,048-token inference is slow on CPU
    counts = store.read_rows(rows[:n_infer])
    t = time.perf_counter()
    model.embed(counts)
    infer = (time.perf_counter() - t) * 1000 / n_infer
    return {"family": name, "size": config.get("size", "-"), "params": info.n_params, "steps": info.steps,
            "cells/s": info.cells_seen / info.wall_time_s, "data wait %": 100 * wait / info.wall_time_s,
            "GFLOP/s": info.flops / info.wall_time_s / 1e9, "infer s/1k cells": infer}


VARIANTS = (    # (label, sparse first layer and loss, fused AdamW, precision, malloc keeps freed memory)
    ("before: dense first layer and loss, per-tensor AdamW, fp32", False, False, "fp32", False),
    ("now, fp32 (default)", True, True, "fp32", True),
    ("now, bf16, malloc defaults", True, True, "bf16", False),
    ("now, bf16 (precision: bf16)", True, True, "bf16", True),
)


def run_variant(store, name: str, index: int, steps: int) -> dict:
    """One training run of ``name`` under ``VARIANTS[index]`` (in a process of its own: the malloc setting
    is process-wide and cannot be undone), after a 2-step warm-up run that loads the compiled kernels."""
    from unittest import mock

    import torch

    from cellplateau.models import _optim, _train
    from cellplateau.models._layers import sparse_first_layer

    def per_tensor_adamw(params, *, lr, weight_decay):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=False)

    _, sparse, fused, precision, keep = VARIANTS[index]
    cfg, _ = REFERENCE[name]
    optim = mock.patch.object(_optim, "adamw", _optim.adamw if fused else per_tensor_adamw)
    malloc = mock.patch.object(_train, "keep_freed_memory", _train.keep_freed_memory if keep else lambda: False)
    with sparse_first_layer(sparse), optim, malloc:
        bench_family(store, name, {**cfg, "val_cells": 256, "precision": precision}, 2)  # compiled kernels load
        return bench_family(store, name, {**cfg, "val_cells": 256, "precision": precision}, steps)


def bench_sparse(args) -> list[dict]:
    """The CPU training paths of the MLP families at the reference size, each run in a fresh process, variants
    alternating, medians of training cells/s. The validation sample is cut to 256 cells so that the figure is
    the training steps'."""
    import json
    import subprocess
    import sys

    repeats, steps = args.sparse_repeats, args.sparse_steps
    out = []
    for name in ("mae", "scimilarity"):
        runs: dict[str, list[dict]] = {v[0]: [] for v in VARIANTS}
        for _ in range(repeats):
            for i, v in enumerate(VARIANTS):
                cmd = [sys.executable, __file__, "--cache", str(args.cache), "--cells", str(args.cells), "--genes",
                       str(args.genes), "--sparse-steps", str(steps), "--variant", f"{name}:{i}"]
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                runs[v[0]].append(json.loads(res.stdout.strip().splitlines()[-1]))
                print(name, v[0], f"{runs[v[0]][-1]['cells/s']:.1f} cells/s", flush=True)
        med = {k: statistics.median(r["cells/s"] for r in v) for k, v in runs.items()}
        out.append({"family": name, "params": next(iter(runs.values()))[0]["params"], "cells/s": med})
    return out


def main() -> None:
    from _results import publish

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=6000)
    ap.add_argument("--genes", type=int, default=19331)
    ap.add_argument("--cache", type=Path, default=Path("studies/bench_cache"))
    ap.add_argument("--families", default=",".join(REFERENCE))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/training.md"))
    ap.add_argument("--sparse-repeats", type=int, default=3, help="dense/sparse first-layer runs each (0: skip)")
    ap.add_argument("--sparse-steps", type=int, default=40)
    ap.add_argument("--variant", help="FAMILY:INDEX: one run of VARIANTS[INDEX], its record as JSON (internal)")
    args = ap.parse_args()
    import torch

    store = _atlas(args.cache, args.cells, args.genes)
    if args.variant:
        import json

        name, index = args.variant.split(":")
        print(json.dumps(run_variant(store, name, int(index), args.sparse_steps)))
        return
    per_cell = store.nnz / store.n_cells
    lines = [f"# Training throughput ({platform.machine()}, {torch.get_num_threads()} torch threads, CPU, "
             f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start)", "",
             f"Synthetic atlas {store.n_cells} cells x {store.n_genes} genes ({per_cell:,.0f} stored values per "
             f"cell, {per_cell / store.n_genes:.1%} non-zero); reference-size models.", "",
             "| family | size | params | steps | cells/s | data wait % | GFLOP/s | inference s / 1k cells |",
             "|---|---|---|---|---|---|---|---|"]
    for name in args.families.split(","):
        cfg, steps = REFERENCE[name]
        r = bench_family(store, name, cfg, steps)
        lines.append(f"| {r['family']} | {r['size']} | {r['params']:,} | {r['steps']} | {r['cells/s']:,.3g} | "
                     f"{r['data wait %']:.1f} | {r['GFLOP/s']:.1f} | {r['infer s/1k cells']:.2f} |")
        print(lines[-1], flush=True)
    loader = bench_loader(store)
    lines += ["", "| loader (256-cell shuffled batches, median of 3) | cells/s |", "|---|---|"]
    lines += [f"| {n} | {v:,.0f} |" for n, v in loader]
    lines.append(f"\nratio ours / peer: {loader[0][1] / loader[1][1]:.1f}x")
    if args.sparse_repeats:
        lines += ["", f"## CPU training paths of the MLP families ({args.sparse_steps} steps of 256 cells, variants "
                  f"alternating in one run, each in a fresh process, medians of {args.sparse_repeats}; training "
                  "cells/s)", "",
                  "| family | params | " + " | ".join(v[0] for v in VARIANTS) + " | ratios to before |",
                  "|---|---|" + "---|" * (len(VARIANTS) + 1)]
        for r in bench_sparse(args):
            v = list(r["cells/s"].values())
            lines.append(f"| {r['family']} | {r['params']:,} | " + " | ".join(f"{x:,.0f}" for x in v) +
                         " | " + " / ".join(f"{x / v[0]:.2f}x" for x in v[1:]) + " |")
            print(lines[-1], flush=True)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
