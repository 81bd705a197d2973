"""The annbatch side of bench_loader.py, run by its own Python >= 3.12 environment (annbatch needs it).

Usage (by bench_loader.py): PY _annbatch_peer.py H5AD COLLECTION --batch 1024 --batches 100 --repeats 3
Preshuffles the cells of H5AD into an annbatch collection (``DatasetCollection.add_adatas(shuffle=True)``, timed
apart), then streams dense float32 batches with annbatch's ``Loader`` at its documented settings (chunks of 32
cells, 256 chunks preloaded, zarrs codec pipeline) and prints one JSON line: preshuffle seconds, cells/s of each
repeat and the mean per-batch entropy (bits) of the ``dataset`` label.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time

import numpy as np


def main() -> None:
    import anndata as ad
    import zarr
    from annbatch import DatasetCollection, Loader

    ap = argparse.ArgumentParser()
    ap.add_argument("h5ad")
    ap.add_argument("collection")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=32)
    ap.add_argument("--preload-nchunks", type=int, default=256)
    args = ap.parse_args()
    zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"})

    shutil.rmtree(args.collection, ignore_errors=True)
    t = time.perf_counter()
    collection = DatasetCollection(args.collection).add_adatas([args.h5ad], shuffle=True,
                                                               rng=np.random.default_rng(0))
    preshuffle = time.perf_counter() - t

    def load(g):
        return ad.AnnData(X=ad.io.sparse_dataset(g["X"]), obs=ad.io.read_elem(g["obs"])[["dataset"]])

    speeds, entropies = [], []
    for r in range(args.repeats):
        with ad.settings.override(remove_unused_categories=False):
            loader = Loader(batch_size=args.batch, chunk_size=args.chunk_size, preload_nchunks=args.preload_nchunks,
                            shuffle=True, rng=np.random.default_rng(r)).use_collection(collection, load_adata=load)
        it = iter(loader)
        next(it)
        t = time.perf_counter()
        n = 0
        for _ in range(args.batches):
            batch = next(it)
            X = batch["X"]
            x = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
            x = x.astype(np.float32, copy=False)
            n += x.shape[0]
            _, counts = np.unique(np.asarray(batch["obs"]["dataset"]), return_counts=True)
            p = counts / counts.sum()
            entropies.append(float(-(p * np.log2(p)).sum()))
        speeds.append(n / (time.perf_counter() - t))
    from importlib.metadata import version

    print(json.dumps({"preshuffle_s": preshuffle, "cells_per_s": speeds, "entropy": float(np.mean(entropies)),
                      "version": version("annbatch")}))


if __name__ == "__main__":
    main()
