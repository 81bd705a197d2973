"""Export rows of the store for code outside cellplateau: row-index files and streamed ``.h5ad`` files.

``write_h5ad_rows`` writes an AnnData file (raw counts in ``X`` as CSR, the store's obs rows named by their corpus
row, var named by :func:`vocabulary`)
chunk by chunk: the CSR arrays are resizable HDF5 datasets appended per chunk, so memory is one chunk
whatever the number of cells. The file is written to a temporary beside the target and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cellplateau.corpus.store import CorpusStore


def write_rows_file(path: str | os.PathLike, rows: np.ndarray) -> Path:
    """Corpus row indices, one integer a line (readable from any language), written atomically."""
    from cellplateau._io import atomic_write_text

    path = Path(path)
    atomic_write_text(path, "".join(f"{int(r)}\n" for r in rows))
    return path


def read_rows_file(path: str | os.PathLike) -> np.ndarray:
    text = Path(path).read_text().split()
    return np.asarray([int(x) for x in text], dtype=np.int64)


def vocabulary(store: CorpusStore) -> list[str]:
    """The corpus genes in column order, as named in exported files: ``gene_symbol`` (else the first column)."""
    var = store.var
    col = "gene_symbol" if "gene_symbol" in var.columns else (var.columns[0] if len(var.columns) else None)
    return [str(g) for g in (var[col] if col is not None else var.index)]


def _frame_for_h5ad(df):
    """Columns as strings or numbers (categoricals kept), index as strings: what anndata writes cleanly."""
    df = df.copy()
    df.index = df.index.astype(str)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].astype(str)
    return df


def write_h5ad_rows(store: CorpusStore, rows: np.ndarray, path: str | os.PathLike, *,
                    chunk_size: int = 8192) -> Path:
    """Write ``rows`` of ``store`` (sorted corpus indices) as an ``.h5ad`` of raw counts, streamed."""
    import h5py
    from anndata.io import write_elem

    path = Path(path)
    rows = np.asarray(rows, dtype=np.int64)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["encoding-type"] = "anndata"
            f.attrs["encoding-version"] = "0.1.0"
            write_elem(f, "obs", _frame_for_h5ad(store.obs.iloc[rows].set_axis([str(r) for r in rows])))
            write_elem(f, "var", _frame_for_h5ad(store.var.set_axis(vocabulary(store))))
            for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
                write_elem(f, key, {})
            X = f.create_group("X")
            X.attrs["encoding-type"] = "csr_matrix"
            X.attrs["encoding-version"] = "0.1.0"
            X.attrs["shape"] = (len(rows), store.n_genes)
            data = X.create_dataset("data", shape=(0,), maxshape=(None,), dtype=np.float32, chunks=(65536,))
            indices = X.create_dataset("indices", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(65536,))
            indptr = [0]
            for _, counts in store.iter_rows(rows, chunk_size=chunk_size):
                n0, n1 = data.shape[0], data.shape[0] + counts.nnz
                data.resize((n1,))
                indices.resize((n1,))
                data[n0:n1] = counts.data.astype(np.float32)
                indices[n0:n1] = counts.indices.astype(np.int32)
                indptr.extend((counts.indptr[1:] + n0).tolist())
            X.create_dataset("indptr", data=np.asarray(indptr, dtype=np.int64))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
