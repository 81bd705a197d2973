"""``ingest --preset tahoe100m``: Tahoe-100M plate ``.h5ad`` files (about 7 M cells each) into a corpus store.

Each plate is opened with ``h5py`` (:mod:`cellplateau.corpus.h5ad_stream`), never loaded: rows are read in
contiguous slices of ``chunk_size`` cells, cells failing ``pass_filter`` are dropped slice by slice, and the
obs columns are read for the same slice only. Store columns: ``cell_type`` = ``cell_name`` (the cell line's
common name), ``donor`` = ``cell_line`` (its Cellosaurus ID), ``dataset`` = ``plate``, ``assay`` = the
platform, ``tissue`` unknown; the perturbation columns (``drug``, ``drugname_drugconc``, ``sample``) are kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.corpus import h5ad_stream as hs
from cellplateau.corpus.genes import looks_like_ensembl, map_genes
from cellplateau.corpus.ingest import MISSING, IngestError, IngestReport, check_counts, finish_report
from cellplateau.corpus.store import OBS_COLUMNS, StoreWriter

TAHOE_OBS = ("plate", "sample", "gene_count", "tscp_count", "mread_count", "drugname_drugconc", "drug",
             "cell_line", "sublibrary", "BARCODE", "pcnt_mito", "S_score", "G2M_score", "phase", "pass_filter",
             "cell_name")


class TahoePreset(BaseModel):
    """Which Tahoe-100M cells a corpus keeps and how their columns map onto the store."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    pass_filter: list[str] | None = Field(["full"], description="keep cells whose pass_filter is one of these "
                                          "(None: every cell)")
    obs_map: dict[str, str] = Field(default_factory=lambda: {"cell_type": "cell_name", "donor": "cell_line",
                                                             "dataset": "plate"},
                                    description="store column -> plate obs column")
    assay: str = Field("Parse GigaLab (Tahoe-100M)", description="value of the store's assay column")
    keep: tuple[str, ...] = Field(("drug", "drugname_drugconc", "sample", "cell_line", "cell_name"),
                                  description="plate obs columns kept as extra store columns")


def vocabulary_from_var(names: np.ndarray, symbols: np.ndarray | None = None) -> pd.DataFrame:
    """A store vocabulary from one file's genes: Ensembl IDs (with their symbols when given) or symbols."""
    names = np.asarray(names, dtype=str)
    if looks_like_ensembl(list(names)):
        return pd.DataFrame({"gene_symbol": symbols if symbols is not None else [""] * len(names), "gene_id": names})
    return pd.DataFrame({"gene_symbol": names, "gene_id": [""] * len(names)})


def _chunk_obs(fh, rows: slice, keep: np.ndarray, columns: list[str], preset: TahoePreset, have: set[str]
               ) -> pd.DataFrame:
    """Store obs of the kept cells of one slice of a plate."""
    obs = pd.DataFrame(index=range(int(keep.sum())))
    for col in columns:
        src = preset.obs_map.get(col, col)
        if col == "assay":
            obs[col] = preset.assay
        elif src in have:
            vals = pd.Series(hs.read_obs_column(fh, src, rows)[keep]).astype(str)
            obs[col] = vals.replace({"None": MISSING, "nan": MISSING}).to_numpy()
        else:
            obs[col] = MISSING
    return obs


def ingest_tahoe(out: str | os.PathLike, plates: Sequence[str | os.PathLike], *, preset: TahoePreset = TahoePreset(),
                 vocabulary: pd.DataFrame | None = None, chunk_size: int = 50_000,
                 log: Callable[[str], None] | None = None) -> IngestReport:
    """Build a store at ``out`` from Tahoe plate files, streaming ``chunk_size`` rows at a time."""
    paths = [Path(p) for p in plates]
    if not paths:
        raise IngestError("--preset tahoe100m: no plate files given")
    lines: list[str] = []
    try:
        with hs.open_h5ad(paths[0]) as fh:
            vocab = vocabulary if vocabulary is not None else vocabulary_from_var(hs.var_names(fh))
        columns = list(dict.fromkeys([*OBS_COLUMNS, *preset.keep]))
        with StoreWriter(out, vocab[["gene_symbol", "gene_id"]], data_dtype="int32",
                         provenance={"ingested_from": [str(p) for p in paths], "preset": "tahoe100m",
                                     "pass_filter": preset.pass_filter}) as w:
            for p in paths:
                with hs.open_h5ad(p) as fh:
                    n = hs.n_obs(fh)
                    have = set(hs.obs_columns(fh))
                    need = sorted({*preset.obs_map.values(), *preset.keep, *(["pass_filter"] if preset.pass_filter
                                                                              else [])} - have)
                    if need:
                        raise IngestError(f"{p}: obs has no column(s) {need}; a Tahoe-100M plate has {list(TAHOE_OBS)}")
                    mapping = map_genes(hs.var_names(fh), vocab)
                    lines.append(mapping.summary(p.name))
                    X = hs.matrix(fh, path=str(p))
                    kept = 0
                    for start in range(0, n, chunk_size):
                        stop = min(start + chunk_size, n)
                        rows = slice(start, stop)
                        keep = np.ones(stop - start, dtype=bool)
                        if preset.pass_filter:
                            keep = np.isin(hs.read_obs_column(fh, "pass_filter", rows).astype(str), preset.pass_filter)
                        if not keep.any():
                            continue
                        counts = hs.read_rows(X, rows)[keep]
                        check_counts(counts, p, rows=(start, stop))
                        w.append(mapping.apply(counts), _chunk_obs(fh, rows, keep, columns, preset, have))
                        kept += int(keep.sum())
                    lines.append(f"{p.name}: {kept:,} of {n:,} cells kept (pass_filter in {preset.pass_filter})")
    except hs.H5adError as exc:
        raise IngestError(str(exc)) from None
    return finish_report(out, lines, log)
