"""The cell embedding geometric sketching runs on: PCs of log-normalised HVGs of the corpus.

HVGs and PCs are fitted on a seeded random subsample; every cell is then projected chunk by chunk
into an on-disk ``(n_cells, n_pcs)`` float32 array, so the corpus is never loaded whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.corpus.features import gram_pca, log1p_cp10k, select_hvg
from cellplateau.corpus.store import CorpusStore


class EmbeddingFields(BaseModel):
    """The PC embedding a geometry-aware strategy runs on (shared by every such strategy's config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_pcs: int = Field(50, ge=2, le=200, description="principal components the strategy works in")
    n_hvg: int = Field(2000, ge=10, description="highly variable genes the PCs are computed on")
    pca_sample: int = Field(50_000, ge=100, description="random cells the HVGs and PCs are fitted on")


def compute_sketch_embedding(store: CorpusStore, out: Path, *, n_pcs: int, n_hvg: int, pca_sample: int,
                             rng: np.random.Generator, chunk_size: int = 16_384) -> np.ndarray:
    """Write the PC embedding of every cell to ``out`` (a ``.npy``) and return it memory-mapped."""
    sample = np.sort(rng.choice(store.n_cells, size=min(pca_sample, store.n_cells), replace=False))
    counts = store.read_rows(sample)
    genes = select_hvg(counts, n_hvg)
    X = log1p_cp10k(counts, genes=genes, dense=True)
    mean, comps, _ = gram_pca([X], len(genes), min(n_pcs, len(genes)))
    tmp = out.with_name(f".{out.name}.tmp")
    emb = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(store.n_cells, comps.shape[0]))
    for rows, chunk in store.iter_rows(chunk_size=chunk_size):
        Xc = log1p_cp10k(chunk, genes=genes, dense=True)
        emb[rows[0] : rows[-1] + 1] = (Xc - mean) @ comps.T
    emb.flush()
    del emb
    tmp.replace(out)
    return np.load(out, mmap_mode="r")
