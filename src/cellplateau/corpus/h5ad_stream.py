"""Read parts of a large ``.h5ad`` (a 7 M-cell Tahoe-100M plate) without loading it: single obs columns
(categorical codes, numbers or strings), the obs index, var names, and the counts of chosen rows.

``anndata.read_h5ad(backed="r")`` reads the whole obs table into memory (for a plate: 7 M rows of 17
columns, gigabytes of Python strings); these helpers open the HDF5 file with ``h5py`` and read only what is
asked for. Rows are always read in increasing order, in batches, so memory is one batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


class H5adError(ValueError):
    """A file is not the ``.h5ad`` layout expected; the message names the file and the element."""


@contextmanager
def open_h5ad(path: str | Path) -> Iterator:
    import h5py

    path = Path(path)
    if not path.exists():
        raise H5adError(f"{path}: file not found")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise H5adError(f"{path}: cannot be read as h5ad ({exc})") from None
    try:
        yield fh
    finally:
        fh.close()


def _decode(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in ("S", "O"):
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)
    return values


def n_obs(fh) -> int:
    X = fh["X"]
    return int(X.attrs["shape"][0]) if hasattr(X, "keys") else int(X.shape[0])


def obs_columns(fh) -> list[str]:
    obs = fh["obs"]
    order = [str(c) for c in obs.attrs.get("column-order", [])]      # anndata keeps the column order here
    return order + sorted(c for c in obs.keys() if c not in order and c != obs.attrs.get("_index", "_index"))


def read_obs_column(fh, column: str, rows: np.ndarray | slice | None = None, *, path: str = "") -> np.ndarray:
    """One obs column (``rows``: sorted positions, a slice, or all). Categoricals come back as their values
    (object array; missing codes as ``None``), numbers as numbers."""
    obs = fh["obs"]
    if column == "_index" or column == obs.attrs.get("_index"):
        ds = obs[obs.attrs.get("_index", "_index")]
        return _decode(ds[rows] if rows is not None else ds[...])
    if column not in obs:
        raise H5adError(f"{path or fh.filename}: obs has no column {column!r}; columns are {obs_columns(fh)}")
    el = obs[column]
    sel = slice(None) if rows is None else rows
    if hasattr(el, "keys") and "codes" in el:          # categorical: all codes (1-2 bytes a cell), then the rows
        cats = _decode(el["categories"][...])
        codes = el["codes"][sel] if not isinstance(sel, np.ndarray) else el["codes"][...][sel]
        out = np.empty(len(codes), dtype=object)
        ok = codes >= 0
        out[ok] = cats[codes[ok]]
        out[~ok] = None
        return out
    if hasattr(el, "keys"):                              # nullable integer / boolean
        values = el["values"][sel]
        mask = el["mask"][sel]
        return np.where(mask, np.nan, values.astype(float))
    if isinstance(sel, np.ndarray) and el.dtype.kind in "biuf":
        return el[...][sel]                             # numbers: one read, then the rows
    return _decode(el[sel])


def column_codes(fh, column: str, *, path: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``(codes, categories)`` of a categorical obs column without decoding every row (cheap at 7 M rows);
    a plain string column is factorised."""
    obs = fh["obs"]
    if column not in obs:
        raise H5adError(f"{path or fh.filename}: obs has no column {column!r}; columns are {obs_columns(fh)}")
    el = obs[column]
    if hasattr(el, "keys") and "codes" in el:
        return el["codes"][...].astype(np.int64), _decode(el["categories"][...])
    codes, cats = pd.factorize(pd.Series(_decode(el[...])))
    return codes.astype(np.int64), np.asarray(cats, dtype=object)


def rows_matching(fh, filters: dict[str, list[str]], *, path: str = "") -> np.ndarray:
    """Sorted positions of the rows whose obs columns hold one of the given values (all filters at once)."""
    keep = np.ones(n_obs(fh), dtype=bool)
    for col, values in filters.items():
        codes, cats = column_codes(fh, col, path=path)
        wanted = np.flatnonzero(np.isin(cats.astype(str), [str(v) for v in values]))
        keep &= np.isin(codes, wanted)
    return np.flatnonzero(keep)


def var_names(fh) -> np.ndarray:
    var = fh["var"]
    return _decode(var[var.attrs.get("_index", "_index")][...]).astype(str)


def read_var_column(fh, column: str) -> np.ndarray | None:
    var = fh["var"]
    if column not in var:
        return None
    el = var[column]
    if hasattr(el, "keys") and "codes" in el:
        cats = _decode(el["categories"][...])
        return cats[el["codes"][...]].astype(str)
    return _decode(el[...]).astype(str)


def matrix(fh, layer: str | None = None, *, path: str = ""):
    """The backed count matrix (``X`` or ``layers/<layer>``) as an anndata sparse dataset or h5py dataset."""
    import anndata as ad

    if layer is None or layer == "X":
        el = fh["X"]
    else:
        if "layers" not in fh or layer not in fh["layers"]:
            have = list(fh["layers"].keys()) if "layers" in fh else []
            raise H5adError(f"{path or fh.filename}: no layer {layer!r}; layers are {have}")
        el = fh["layers"][layer]
    return ad.io.sparse_dataset(el) if hasattr(el, "keys") else el


def read_rows(X, rows: np.ndarray | slice) -> sp.csr_matrix:
    """Rows of a backed matrix (sorted positions or a slice) as CSR."""
    part = X[rows]
    return part.tocsr() if sp.issparse(part) else sp.csr_matrix(np.asarray(part))


def iter_row_batches(rows: np.ndarray, batch: int) -> Iterator[np.ndarray]:
    for s in range(0, len(rows), batch):
        yield rows[s : s + batch]
