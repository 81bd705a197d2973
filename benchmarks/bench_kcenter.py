"""k-center (greedy farthest-point) selection vs geometric sketching (geosketch) on 1 M cells x 50 PCs.

Usage: python benchmarks/bench_kcenter.py [--cells 1000000] [--out benchmarks/results/kcenter.md]

Same corpus and PCs as bench_selection.py (benchmarks/_corpus.py, cached under ``--cache``). In one process:
our k-center (default settings: greedy farthest-point inside k-d parts of at most 20,000 cells; median
of 3 seeds after a compile warm-up), geosketch 1.3 with its recommended settings
(``gs(X, n, replace=False)``: k='auto' covering boxes, alpha=0.1, max_iter=200; one run, it takes minutes) and
our compiled geometric sketch, each drawing 1 % of the cells. Quality: the Hausdorff distance from the corpus to
the subset (largest distance from a cell to its nearest chosen cell; k-center minimises it within a factor 2),
estimated on a seeded sample of 20,000 corpus cells (the diversity panel's estimator) and exact over all cells
(the sample's maximum misses the few far-out cells that decide the true Hausdorff distance), and the share of
the subset from the rarer half of the 30 cell types.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    import _corpus
    from _results import publish
    from geosketch import gs

    from cellplateau.analysis.diversity import hausdorff_to_subset
    from cellplateau.selection._plaid import sketch
    from cellplateau.selection.kcenter import KCenterConfig, select_kcenter
    from cellplateau.selection.sketch_embedding import compute_sketch_embedding

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "cellplateau-bench")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/kcenter.md"))
    ap.add_argument("--sample", type=int, default=20_000, help="corpus cells the Hausdorff estimate uses")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    store = _corpus.write_store(args.cache / f"store_{args.cells}", args.cells)
    emb_path = args.cache / f"pcs_{args.cells}.npy"
    if not emb_path.exists():
        compute_sketch_embedding(store, emb_path, n_pcs=50, n_hvg=1000, pca_sample=50_000,
                                 rng=np.random.default_rng(0))
    X = np.ascontiguousarray(np.load(emb_path), dtype=np.float32)
    types = store.obs["cell_type"].cat.codes.to_numpy()
    rare = np.isin(types, np.argsort(np.bincount(types))[: len(np.unique(types)) // 2])
    n, m = len(X), len(X) // 100
    queries = np.random.default_rng(7).choice(n, args.sample, replace=False)
    print(f"{n:,} x {X.shape[1]} PCs, subsets of {m:,}", flush=True)

    select_kcenter(X[:5000], 50, rng=np.random.default_rng(0))           # compile (cached on disk after)
    runs = []
    for seed in range(3):
        t = time.perf_counter()
        idx, cover = select_kcenter(X, m, rng=np.random.default_rng(seed), max_part=KCenterConfig().max_part)
        runs.append((time.perf_counter() - t, idx, cover[-1]))
        print(f"kcenter seed {seed}: {runs[-1][0]:.1f} s, covering radius {cover[-1]:.2f}", flush=True)
    t_kc = statistics.median(r[0] for r in runs)
    idx_kc, radius_kc = runs[0][1], runs[0][2]
    sketch(X[:5000], 50, rng=np.random.default_rng(0))
    t = time.perf_counter()
    idx_sk = sketch(X, m, rng=np.random.default_rng(0))
    t_sk = time.perf_counter() - t
    t = time.perf_counter()
    idx_gs = np.unique(np.asarray(gs(X.astype(np.float64), m, replace=False, seed=0)))
    t_gs = time.perf_counter() - t
    print(f"geosketch {t_gs:.1f} s", flush=True)
    idx_rand = np.sort(np.random.default_rng(0).choice(n, m, replace=False))
    rows = [(f"kcenter (cellplateau, numba, k-d parts of <= {KCenterConfig().max_part:,}, median of 3)", t_kc, idx_kc),
            ("geosketch 1.3 (recommended settings, 1 run)", t_gs, idx_gs),
            ("geometric sketch (cellplateau kernels, 1 run)", t_sk, idx_sk),
            ("uniform random", float("nan"), idx_rand)]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} cores shared (load average {load:.1f}), " \
              f"Python {platform.python_version()}"
    lines = [f"# k-center selection vs geometric sketching ({when}; {machine})", "",
             f"Synthetic corpus {n:,} cells x {store.n_genes:,} genes, 50 PCs (out-of-core PCA); subsets of 1 % "
             f"({m:,} cells). Hausdorff: largest distance from a corpus cell to its nearest subset cell, on a "
             f"seeded sample of {args.sample:,} corpus cells (k-center's covering radius over all cells, the "
             f"largest over its k-d parts: {radius_kc:.2f}). Rare share: subset cells from the rarer half of the "
             f"types (corpus: {rare.mean():.3f}).", "",
             "| 1 % of 1 M cells | seconds | vs geosketch | Hausdorff (sample) | Hausdorff (all cells) "
             "| rare-type share |",
             "|---|---|---|---|---|---|"]
    for name, secs, idx in rows:
        h = hausdorff_to_subset(X, idx, queries)
        h_all = max(hausdorff_to_subset(X, idx, np.arange(a, min(a + 10_000, n))) for a in range(0, n, 10_000))
        speed = f"{t_gs / secs:.0f}x faster" if np.isfinite(secs) and name != rows[1][0] else "–"
        lines.append(f"| {name} | {secs:.1f} | {speed} | {h:.2f} | {h_all:.2f} | {rare[idx].mean():.3f} |")
        print(lines[-1], flush=True)
    lines += ["", f"k-center seeds 0-2: {', '.join(f'{r[0]:.1f} s (radius {r[2]:.2f})' for r in runs)}."]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
