"""Subset loader throughput: our block-shuffled BatchStream vs scDataset and backed-h5ad random batches.

Usage: python benchmarks/bench_loader.py [--cells 2000000] [--subset 0.25] [--out benchmarks/results/loader.md]

A synthetic store of ``--cells`` cells x 2,000 genes (benchmarks/_corpus.py; datasets stored one after another)
and the same matrix as a CSR ``.h5ad`` are written once to ``--cache``. A seeded random ``--subset`` of the cells
is streamed as shuffled dense float32 batches of 1,024 cells, the consumer wrapping each batch as a torch tensor:

* ours: ``BatchStream(layout="dense")`` at several block sizes (one producer thread);
* scDataset (PyPI ``scdataset``): ``BlockShuffling(block_size, indices=subset)`` over the backed AnnData, the
  fetch callback and batch densification of its documentation (``adata[idx].X`` -> dense float32), in the main
  process like ours;
* anndata backed ``.h5ad``, random batches (sorted random indices, ``X[idx]`` -> dense).

Each is timed over the same number of cells after one warm-up batch; all read from the page cache (the files were
just written; caches are not dropped on a shared machine). Mixing: mean entropy (bits) of the dataset label per
batch for each block size, and its ratio to a full random shuffle (1.0 = as mixed).
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
BATCH = 1024


def write_h5ad(store, path: Path, chunk: int = 20_000_000) -> Path:
    """The store's counts as a CSR ``.h5ad`` (float32 values), written in slices with h5py."""
    import h5py
    import pandas as pd
    from anndata.io import write_elem

    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
        write_elem(f, "obs", pd.DataFrame({"dataset": store.obs["dataset"].to_numpy()},
                                          index=np.arange(store.n_cells).astype(str)))
        write_elem(f, "var", pd.DataFrame(index=store.var["gene_id"].to_numpy()))
        g = f.create_group("X")
        g.attrs["encoding-type"], g.attrs["encoding-version"] = "csr_matrix", "0.1.0"
        g.attrs["shape"] = store.shape
        g.create_dataset("indptr", data=np.asarray(store.indptr))
        data = g.create_dataset("data", shape=(store.nnz,), dtype=np.float32)
        ind = g.create_dataset("indices", shape=(store.nnz,), dtype=np.int32)
        for a in range(0, store.nnz, chunk):
            b = min(a + chunk, store.nnz)
            data[a:b] = np.asarray(store._data[a:b], dtype=np.float32)
            ind[a:b] = store._indices[a:b]
    tmp.rename(path)
    return path


def time_stream(batches, n_batches: int) -> float:
    """Cells/s over ``n_batches`` batches after one warm-up batch; the consumer makes a torch tensor."""
    import torch

    it = iter(batches)
    next(it)
    t = time.perf_counter()
    n = 0
    for _ in range(n_batches):
        x = next(it)
        x = x[1] if isinstance(x, tuple) else x
        torch.from_numpy(np.asarray(x))
        n += x.shape[0]
    return n / (time.perf_counter() - t)


def main() -> None:
    import _corpus
    import anndata as ad
    from _results import publish
    from scdataset import BlockShuffling, scDataset

    from cellplateau.models._loader import BatchStream, mixing_report

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=2_000_000)
    ap.add_argument("--subset", type=float, default=0.25)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--peer-batches", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "cellplateau-bench")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/loader.md"))
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    store = _corpus.write_store(args.cache / f"store_{args.cells}", args.cells)
    h5 = write_h5ad(store, args.cache / f"corpus_{args.cells}.h5ad")
    rows = np.sort(np.random.default_rng(0).choice(store.n_cells, int(args.subset * store.n_cells), replace=False))
    datasets = store.obs["dataset"].cat.codes.to_numpy()
    print(f"store {store.n_cells:,} x {store.n_genes:,}, nnz {store.nnz:,}; subset {len(rows):,} cells", flush=True)

    results = []          # (name, block, cells/s median, mixing ratio)
    for block, fetch in ((1, 1), (16, 64), (64, 64), (256, 16)):
        speeds = []
        for r in range(args.repeats):
            with BatchStream(store, rows, batch_size=BATCH, rng=np.random.default_rng(r), block_size=block,
                             fetch_blocks=fetch, layout="dense") as s:
                speeds.append(time_stream(s, args.batches))
        mix = mixing_report(rows, datasets, batch_size=BATCH, block_size=block, fetch_blocks=fetch,
                            rng=np.random.default_rng(0))
        results.append((f"cellplateau BatchStream (block {block}, window {block * fetch:,} cells)",
                        statistics.median(speeds), mix))
        print(results[-1], flush=True)

    adata = ad.read_h5ad(h5, backed="r")

    def fetch_anndata(a, idx):           # scDataset's documented AnnData fetch callback
        data = a[idx].X
        return data.toarray().astype(np.float32) if hasattr(data, "toarray") else np.asarray(data, np.float32)

    for block, factor in ((16, 16), (64, 16)):
        speeds = []
        for r in range(args.repeats):
            ds = scDataset(adata, BlockShuffling(block_size=block, indices=rows), batch_size=BATCH,
                           fetch_factor=factor, fetch_callback=fetch_anndata, seed=r)
            speeds.append(time_stream(ds, args.peer_batches))
        mix = mixing_report(rows, datasets, batch_size=BATCH, block_size=block,
                            fetch_blocks=factor * BATCH // block, rng=np.random.default_rng(0))
        results.append((f"scDataset {_version('scdataset')} BlockShuffling (block {block}, fetch_factor {factor}), "
                        "backed h5ad", statistics.median(speeds), mix))
        print(results[-1], flush=True)

    def random_batches():
        rng = np.random.default_rng(0)
        while True:
            idx = np.sort(rng.choice(rows, BATCH, replace=False))
            yield adata.X[idx].toarray().astype(np.float32)

    speeds = [time_stream(random_batches(), max(5, args.peer_batches // 4)) for _ in range(args.repeats)]
    results.append(("anndata backed h5ad, random batches", statistics.median(speeds),
                    mixing_report(rows, datasets, batch_size=BATCH, block_size=1, fetch_blocks=1,
                                  rng=np.random.default_rng(0))))
    adata.file.close()

    best_ours = max(v for n, v, _ in results if n.startswith("cellplateau") and "block 1," not in n)
    best_sc = max(v for n, v, _ in results if n.startswith("scDataset"))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}"
    lines = [f"# Subset loader ({when}; {machine})", "",
             f"Store {store.n_cells:,} cells x {store.n_genes:,} genes ({store.nnz / store.n_cells:.0f} stored "
             f"values per cell), subset {len(rows):,} random cells, dense float32 batches of {BATCH:,}, medians "
             f"of {args.repeats}; page cache warm.", "",
             "| loader | cells/s | batch mixing (dataset entropy, bits; ratio to full shuffle) |", "|---|---|---|"]
    for name, v, mix in results:
        lines.append(f"| {name} | {v:,.0f} | {mix['entropy_block']:.2f} ({mix['ratio']:.2f}) |")
    lines.append(f"\nBest block-shuffled ours / best scDataset: **{best_ours / best_sc:.1f}x**.")
    publish(lines, args.out)


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


if __name__ == "__main__":
    main()
