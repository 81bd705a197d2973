"""Evaluation datasets: an ``.h5ad`` with raw counts, mapped onto the corpus gene vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellplateau.corpus.genes import GeneMapping, map_genes
from cellplateau.corpus.ingest import IngestError, check_counts


class DatasetError(ValueError):
    """An evaluation dataset cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class EvalDataset:
    """A labelled evaluation dataset.

    ``counts`` are raw counts on the corpus vocabulary (cells x vocab genes; genes the dataset lacks
    are zero), ``own_counts`` the same cells on the dataset's own genes (used by baselines).
    """

    name: str
    counts: sp.csr_matrix
    own_counts: sp.csr_matrix
    labels: np.ndarray
    batches: np.ndarray | None
    mapping: GeneMapping
    n_dropped: int = 0


def load_eval_dataset(path: str | Path, vocab: pd.DataFrame, *, name: str, label_key: str,
                      batch_key: str | None = None, gene_key: str | None = None,
                      max_cells: int | None = None, seed: int = 0) -> EvalDataset:
    """Read ``path``, keep cells with a label, map genes onto ``vocab``.

    Counts must be non-negative; fractional counts are kept (log-normalising families accept them,
    count models such as scVI refuse them naming the dataset unless asked to round).

    ``max_cells`` caps the dataset by a seeded, label-stratified subsample.
    """
    import anndata as ad

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"evaluation dataset {name!r}: file not found: {path}")
    adata = ad.read_h5ad(path)
    if label_key not in adata.obs.columns:
        raise DatasetError(f"{path}: obs has no column {label_key!r} (label_key of dataset {name!r}); "
                           f"columns are {list(adata.obs.columns)}")
    if batch_key is not None and batch_key not in adata.obs.columns:
        raise DatasetError(f"{path}: obs has no column {batch_key!r} (batch_key of dataset {name!r}); "
                           f"columns are {list(adata.obs.columns)}")
    labels = adata.obs[label_key]
    keep = labels.notna().to_numpy() & ~labels.astype(str).str.lower().isin(["nan", "unknown", ""]).to_numpy()
    idx = np.flatnonzero(keep)
    if max_cells is not None and len(idx) > max_cells:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, size=max_cells, replace=False))
    if len(idx) < 4:
        raise DatasetError(f"{path}: only {len(idx)} cells have a {label_key!r} label; need at least 4")
    X = sp.csr_matrix(adata.X[idx] if not sp.issparse(adata.X) else adata.X[idx])
    try:
        check_counts(X, path, rows=(0, X.shape[0]), allow_fractional=True)
    except IngestError as exc:
        raise DatasetError(str(exc)) from exc
    genes = adata.var_names if gene_key is None else pd.Index(adata.var[gene_key].astype(str))
    mapping = map_genes(genes, vocab)
    if mapping.n_mapped == 0:
        raise DatasetError(f"{path}: none of its genes are in the corpus vocabulary (matched by {mapping.key})")
    return EvalDataset(
        name=name, counts=mapping.apply(X), own_counts=X,
        labels=labels.astype(str).to_numpy()[idx],
        batches=None if batch_key is None else adata.obs[batch_key].astype(str).to_numpy()[idx],
        mapping=mapping, n_dropped=int(adata.n_obs - keep.sum()),
    )
