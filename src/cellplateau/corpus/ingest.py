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

from cellplateau.corpus._inputs import IngestError, InputSurvey, check_shared_genes, guarded, survey
from cellplateau.corpus.genes import looks_like_ensembl, map_genes
from cellplateau.corpus.store import OBS_COLUMNS, CorpusStore, StoreWriter

MISSING = "unknown"


@dataclass(frozen=True)
class IngestReport:
    n_cells: int
    n_genes: int
    lines: list[str]


def _vocabulary_of(surveys: Sequence[InputSurvey]) -> pd.DataFrame:
    symbols: list[str] = []
    ids: list[str] = []
    seen: set[str] = set()
    for s in surveys:
        is_id = looks_like_ensembl(s.genes)
        for n in s.genes:
            if n not in seen:
                seen.add(n)
                (ids if is_id else symbols).append(n)
    if symbols and ids:
        raise IngestError("inputs mix gene symbols and Ensembl IDs and no vocabulary was given; "
                          "pass a vocabulary table with both gene_symbol and gene_id columns")
    names = symbols or ids
    return pd.DataFrame({"gene_symbol": names if symbols else [""] * len(names),
                         "gene_id": names if ids else [""] * len(names)})


def union_vocabulary(paths: Sequence[str | os.PathLike], *, gene_key: str | None = None) -> pd.DataFrame:
    """Union of the inputs' genes, in order of first appearance, as a vocabulary table."""
    return _vocabulary_of([survey(p, gene_key=gene_key) for p in paths])


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


def _check_obs_map(surveys: Sequence[InputSurvey], obs_map: Mapping[str, str]) -> None:
    """A mapped source column must exist in at least one input (files without it get ``unknown``)."""
    for col, src in obs_map.items():
        if not any(src in s.obs_columns for s in surveys):
            raise IngestError(f"{', '.join(str(s.path) for s in surveys)}: no input has obs column {src!r} (mapped to "
                              f"{col!r}); columns are { {s.path.name: list(s.obs_columns) for s in surveys} }")


def ingest_h5ad(out: str | os.PathLike, paths: Sequence[str | os.PathLike], *,
                vocabulary: pd.DataFrame | None = None, obs_map: Mapping[str, str] | None = None,
                gene_key: str | None = None, layer: str | None = None, chunk_size: int = 10_000,
                min_shared_genes: int = 1, allow_disjoint: bool = False,
                log: Callable[[str], None] | None = None, progress: bool = False) -> IngestReport:
    """Build a store at ``out`` from ``paths``.

    ``obs_map`` maps store column -> source obs column (e.g. ``{"cell_type": "celltype",
    "assay": "chemistry"}``); unmapped schema columns use the same name if present, else
    ``"unknown"``. ``dataset`` defaults to the file stem. ``layer`` reads counts from a layer
    instead of ``X``. Files are read in backed mode, ``chunk_size`` rows at a time. ``progress`` shows
    cells ingested, the current file and the ETA (:mod:`cellplateau._progress`).

    Every input is surveyed first behind one guard (a file that is not a readable ``.h5ad`` is one line
    naming it); an input sharing fewer than ``min_shared_genes`` genes with the others, or inputs from
    different organisms, are refused unless ``allow_disjoint``. Temporary folders a killed ingest into
    ``out`` left behind are removed.
    """
    import anndata as ad

    from cellplateau._progress import progress as progress_bar

    paths = [Path(p) for p in paths]
    if not paths:
        raise IngestError("no input files given")
    surveys = [survey(p, gene_key=gene_key) for p in paths]
    obs_map = dict(obs_map or {})
    vocab = vocabulary if vocabulary is not None else _vocabulary_of(surveys)
    if not allow_disjoint:
        check_shared_genes(surveys, min_shared=min_shared_genes)
    lines: list[str] = []
    _check_obs_map(surveys, obs_map)
    for s in surveys:
        if layer is not None and layer not in s.layers:
            raise IngestError(f"{s.path}: no layer {layer!r}; layers are {list(s.layers)}")
    columns = list(dict.fromkeys([*OBS_COLUMNS, *obs_map]))
    with StoreWriter(out, vocab[["gene_symbol", "gene_id"]], data_dtype="int32",
                     provenance={"ingested_from": [str(p) for p in paths], "obs_map": obs_map}) as w, \
            progress_bar("ingest", total=sum(s.n_obs for s in surveys), unit="cells", enabled=progress) as bar:
        lines += [f"removed {p}: the temporary folder of a killed ingest" for p in w.removed_stale]
        for i_file, s in enumerate(surveys, 1):
            p = s.path
            with guarded(p):
                adata = ad.read_h5ad(p, backed="r")
            try:
                mapping = map_genes(s.genes, vocab)
                if mapping.n_mapped == 0:
                    raise IngestError(f"{p}: none of its genes are in the vocabulary (matched by {mapping.key})")
                lines.append(mapping.summary(p.name))
                with guarded(p, " (reading obs)"):
                    obs = _store_obs(adata, p, columns, obs_map, lines)
                for start in range(0, adata.n_obs, chunk_size):
                    stop = min(start + chunk_size, adata.n_obs)
                    with guarded(p, f" (reading rows {start}-{stop} of {'layer ' + layer if layer else 'X'})"):
                        X = sp.csr_matrix(adata.layers[layer][start:stop] if layer else adata.X[start:stop])
                    check_counts(X, p, rows=(start, stop))
                    w.append(mapping.apply(X), obs.iloc[start:stop])
                    bar.advance(stop - start, note=f"file {i_file}/{len(paths)} {p.name}")
                lines.append(f"{p.name}: {adata.n_obs} cells")
            finally:
                adata.file.close()
    store = CorpusStore(out)
    for line in lines:
        if log:
            log(line)
    return IngestReport(store.n_cells, store.n_genes, lines)


def _store_obs(adata, p: Path, columns: list[str], obs_map: Mapping[str, str], lines: list[str]) -> pd.DataFrame:
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
    return obs


def finish_report(out: str | os.PathLike, lines: list[str], log: Callable[[str], None] | None) -> IngestReport:
    """The report of a store just written at ``out``: its size, and ``lines`` logged."""
    store = CorpusStore(out)
    for line in lines:
        if log:
            log(line)
    return IngestReport(store.n_cells, store.n_genes, lines)
