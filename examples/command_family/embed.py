"""Embed cells with a model written by train.py: reads an .h5ad of raw counts, writes an .npy (cells x dim).

    python embed.py --model MODEL_DIR --input cells.h5ad --output embedding.npy
"""

import argparse

import anndata as ad
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--input", required=True)
p.add_argument("--output", required=True)
a = p.parse_args()
m = np.load(f"{a.model}/pca.npz")
cells = ad.read_h5ad(a.input)
cells = cells[:, list(m["genes"])]                       # the model's genes, in its order
X = np.asarray(cells.X.todense(), dtype=np.float64)
X = np.log1p(X / np.maximum(X.sum(1, keepdims=True), 1) * 1e4)
np.save(a.output, ((X - m["mean"]) @ m["components"].T).astype(np.float32))
print(f"embedded {len(X)} cells")
