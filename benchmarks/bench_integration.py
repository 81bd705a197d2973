"""Batch-integration metrics on 100 k cells: ours (cellplateau.evaluation.integration) against scib-metrics'
own implementations of the same pieces, measured in one run on the same data.

Usage: python benchmarks/bench_integration.py [--n 100000] [--repeats 3] [--peer-cells 20000] [--large 1000000]
                                             [--out benchmarks/results/integration.md]

Data: a 32-dimensional embedding of ``--n`` cells, 20 labels with power-law sizes, 6 batches with a
shift. "ours" is the whole ``integration_scores`` call (every metric of the task, 90-NN graph included),
median of ``--repeats`` runs; the target is <= 60 s at 100 k cells on the 2-core reference machine.

The scib-metrics peers (pynndescent 90-NN graph, all-pairs ``silhouette_label``, ``kbet_per_label`` on
diffusion-map graphs, jax k-means NMI/ARI) take minutes each at 100 k cells, so they are timed once on
``--peer-cells`` cells and their scaling is stated as measured: graph and k-means near-linear, silhouette
quadratic; ``kbet_per_label`` was 346 s at 100 k cells in a separate run (see the module docstring of
``cellplateau.evaluation._neighbors``). Agreement of each of our pieces with scib-metrics / sklearn is
asserted in ``tests/evaluation/test_metrics.py``.

The whole peer: scib-metrics' own ``Benchmarker`` end to end (``prepare()``: its 90-NN graph; ``benchmark()``:
every default bio-conservation and batch-correction metric) on the same ``--peer-cells`` embedding, pre-integrated
embedding, labels and batches as one ``integration_scores`` call of ours, back to back in this run. ``--large``
times one ``integration_scores`` call at that many cells (0 skips it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def _data(n: int, d: int = 32, n_labels: int = 20, n_batches: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = np.arange(1, n_labels + 1) ** -1.0
    lab = rng.choice(n_labels, n, p=w / w.sum())
    bat = rng.integers(0, n_batches, n)
    X = rng.normal(0, 3, (n_labels, d))[lab] + rng.normal(0, 0.5, (n_batches, d))[bat] + rng.normal(0, 1, (n, d))
    pre = np.concatenate([X, rng.normal(0, 1, (n, 18))], 1)
    return X.astype(np.float32), lab.astype(str), bat.astype(str), pre.astype(np.float32)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# scib-metrics' Benchmarker result columns -> our metric names (the unscaled values are compared)
BENCHMARKER_NAMES = {"Isolated labels": "isolated_labels", "KMeans NMI": "nmi", "KMeans ARI": "ari",
                     "Silhouette label": "silhouette_label", "cLISI": "clisi", "Silhouette batch": "silhouette_batch",
                     "iLISI": "ilisi", "KBET": "kbet", "Graph connectivity": "graph_connectivity",
                     "PCR comparison": "pcr_comparison"}


def benchmarker(X, labels, batches, pre) -> dict[str, float]:
    """scib-metrics' ``Benchmarker`` end to end on one embedding; its unscaled values under our metric names."""
    import anndata as ad
    import pandas as pd
    from scib_metrics.benchmark import Benchmarker

    adata = ad.AnnData(obs=pd.DataFrame({"label": labels, "batch": batches}, index=np.arange(len(X)).astype(str)),
                       obsm={"X_emb": X, "X_pre": pre})
    bm = Benchmarker(adata, batch_key="batch", label_key="label", embedding_obsm_keys=["X_emb"],
                     pre_integrated_embedding_obsm_key="X_pre", n_jobs=os.cpu_count() or 1, progress_bar=False)
    bm.benchmark()
    res = bm.get_results(min_max_scale=False)
    row = res.loc["X_emb"]
    return {ours: float(row[col]) for col, ours in BENCHMARKER_NAMES.items() if col in row.index}


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


def main() -> None:
    import scib_metrics as sm
    from _results import publish
    from scib_metrics.nearest_neighbors import pynndescent

    from cellplateau.evaluation import _neighbors as nb
    from cellplateau.evaluation.integration import integration_scores, nmi_ari_kmeans

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-cells", type=int, default=20_000)
    ap.add_argument("--large", type=int, default=1_000_000, help="cells for the one large run of ours (0: skip)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/integration.md"))
    args = ap.parse_args()

    X, lab, bat, pre = _data(args.n)
    times, scores = [], None
    for _ in range(args.repeats):
        t, scores = _timed(lambda: integration_scores(X, lab, bat, pre))
        times.append(t)
    ours_total = statistics.median(times)

    m = args.peer_cells
    Xs, labs, bats, _ = _data(m, seed=1)
    rows = []
    t_ours, nn = _timed(lambda: nb.knn(Xs, 90))
    t_peer, _ = _timed(lambda: pynndescent(Xs, n_neighbors=90, random_state=0, n_jobs=os.cpu_count()))
    rows.append(("90-NN graph", "faiss (exact below 50 k cells)", t_ours, "pynndescent", t_peer))
    t_ours, _ = _timed(lambda: nmi_ari_kmeans(Xs, labs))
    t_peer, _ = _timed(lambda: sm.nmi_ari_cluster_labels_kmeans(Xs, labs))
    rows.append(("k-means NMI/ARI", "sklearn KMeans", t_ours, "scib-metrics (jax)", t_peer))
    q = nb.sample_queries(m, 5000, 0)
    t_ours, _ = _timed(lambda: nb.silhouette_samples(Xs, labs, query=q))
    t_peer, _ = _timed(lambda: sm.silhouette_label(Xs, labs))
    rows.append(("label silhouette", "5 k sampled queries vs all cells", t_ours, "all pairs", t_peer))
    t_ours, _ = _timed(lambda: nb.kbet_per_label(Xs, labs, bats))
    t_peer, _ = _timed(lambda: sm.kbet_per_label(nn.subset_neighbors(50), bats, labs))
    rows.append(("kBET per label", "per-label kNN graphs", t_ours, "diffusion-map graphs", t_peer))

    t_ours_all, ours_scores = _timed(lambda: integration_scores(Xs, labs, bats, _data(m, seed=1)[3]))
    t_bench, bench_scores = _timed(lambda: benchmarker(Xs, labs, bats, _data(m, seed=1)[3]))
    large = None
    if args.large:
        XL, labL, batL, preL = _data(args.large, seed=2)
        large = _timed(lambda: integration_scores(XL, labL, batL, preL))[0]
        del XL, labL, batL, preL

    machine = (f"{platform.machine()}, {os.cpu_count()} cores shared (load average {os.getloadavg()[0]:.1f} at the "
               f"end), {time.strftime('%Y-%m-%d')}")
    lines = [f"# Integration metrics ({machine})", "",
             f"All metrics of the `batch_integration` task on {args.n:,} cells x 32 dims (20 labels, 6 batches): "
             f"**{ours_total:.1f} s** (median of {args.repeats}; runs {', '.join(f'{t:.1f}' for t in times)} s; "
             f"target <= 60 s).", "",
             f"Pieces against scib-metrics on {m:,} cells (one run each):", "",
             "| piece | ours | s | scib-metrics | s | ratio |", "|---|---|---|---|---|---|"]
    lines += [f"| {p} | {o} | {to:.2f} | {pn} | {tp:.2f} | {tp / to:.1f}x |" for p, o, to, pn, tp in rows]
    lines += ["", f"The whole peer on the same {m:,} cells, back to back: scib-metrics {_version('scib-metrics')} "
              f"`Benchmarker` (prepare + benchmark, every default metric, n_jobs={os.cpu_count()}) "
              f"**{t_bench:.1f} s**, "
              f"our `integration_scores` **{t_ours_all:.1f} s**: **{t_bench / t_ours_all:.1f}x**.", "",
              "| metric | ours | scib-metrics Benchmarker |", "|---|---|---|"]
    lines += [f"| {k} | {ours_scores[k]:.3f} | {v:.3f} |" for k, v in bench_scores.items() if k in ours_scores]
    if large is not None:
        lines += ["", f"One `integration_scores` call at {args.large:,} cells: **{large:.1f} s**."]
    lines += ["", f"Scores at {args.n:,} cells: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
