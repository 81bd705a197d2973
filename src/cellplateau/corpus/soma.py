"""Build a corpus store from a TileDB-SOMA experiment: a local one, or the CELLxGENE Census.

The obs table is read once (only the columns needed, with the SOMA value filter pushed down), optionally
filtered by cell type (:mod:`cellplateau.corpus.presets`), then the counts of the kept cells are read
``chunk_size`` cells at a time (SOMA coordinate reads on sorted ``soma_joinid`` s), converted to CSR over the kept
genes and appended to the store. Peak memory is the obs columns plus one chunk, never the matrix.

``tiledbsoma`` is imported inside the functions; ``cellxgene_census`` only when a Census version is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellplateau.corpus.ingest import MISSING, IngestError, IngestReport, check_counts
from cellplateau.corpus.store import OBS_COLUMNS, CorpusStore, StoreWriter

# store column -> Census obs column (CELLxGENE schema names)
CENSUS_OBS_MAP: dict[str, str] = {"cell_type": "cell_type", "tissue": "tissue", "donor": "donor_id",
                                  "dataset": "dataset_id", "assay": "assay",
                                  "cell_type_ontology_term_id": "cell_type_ontology_term_id"}


@dataclass(frozen=True)
class SomaSource:
    """Where the experiment is: a SOMA URI (local path or ``s3://``), or a Census version and organism."""

    uri: str | None = None
    census_version: str | None = None
    organism: str = "homo_sapiens"
    measurement: str = "RNA"
    layer: str = "raw"

    def describe(self) -> str:
        if self.census_version:
            return f"census {self.census_version} / {self.organism} / {self.measurement} / X[{self.layer}]"
        return f"{self.uri} / {self.measurement} / X[{self.layer}]"


@contextmanager
def open_experiment(source: SomaSource) -> Iterator:
    """Open the experiment read-only (the Census through ``cellxgene_census.open_soma``)."""
    import tiledbsoma

    if source.census_version:
        import cellxgene_census

        with cellxgene_census.open_soma(census_version=source.census_version, uri=source.uri) as census:
            yield census["census_data"][source.organism]
        return
    if not source.uri:
        raise IngestError("a SOMA source needs a URI or a Census version")
    try:
        exp = tiledbsoma.Experiment.open(source.uri)
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{source.uri}: cannot be opened as a SOMA experiment ({exc})") from exc
    with exp:
        yield exp


def read_var(exp, source: SomaSource, *, var_filter: str | None) -> pd.DataFrame:
    """Kept genes in ``soma_joinid`` order: ``soma_joinid``, ``gene_symbol``, ``gene_id``."""
    if source.measurement not in exp.ms:
        raise IngestError(f"{source.describe()}: no measurement {source.measurement!r}; has {list(exp.ms.keys())}")
    var_df = exp.ms[source.measurement].var
    names = set(var_df.schema.names)
    cols = ["soma_joinid"] + [c for c in ("feature_id", "feature_name") if c in names]
    try:
        var = var_df.read(value_filter=var_filter, column_names=cols).concat().to_pandas()
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{source.describe()}: var filter {var_filter!r} failed ({exc}); var columns are "
                          f"{sorted(names)}") from exc
    if var.empty:
        raise IngestError(f"{source.describe()}: no gene passes the var filter {var_filter!r}")
    var = var.sort_values("soma_joinid", ignore_index=True)
    return pd.DataFrame({"soma_joinid": var["soma_joinid"].to_numpy(np.int64),
                         "gene_symbol": var.get("feature_name", pd.Series([""] * len(var))).astype(str).to_numpy(),
                         "gene_id": var.get("feature_id", pd.Series([""] * len(var))).astype(str).to_numpy()})


def read_obs(exp, source: SomaSource, *, obs_filter: str | None, columns: list[str]) -> pd.DataFrame:
    """``soma_joinid`` plus the wanted obs columns that exist, for the cells passing the filter (joinid order).

    Text columns are dictionary-encoded batch by batch, so 22 M cells cost a few bytes per cell and column
    (categoricals), never Python strings.
    """
    import pyarrow as pa

    names = set(exp.obs.schema.names)
    cols = ["soma_joinid"] + [c for c in dict.fromkeys(columns) if c in names and c != "soma_joinid"]
    batches = []
    try:
        for tbl in exp.obs.read(value_filter=obs_filter, column_names=cols):
            batches.append(pa.table({c: _encode(tbl.column(c)) for c in tbl.column_names}))
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{source.describe()}: obs filter {obs_filter!r} failed ({exc}); obs columns are "
                          f"{sorted(names)}") from exc
    if not batches:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "soma_joinid" else "category") for c in cols})
    obs = pa.concat_tables(batches, promote_options="permissive").unify_dictionaries().to_pandas()
    for c in obs.columns:
        if c != "soma_joinid" and obs[c].dtype == object:
            obs[c] = obs[c].astype("category")
    return obs.sort_values("soma_joinid", ignore_index=True)


def _encode(col):
    """A text column as a dictionary column (other types unchanged)."""
    import pyarrow as pa

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = col.dictionary_encode()
    if pa.types.is_dictionary(col.type) and col.type.value_type != pa.string():
        col = col.cast(pa.dictionary(pa.int32(), pa.string()))
    elif pa.types.is_dictionary(col.type) and col.type.index_type != pa.int32():
        col = col.cast(pa.dictionary(pa.int32(), col.type.value_type))
    return col


def _store_obs(obs: pd.DataFrame, obs_map: Mapping[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=obs.index)
    for col in dict.fromkeys([*OBS_COLUMNS, *obs_map]):
        src = obs_map.get(col, col)
        out[col] = obs[src] if src in obs.columns else MISSING
    out["soma_joinid"] = obs["soma_joinid"].to_numpy()
    return out


def read_counts(exp, source: SomaSource, obs_ids: np.ndarray, var_ids: np.ndarray) -> sp.csr_matrix:
    """Counts of ``obs_ids`` (sorted) x ``var_ids`` (sorted) as CSR in that row/column order."""
    X = exp.ms[source.measurement].X
    if source.layer not in X:
        raise IngestError(f"{source.describe()}: no X layer {source.layer!r}; layers are {list(X.keys())}")
    tbl = X[source.layer].read(coords=(obs_ids, var_ids)).tables().concat()
    rows = np.searchsorted(obs_ids, tbl.column("soma_dim_0").to_numpy())
    cols = np.searchsorted(var_ids, tbl.column("soma_dim_1").to_numpy())
    data = tbl.column("soma_data").to_numpy()
    mat = sp.csr_matrix((data, (rows, cols)), shape=(len(obs_ids), len(var_ids)))
    mat.sum_duplicates()
    return mat


def ingest_soma(out: str | os.PathLike, source: SomaSource, *, obs_filter: str | None = None,
                var_filter: str | None = None, obs_map: Mapping[str, str] | None = None,
                gene_ids: Sequence[str] | None = None,
                cell_filter: Callable[[pd.DataFrame], tuple[np.ndarray, list[str]]] | None = None,
                extra_columns: tuple[str, ...] = (), chunk_size: int = 50_000,
                log: Callable[[str], None] | None = None, progress: bool = False) -> IngestReport:
    """Build a store at ``out`` from the SOMA experiment ``source``.

    ``gene_ids`` keeps only those ``feature_id`` s (after ``var_filter``).
    ``obs_filter``/``var_filter`` are SOMA value filters (e.g. ``"is_primary_data == True and assay in
    ['10x 3\\' v3']"``). ``obs_map`` maps store column -> obs column (default: the Census names).
    ``cell_filter(obs) -> (keep mask, report lines)`` drops cells after reading obs (e.g. the scTab cell-type
    rule); ``extra_columns`` are obs columns it needs. Counts are read ``chunk_size`` cells at a time;
    ``progress`` shows the cells read, the chunk and the ETA (:mod:`cellplateau._progress`).
    """
    from cellplateau._progress import progress as progress_bar

    obs_map = dict(CENSUS_OBS_MAP if obs_map is None else obs_map)
    lines: list[str] = []
    with open_experiment(source) as exp:
        var = read_var(exp, source, var_filter=var_filter)
        if gene_ids is not None:
            var = var[var["gene_id"].isin(set(gene_ids))].reset_index(drop=True)
            if var.empty:
                raise IngestError(f"{source.describe()}: none of the {len(gene_ids)} given gene IDs is in var")
        obs = read_obs(exp, source, obs_filter=obs_filter, columns=[*obs_map.values(), *extra_columns])
        lines.append(f"{source.describe()}: {len(obs):,} cells pass the obs filter, {len(var):,} genes the var filter")
        if cell_filter is not None:
            keep, more = cell_filter(obs)
            lines += more
            obs = obs.loc[keep].reset_index(drop=True)
        if obs.empty:
            raise IngestError(f"{source.describe()}: no cell passes the filters")
        store_obs = _store_obs(obs, obs_map)
        del obs
        var_ids = var["soma_joinid"].to_numpy()
        obs_ids = store_obs["soma_joinid"].to_numpy()
        provenance = {"ingested_from": source.describe(), "uri": source.uri, "census_version": source.census_version,
                      "obs_filter": obs_filter, "var_filter": var_filter, "obs_map": obs_map}
        n_chunks = -(-len(obs_ids) // chunk_size)
        with StoreWriter(out, var[["gene_symbol", "gene_id"]], data_dtype="int32", provenance=provenance) as w, \
                progress_bar("SOMA read", total=len(obs_ids), unit="cells", enabled=progress) as bar:
            for i, start in enumerate(range(0, len(obs_ids), chunk_size), 1):
                ids = obs_ids[start : start + chunk_size]
                X = read_counts(exp, source, ids, var_ids)
                check_counts(X, source.describe(), rows=(start, start + len(ids)))
                w.append(X, store_obs.iloc[start : start + len(ids)])
                bar.advance(len(ids), note=f"chunk {i}/{n_chunks}")
    store = CorpusStore(out)
    lines.append(f"wrote {store.n_cells:,} cells x {store.n_genes:,} genes")
    for line in lines:
        if log:
            log(line)
    return IngestReport(store.n_cells, store.n_genes, lines)


def ingest_from_cli(out: str | os.PathLike, *, uri: str | None, census_version: str | None, organism: str,
                    layer: str | None, obs_filter: str | None, var_filter: str | None, preset: str | None,
                    genes: Path | None, obs_map: Mapping[str, str], chunk_size: int,
                    log: Callable[[str], None] | None = None, progress: bool = False) -> IngestReport:
    """``cellplateau ingest --soma/--census-version``: resolve the preset and the gene list, then ingest."""
    from cellplateau.corpus.presets import ScTabPreset, keep_cell_types

    source = SomaSource(uri=uri, census_version=census_version, organism=organism, layer=layer or "raw")
    gene_ids = None
    if genes is not None:
        if not genes.exists():
            raise IngestError(f"{genes}: gene list not found")
        gene_ids = [g.strip() for g in genes.read_text().splitlines() if g.strip()]
    cell_filter, extra = None, ()
    if preset is not None:
        if preset != "sctab":
            raise IngestError(f"--preset {preset!r}: unknown; presets are ['sctab']")
        p = ScTabPreset(organism=organism)
        if obs_filter is not None:
            raise IngestError("--preset sctab sets the obs filter; do not combine it with --obs-filter")
        obs_filter = p.obs_filter
        if var_filter is None and gene_ids is None:
            var_filter = p.var_filter
        rule = p.cell_types
        extra = (rule.term_key, rule.dataset_key, rule.donor_key)

        def cell_filter(obs):
            return keep_cell_types(obs, rule)
    merged = {**CENSUS_OBS_MAP, **obs_map}
    return ingest_soma(out, source, obs_filter=obs_filter, var_filter=var_filter, obs_map=merged, gene_ids=gene_ids,
                       cell_filter=cell_filter, extra_columns=extra, chunk_size=chunk_size, log=log,
                       progress=progress)
