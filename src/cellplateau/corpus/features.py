"""Feature transforms shared by selection and models: log1p(CP10k), HVGs, out-of-core PCA.

All functions take raw counts as CSR (cells x genes). Library size is the sum over all vocabulary
genes of a cell, so a model's input does not depend on which genes it later keeps.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def log1p_cp10k(counts: sp.spmatrix, *, genes: np.ndarray | None = None, dense: bool = False
                ) -> sp.csr_matrix | np.ndarray:
    """``log1p(counts / library_size * 1e4)`` as float32, optionally restricted to ``genes``.

    Cells with no counts stay all-zero.
    """
    X = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    lib = np.asarray(X.sum(1)).ravel()
    scale = np.divide(1e4, lib, out=np.zeros_like(lib), where=lib > 0).astype(np.float32)
    X.data *= np.repeat(scale, np.diff(X.indptr))
    np.log1p(X.data, out=X.data)
    if genes is not None:
        X = X[:, genes]
    return X.toarray() if dense else X


def select_hvg(counts: sp.spmatrix, n_top: int) -> np.ndarray:
    """Indices (sorted) of the ``n_top`` most variable genes by scanpy's ``seurat`` flavour.

    ``counts`` is a sample of cells held in memory; when ``n_top`` >= number of genes with any
    expression, all expressed genes are returned.
    """
    import anndata as ad
    import scanpy as sc

    X = log1p_cp10k(counts)
    expressed = np.asarray((X != 0).sum(0)).ravel() > 0
    if n_top >= int(expressed.sum()):
        return np.flatnonzero(expressed)
    adata = ad.AnnData(X=X)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor="seurat")
    hv = np.flatnonzero(adata.var["highly_variable"].to_numpy())
    if len(hv) > n_top:  # ties at the cut-off: keep the most dispersed
        disp = adata.var["dispersions_norm"].to_numpy()[hv]
        hv = np.sort(hv[np.argsort(-disp, kind="stable")[:n_top]])
    return hv


def gram_pca(chunks, n_genes: int, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact centred PCA from a stream of dense float32 chunks (cells x n_genes).

    Accumulates the sum and the Gram matrix ``X^T X`` chunk by chunk (memory O(genes^2), never
    O(cells)), then eigendecomposes the covariance. Returns ``(mean (G,), components (k, G),
    explained_variance (k,))``; component signs are fixed so the largest loading is positive.
    """
    total = np.zeros(n_genes, dtype=np.float64)
    gram = np.zeros((n_genes, n_genes), dtype=np.float64)
    n = 0
    for X in chunks:
        X = np.asarray(X, dtype=np.float32)
        total += X.sum(0, dtype=np.float64)
        gram += (X.T @ X).astype(np.float64)
        n += X.shape[0]
    if n < 2:
        raise ValueError(f"PCA needs at least 2 cells, got {n}")
    mean = total / n
    cov = (gram - n * np.outer(mean, mean)) / (n - 1)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:n_components]
    comps = evecs[:, order].T
    signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
    signs[signs == 0] = 1
    comps *= signs[:, None]
    return mean.astype(np.float32), comps.astype(np.float32), np.clip(evals[order], 0, None)
