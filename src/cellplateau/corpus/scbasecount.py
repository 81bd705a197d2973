"""``ingest --preset scbasecount``: the Arc Virtual Cell Atlas's scBaseCount (one ``.h5ad`` per sample) as a corpus.

Input: the organism's ``sample_metadata.parquet``
(``scbasecount/<release>/metadata/<feature_type>/<Organism_dir>/sample_metadata.parquet``). Samples are chosen
on it (organism, ``tech_10x``, ``cell_prep``, tissue, ``obs_count``; read with a pushed-down filter), then each
sample's ``h5ad/<feature_type>/<Organism_dir>/<SRX>.h5ad`` is streamed ``chunk_size`` cells at a time from the
layer asked for (``UniqueAndMult-EM`` by default; STARsolo's EM-resolved multi-mappers). The sample's metadata
is joined on ``SRX_accession``, barcodes (which repeat across samples) become ``SRX:barcode`` cell IDs,
sentinel strings (``unsure``, ``not specified``, empty) become missing values, and Ensembl ``var_names`` are
mapped onto the vocabulary (by default the first sample's genes, with ``var["gene_symbols"]``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.corpus import h5ad_stream as hs
from cellplateau.corpus.genes import map_genes
from cellplateau.corpus.ingest import MISSING, IngestError, IngestReport, check_counts, finish_report
from cellplateau.corpus.store import StoreWriter
from cellplateau.corpus.tahoe import vocabulary_from_var

SAMPLE_COLUMNS = ("entrez_id", "srx_accession", "file_path", "obs_count", "lib_prep", "tech_10x", "cell_prep",
                  "organism", "tissue", "tissue_ontology_term_id", "disease", "disease_ontology_term_id",
                  "perturbation", "cell_line", "antibody_derived_tag", "czi_collection_id", "czi_collection_name")
SENTINELS = ("unsure", "not specified", "", "nan", "none", "na")
LAYERS = ("UniqueAndMult-EM", "UniqueAndMult-Uniform")


class ScBaseCountPreset(BaseModel):
    """Which scBaseCount samples a corpus takes, and from which layer (``--where key=value``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    organism: list[str] | None = Field(None, description="keep samples of these organisms")
    tech_10x: list[str] | None = Field(None, description="keep these 10x chemistries (e.g. 3_prime_gex)")
    cell_prep: list[str] | None = Field(None, description="keep these preparations (single_cell, single_nucleus)")
    tissue: list[str] | None = Field(None, description="keep samples of these tissues")
    min_obs_count: int = Field(0, ge=0, description="keep samples with at least this many cells")
    max_samples: int | None = Field(None, ge=1, description="at most this many samples (in metadata order)")
    layer: str = Field("UniqueAndMult-EM", description=f"count layer of each .h5ad ({' or '.join(LAYERS)}, or X)")
    h5ad_dir: Path | None = Field(None, description="folder of the per-sample .h5ad files (default: the "
                                  "metadata folder with metadata/ replaced by h5ad/)")


def _is_sentinel(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy() | values.astype(str).str.strip().str.lower().isin(SENTINELS).to_numpy()


def clean(values, *, missing: str = MISSING) -> np.ndarray:
    """Strings with sentinels (``unsure``, ``not specified``, empty) replaced by the store's missing value."""
    s = pd.Series(values, dtype=object)
    return np.where(_is_sentinel(s), missing, s.astype(str)).astype(object)


def select_samples(metadata: str | Path, preset: ScBaseCountPreset) -> pd.DataFrame:
    """The rows of ``sample_metadata.parquet`` the preset keeps (filters pushed down to the Parquet reader)."""
    import pyarrow.dataset as pads

    path = Path(metadata)
    if not path.exists():
        raise IngestError(f"{path}: sample metadata not found")
    try:
        ds = pads.dataset(path, format="parquet")
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{path}: cannot be read as Parquet ({exc})") from None
    missing = [c for c in ("srx_accession", "file_path", "obs_count") if c not in ds.schema.names]
    if missing:
        raise IngestError(f"{path}: sample metadata has no column(s) {missing}; scBaseCount's has "
                          f"{list(SAMPLE_COLUMNS)}")
    f = pads.field("obs_count") >= preset.min_obs_count
    for col in ("organism", "tech_10x", "cell_prep", "tissue"):
        values = getattr(preset, col)
        if values is not None:
            if col not in ds.schema.names:
                raise IngestError(f"{path}: sample metadata has no column {col!r} to filter on")
            f = f & pads.field(col).isin(values)
    table = ds.to_table(filter=f).to_pandas()
    if preset.max_samples is not None:
        table = table.head(preset.max_samples)
    if table.empty:
        raise IngestError(f"{path}: no sample passes the filters {preset.model_dump(exclude_none=True)}")
    return table.reset_index(drop=True)


def _h5ad_dir(metadata: Path, preset: ScBaseCountPreset) -> Path:
    if preset.h5ad_dir is not None:
        return preset.h5ad_dir
    parts = list(metadata.resolve().parent.parts)
    if "metadata" not in parts:
        raise IngestError(f"{metadata}: not under a metadata/ folder; give h5ad_dir=FOLDER")
    i = len(parts) - 1 - parts[::-1].index("metadata")
    return Path(*parts[:i], "h5ad", *parts[i + 1 :])


STORE_FROM_SAMPLE = {"tissue": "tissue", "assay": "tech_10x", "dataset": "srx_accession", "donor": "srx_accession"}
EXTRA_SAMPLE = ("srx_accession", "organism", "cell_prep", "lib_prep", "disease", "perturbation", "cell_line",
                "tissue_ontology_term_id", "czi_collection_id")


def ingest_scbasecount(out: str | os.PathLike, metadata: str | os.PathLike, *,
                       preset: ScBaseCountPreset = ScBaseCountPreset(), vocabulary: pd.DataFrame | None = None,
                       chunk_size: int = 50_000, log: Callable[[str], None] | None = None) -> IngestReport:
    """Build a store at ``out`` from the scBaseCount samples that ``preset`` keeps."""
    metadata = Path(metadata)
    samples = select_samples(metadata, preset)
    folder = _h5ad_dir(metadata, preset)
    files = [folder / Path(str(fp)).name if str(fp).strip() else folder / f"{srx}.h5ad"
             for fp, srx in zip(samples["file_path"], samples["srx_accession"])]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        raise IngestError(f"{len(absent)} sample file(s) of {metadata} not found, e.g. {absent[0]} (set h5ad_dir)")
    lines = [f"{metadata}: {len(samples):,} samples pass the filters ({int(samples['obs_count'].sum()):,} cells)"]
    try:
        if vocabulary is None:
            with hs.open_h5ad(files[0]) as fh:
                vocabulary = vocabulary_from_var(hs.var_names(fh), hs.read_var_column(fh, "gene_symbols"))
        columns = ["cell_type", "tissue", "donor", "dataset", "assay", "cell_id", "cell_ontology_term_id",
                   *EXTRA_SAMPLE]
        with StoreWriter(out, vocabulary[["gene_symbol", "gene_id"]], data_dtype="int32",
                         provenance={"ingested_from": str(metadata), "preset": "scbasecount",
                                     "filters": preset.model_dump(mode="json")}) as w:
            for (_, sample), path in zip(samples.iterrows(), files):
                with hs.open_h5ad(path) as fh:
                    mapping = map_genes(hs.var_names(fh), vocabulary)
                    if mapping.n_mapped == 0:
                        raise IngestError(f"{path}: none of its genes are in the vocabulary (matched by {mapping.key})")
                    X = hs.matrix(fh, None if preset.layer == "X" else preset.layer, path=str(path))
                    n = hs.n_obs(fh)
                    have = set(hs.obs_columns(fh))
                    srx_col = "SRX_accession" if "SRX_accession" in have else None
                    for start in range(0, n, chunk_size):
                        rows = slice(start, min(start + chunk_size, n))
                        counts = hs.read_rows(X, rows)
                        check_counts(counts, path, rows=(rows.start, rows.stop))
                        barcodes = hs.read_obs_column(fh, "_index", rows).astype(str)
                        srx = (hs.read_obs_column(fh, srx_col, rows).astype(str) if srx_col
                               else np.full(len(barcodes), str(sample["srx_accession"])))
                        if srx_col and not np.all(srx == str(sample["srx_accession"])):
                            raise IngestError(f"{path}: SRX_accession {srx[srx != sample['srx_accession']][0]!r} "
                                              f"differs from the sample's {sample['srx_accession']!r}")
                        obs = pd.DataFrame({"cell_id": np.char.add(np.char.add(srx.astype(str), ":"), barcodes)})
                        for col in ("cell_type", "cell_ontology_term_id"):
                            obs[col] = clean(hs.read_obs_column(fh, col, rows)) if col in have else MISSING
                        for col, src in STORE_FROM_SAMPLE.items():
                            obs[col] = clean([sample.get(src)] * len(obs))
                        for col in EXTRA_SAMPLE:
                            obs[col] = clean([sample.get(col)] * len(obs))
                        w.append(mapping.apply(counts), obs[columns])
                    lines.append(f"{path.name}: {n:,} cells; {mapping.summary(path.name)}")
    except hs.H5adError as exc:
        raise IngestError(str(exc)) from None
    return finish_report(out, lines, log)
