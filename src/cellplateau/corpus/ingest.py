"""Build a corpus store from one or many ``.h5ad`` files without loading any of them whole.

Genes are mapped onto a vocabulary (given, or the union of the inputs' genes in order of first
appearance) by symbol or Ensembl ID as each file gives them; missing genes are zeros and the
overlap is reported per file. Metadata columns are mapped by name onto the store's schema. A count
matrix with negative or non-integer values is refused with a message naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellplateau.corpus.genes import looks_like_ensembl, map_genes
from cellplateau.corpus.store import OBS_COLUMNS, CorpusStore, StoreWriter

MISSING = "unknown"


class IngestError(ValueError):
    """An input file cannot become part of a corpus; the message names the file and the problem."""


@dataclass(frozen=True)
class IngestReport:
    n_cells: int
    n_genes: int
    lines: list[str]


def _source_genes(adata, path: Path, gene_key: str | None) -> pd.Index:
    if gene_key is None:
        return pd.Index(adata.var_names.astype(str))
    if gene_key not in adata.var.columns:
        raise IngestError(f"{path}: var has no column {gene_key!r} (gene_key); columns are {list(adata.var.columns)}")
    return pd.Index(adata.var[gene_key].astype(str))


def union_vocabulary(paths: Sequence[str | os.PathLike], *, gene_key: str | None = None) -> pd.DataFrame:
    """Union of the inputs' genes, in order of first appearance, as a vocabulary table."""
    import anndata as ad

    symbols: list[str] = []
    ids: list[str] = []
    seen: set[str] = set()
    for p in paths:
        adata = ad.read_h5ad(p, backed="r")
        names = _source_genes(adata, Path(p), gene_key)
        is_id = looks_like_ensembl(names)
        for n in names:
            if n not in seen:
                seen.add(n)
                (ids if is_id else symbols).append(n)
        adata.file.close()
    if symbols and ids:
        raise IngestError("inputs mix gene symbols and Ensembl IDs and no vocabulary was given; "
                          "pass a vocabulary table with both gene_symbol and gene_id columns")
    names = symbols or ids
    return pd.DataFrame({"gene_symbol": names if symbols else [""] * len(names),
                         "gene_id": names if ids else [""] * len(names)})


def read_vocabulary(path: str | os.PathLike) -> pd.DataFrame:
    """A vocabulary from a CSV/TSV with ``gene_symbol`` and/or ``gene_id`` columns, or a store."""
    path = Path(path)
    if (path / "store.json").exists():
        return CorpusStore(path).var
    sep = "\t" if path.suffix in {".tsv", ".txt"} else ","
    df = pd.read_csv(path, sep=sep, dtype=str)
    if not {"gene_symbol", "gene_id"} & set(df.columns):
        raise IngestError(f"{path}: a vocabulary needs a 'gene_symbol' or 'gene_id' column; got {list(df.columns)}")
    for col in ("gene_symbol", "gene_id"):
        if col not in df.columns:
            df[col] = ""
    return df[["gene_symbol", "gene_id"]].fillna("")


def check_counts(X: sp.spmatrix | np.ndarray, path: Path, *, rows: tuple[int, int],
                 allow_fractional: bool = False) -> None:
    """Refuse negative or non-integer values: a corpus holds raw counts."""
    data = X.data if sp.issparse(X) else np.asarray(X).ravel()
    if data.size == 0:
        return
    if not np.all(np.isfinite(data)):
        raise IngestError(f"{path}: count matrix holds NaN or infinite values (rows {rows[0]}-{rows[1]})")
    if data.min() < 0:
        raise IngestError(f"{path}: count matrix holds negative values (min {data.min():g}, rows {rows[0]}-{rows[1]}); "
                          "raw counts were expected, not scaled or log-normalised data")
    frac = data != np.round(data)
    if frac.any() and not allow_fractional:
        raise IngestError(f"{path}: count matrix holds non-integer values (e.g. {data[frac][0]:g}, "
                          f"{int(frac.sum())} such values in rows {rows[0]}-{rows[1]}); raw UMI counts were "
                          "expected. Use the raw-count layer (layer=...) or round the data before ingesting")


def _check_obs_map(paths: Sequence[Path], obs_map: Mapping[str, str]) -> int:
    """A mapped source column must exist in at least one input (files without it get ``unknown``).

    Returns the inputs' total number of cells (for the progress bar's ETA)."""
    import anndata as ad

    found = {src: False for src in obs_map.values()}
    seen: dict[str, list[str]] = {}
    n_cells = 0
    for p in paths:
        adata = ad.read_h5ad(p, backed="r")
        n_cells += adata.n_obs
        seen[p.name] = list(adata.obs.columns)
        for src in found:
            found[src] |= src in adata.obs.columns
        adata.file.close()
    for col, src in obs_map.items():
        if not found[src]:
            raise IngestError(f"{', '.join(map(str, paths))}: no input has obs column {src!r} (mapped to {col!r}); "
                              f"columns are {seen}")
    return n_cells


def ingest_h5ad(out: str | os.PathLike, paths: Sequence[str | os.PathLike], *,
                vocabulary: pd.DataFrame | None = None, obs_map: Mapping[str, str] | None = None,
                gene_key: str | None = None, layer: str | None = None, chunk_size: int = 10_000,
                log: Callable[[str], None] | None = None, progress: bool = False) -> IngestReport:
    """Build a store at ``out`` from ``paths``.

    ``obs_map`` maps store column -> source obs column (e.g. ``{"cell_type": "celltype",
    "assay": "chemistry"}``); unmapped schema columns use the same name if present, else
    ``"unknown"``. ``dataset`` defaults to the file stem. ``layer`` reads counts from a layer
    instead of ``X``. Files are read in backed mode, ``chunk_size`` rows at a time. ``progress`` shows
    cells ingested, the current file and the ETA (:mod:`cellplateau._progress`).
    """
    import anndata as ad

    from cellplateau._progress import progress as progress_bar

    paths = [Path(p) for p in paths]
    if not paths:
        raise IngestError("no input files given")
    for p in paths:
        if not p.exists():
            raise IngestError(f"{p}: file not found")
    obs_map = dict(obs_map or {})
    vocab = vocabulary if vocabulary is not None else union_vocabulary(paths, gene_key=gene_key)
    lines: list[str] = []
    n_total = _check_obs_map(paths, obs_map)
    columns = list(dict.fromkeys([*OBS_COLUMNS, *obs_map]))
    with StoreWriter(out, vocab[["gene_symbol", "gene_id"]], data_dtype="int32",
                     provenance={"ingested_from": [str(p) for p in paths], "obs_map": obs_map}) as w, \
            progress_bar("ingest", total=n_total, unit="cells", enabled=progress) as bar:
        for i_file, p in enumerate(paths, 1):
            try:
                adata = ad.read_h5ad(p, backed="r")
            except Exception as exc:  # noqa: BLE001
                raise IngestError(f"{p}: cannot be read as h5ad ({exc})") from exc
            mapping = map_genes(_source_genes(adata, p, gene_key), vocab)
            if mapping.n_mapped == 0:
                raise IngestError(f"{p}: none of its genes are in the vocabulary (matched by {mapping.key})")
            lines.append(mapping.summary(p.name))
            obs = pd.DataFrame(index=range(adata.n_obs))
            for col in columns:
                src = obs_map.get(col, col)
                if src in adata.obs.columns:
                    obs[col] = adata.obs[src].astype(str).replace({"nan": MISSING}).to_numpy()
                elif col == "dataset":
                    obs[col] = p.stem
                else:
                    obs[col] = MISSING
                    if col in obs_map:
                        lines.append(f"{p.name}: obs has no column {src!r}; {col!r} is {MISSING!r} for its cells")
            if layer is not None and layer not in adata.layers:
                raise IngestError(f"{p}: no layer {layer!r}; layers are {list(adata.layers.keys())}")
            for start in range(0, adata.n_obs, chunk_size):
                stop = min(start + chunk_size, adata.n_obs)
                X = adata.layers[layer][start:stop] if layer else adata.X[start:stop]
                X = sp.csr_matrix(X)
                check_counts(X, p, rows=(start, stop))
                w.append(mapping.apply(X), obs.iloc[start:stop])
                bar.advance(stop - start, note=f"file {i_file}/{len(paths)} {p.name}")
            lines.append(f"{p.name}: {adata.n_obs} cells")
            adata.file.close()
    store = CorpusStore(out)
    for line in lines:
        if log:
            log(line)
    return IngestReport(store.n_cells, store.n_genes, lines)
