"""Train a model outside cellplateau: PCA of log1p(CP10k) in plain numpy, from an exported .h5ad.

    python train.py --train cells.h5ad --out MODEL_DIR [--dim 16] [--seed 0] [--device cpu]
    python train.py --untrained --genes genes.txt --out MODEL_DIR      # random projection: the control
"""

import argparse
import json
from pathlib import Path

import anndata as ad
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--train", help=".h5ad of raw counts (cells x genes)")
p.add_argument("--genes", help="the vocabulary, one gene a line (with --untrained)")
p.add_argument("--out", required=True, type=Path)
p.add_argument("--dim", type=int, default=16)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--device", default="cpu")
p.add_argument("--untrained", action="store_true")
a = p.parse_args()
rng = np.random.default_rng(a.seed)
if a.untrained:
    genes = Path(a.genes).read_text().split()
    mean = np.zeros(len(genes))
    components = np.linalg.qr(rng.normal(size=(len(genes), a.dim)))[0].T
    n = 0
else:
    cells = ad.read_h5ad(a.train)
    X = np.asarray(cells.X.todense(), dtype=np.float64)
    X = np.log1p(X / np.maximum(X.sum(1, keepdims=True), 1) * 1e4)
    genes, mean, n = list(cells.var_names), X.mean(0), len(X)
    components = np.linalg.svd(X - mean, full_matrices=False)[2][: a.dim]
a.out.mkdir(parents=True, exist_ok=True)
np.savez(a.out / "pca.npz", mean=mean, components=components, genes=np.asarray(genes))
(a.out / "fit.json").write_text(json.dumps({"steps": 1, "cells_seen": n, "n_params": int(components.size)}))
print(f"{'untrained' if a.untrained else 'trained'} on {n} cells x {len(genes)} genes, seed {a.seed}, "
      f"device {a.device}")
