"""Subset loader throughput: our block-shuffled BatchStream vs scDataset and backed-h5ad random batches.

Usage: python benchmarks/bench_loader.py [--cells 2000000] [--subset 0.25] [--out benchmarks/results/loader.md]

A synthetic store of ``--cells`` cells x 2,000 genes (benchmarks/_corpus.py; datasets stored one after another)
and the same matrix as a CSR ``.h5ad`` are written once to ``--cache``. A seeded random ``--subset`` of the cells
is streamed as shuffled dense float32 batches of 1,024 cells, the consumer wrapping each batch as a torch tensor:

* ours: ``BatchStream(layout="dense")`` at several block sizes (one producer thread);
* scDataset (PyPI ``scdataset``): ``BlockShuffling(block_size, indices=subset)`` over the backed AnnData, the
  fetch callback and batch densification of its documentation (``adata[idx].X`` -> dense float32), in the main
  process like ours;
* scDataset again with 2 DataLoader workers (its documented ``DataLoader(ds, batch_size=None, num_workers=2,
  prefetch_factor=fetch_factor + 1)``; each worker opens the backed file itself);
* annbatch (needs Python >= 3.12): the subset's cells are written to an ``.h5ad`` and preshuffled into annbatch's
  zarr collection (time reported apart), then streamed by its ``Loader`` at its documented settings
  (benchmarks/_annbatch_peer.py, run by its own environment under ``--cache``/annbatch-env, created on first use
  from ``--annbatch-python`` or the newest python3.13/python3.12 that runs);
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


class BackedH5AD:
    """A backed ``.h5ad`` that each process (DataLoader worker) opens for itself on first use."""

    def __init__(self, path: Path, n_obs: int):
        self.path, self.n_obs, self._pid, self._adata = path, n_obs, None, None

    def __len__(self) -> int:
        return self.n_obs

    def adata(self):
        import anndata as ad

        if self._pid != os.getpid():
            self._adata, self._pid = ad.read_h5ad(self.path, backed="r"), os.getpid()
        return self._adata

    def __getstate__(self):
        return {"path": self.path, "n_obs": self.n_obs, "_pid": None, "_adata": None}


def fetch_backed(collection: BackedH5AD, idx):
    """scDataset's documented AnnData fetch callback, on the worker's own handle."""
    data = collection.adata()[np.sort(idx)].X
    return data.toarray().astype(np.float32) if hasattr(data, "toarray") else np.asarray(data, np.float32)


def annbatch_python(cache: Path, given: str | None) -> Path:
    """The annbatch environment's Python: created under ``cache`` on first use (annbatch[zarrs] installed)."""
    import shutil
    import subprocess

    env = cache / "annbatch-env"
    py = env / "bin" / "python"
    if py.exists():
        return py
    base = None
    for cand in ([given] if given else ["python3.13", "python3.12"]):
        exe = shutil.which(cand) or cand
        ok = subprocess.run([exe, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], capture_output=True)
        if ok.returncode == 0:
            base = exe
            break
    if base is None:
        raise SystemExit("annbatch needs Python >= 3.12: none found; pass --annbatch-python /path/to/python3.12")
    subprocess.run([base, "-m", "venv", str(env)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "annbatch[zarrs]"], check=True)
    return py


def write_subset_h5ad(store, rows: np.ndarray, path: Path) -> Path:
    """The subset's cells (counts as float32, the ``dataset`` label) as one CSR ``.h5ad`` for annbatch."""
    import anndata as ad
    import pandas as pd

    if not path.exists():
        X = store.read_rows(rows).astype(np.float32)
        obs = pd.DataFrame({"dataset": store.obs["dataset"].to_numpy()[rows]}, index=rows.astype(str))
        tmp = path.with_suffix(".tmp.h5ad")
        ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=store.var["gene_id"].to_numpy())).write_h5ad(tmp)
        tmp.rename(path)
    return path


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
    ap.add_argument("--annbatch-python", default=None, help="a Python >= 3.12 for annbatch's environment")
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

    import torch

    sc_mix = mixing_report(rows, datasets, batch_size=BATCH, block_size=64, fetch_blocks=16 * BATCH // 64,
                           rng=np.random.default_rng(0))
    speeds = []
    for r in range(args.repeats):
        ds = scDataset(BackedH5AD(h5, store.n_cells), BlockShuffling(block_size=64, indices=rows), batch_size=BATCH,
                       fetch_factor=16, fetch_callback=fetch_backed, seed=r)
        dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, prefetch_factor=17)
        # over several workers' prefetch depth (2 x 17 batches), within the one epoch scDataset yields
        speeds.append(time_stream(dl, min(max(args.peer_batches, 4 * 2 * 17), len(rows) // BATCH - 2)))
    results.append((f"scDataset {_version('scdataset')} BlockShuffling (block 64, fetch_factor 16), backed h5ad, "
                    "2 DataLoader workers", statistics.median(speeds), sc_mix))
    print(results[-1], flush=True)

    import json
    import subprocess

    py = annbatch_python(args.cache, args.annbatch_python)
    sub = write_subset_h5ad(store, rows, args.cache / f"subset_{args.cells}_{args.subset}.h5ad")
    res = subprocess.run([str(py), str(Path(__file__).with_name("_annbatch_peer.py")), str(sub),
                          str(args.cache / "annbatch_collection.zarr"), "--batch", str(BATCH),
                          "--batches", str(args.peer_batches * 2), "--repeats", str(args.repeats)],
                         capture_output=True, text=True, check=True)
    ab = json.loads(res.stdout.strip().splitlines()[-1])
    rand = sc_mix["entropy_random"]
    results.append((f"annbatch {ab['version']} Loader (chunk 32, 256 chunks preloaded), preshuffled zarr "
                    f"(preshuffle {ab['preshuffle_s']:.0f} s, not counted)", statistics.median(ab["cells_per_s"]),
                    {"entropy_block": ab["entropy"], "entropy_random": rand, "ratio": ab["entropy"] / rand}))
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
    full = next(v for n, v, _ in results if n.startswith("cellplateau") and "block 1," in n)
    b64 = next(v for n, v, _ in results if n.startswith("cellplateau") and "block 64," in n)
    lines += ["", "| peer | ours block 1 (full shuffle, mixing 1.00) / peer | ours block 64 / peer |", "|---|---|---|"]
    for name, v, _ in results:
        if not name.startswith("cellplateau"):
            lines.append(f"| {name} | {full / v:.1f}x | {b64 / v:.1f}x |")
    publish(lines, args.out)


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


if __name__ == "__main__":
    main()
