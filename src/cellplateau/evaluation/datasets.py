"""Evaluation datasets: a registry entry in the spec (:class:`DatasetSpec`), read from a local ``.h5ad``
with raw counts (downloaded first when it has a :class:`~cellplateau.evaluation.sources.DatasetSource`),
and mapped onto the corpus gene vocabulary.

Gene alignment is the fragile part of every foundation-model benchmark (a peer published wrong scVI
scores because genes were aligned against the wrong list), so it is an invariant here: genes are
matched by Ensembl ID or symbol, translated through the maintained GENCODE table where the two sides
use different identifiers; the overlap is recorded with every result; and a dataset whose overlap with
the vocabulary is below ``min_gene_overlap`` is refused, with the overlap in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.corpus.counts import count_problem, sample_rows
from cellplateau.corpus.genes import GeneMapping, map_genes
from cellplateau.corpus.ingest import IngestError, check_counts
from cellplateau.corpus.labels import is_unlabelled
from cellplateau.evaluation.sources import DatasetSource


class DatasetError(ValueError):
    """An evaluation dataset cannot be used; the message names the file and the key."""


class DatasetSpec(BaseModel):
    """An evaluation dataset: a local ``.h5ad`` with raw counts and the meaning of its columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="short name used in results")
    path: Path = Field(description="the .h5ad file (the download target when `source` is set)")
    source: DatasetSource | None = Field(None, description="where to download `path` from when it is missing")
    label_key: str | None = Field("cell_type", description="obs column with cell-type labels (cells without "
                                  "one are dropped)")
    batch_key: str | None = Field(None, description="obs column with batches (integration)")
    perturbation_key: str | None = Field(None, description="obs column naming each cell's perturbation; "
                                         "combinations as 'A+B'")
    control_value: str = Field("control", description="value of perturbation_key for control cells")
    context_key: str | None = Field(None, description="obs column with the context of a perturbation "
                                    "(cell line or cell type); one context is held out")
    gene_key: str | None = Field(None, description="var column with gene names (default: var_names)")
    layer: str | None = Field(None, description="matrix holding raw counts: a layer name, or `raw` for raw.X "
                              "(default: X, or raw.X when X is not counts, the CELLxGENE layout)")
    organism: str = Field("human", description="organism of the GENCODE table used to translate gene IDs")
    obs_filter: dict[str, list[str]] = Field(default_factory=dict, description="keep only cells whose obs "
                                             "column holds one of these values, e.g. {demuxlet_cls: [SNG]}")
    max_cells: int | None = Field(None, ge=10, description="seeded subsample cap")
    min_gene_overlap: float | None = Field(None, ge=0, le=1, description="refuse the dataset when it covers less "
                                           "than this share of the corpus vocabulary (default: evaluation."
                                           "min_gene_overlap)")
    tasks: list[str] | None = Field(None, description="tasks to run on it (default: every task whose columns "
                                    "it has)")

    def columns(self) -> dict[str, str]:
        """The obs columns this entry relies on, by role."""
        roles = {"label_key": self.label_key, "batch_key": self.batch_key,
                 "perturbation_key": self.perturbation_key, "context_key": self.context_key}
        out = {role: col for role, col in roles.items() if col}
        out.update({f"obs_filter.{col}": col for col in self.obs_filter})
        return out


@dataclass(frozen=True)
class EvalDataset:
    """An evaluation dataset in memory.

    ``counts`` are raw counts on the corpus vocabulary (cells x vocab genes; genes the dataset lacks
    are zero), ``own_counts`` the same cells on the dataset's own genes (used by baselines and as the
    target space of perturbation response). Columns a spec does not name are ``None``.
    """

    name: str
    counts: sp.csr_matrix
    own_counts: sp.csr_matrix
    labels: np.ndarray | None
    batches: np.ndarray | None
    mapping: GeneMapping
    n_dropped: int = 0
    perturbations: np.ndarray | None = None
    contexts: np.ndarray | None = None
    control_value: str = "control"
    own_genes: np.ndarray | None = None
    layer: str = "X"                 # the matrix read: X, raw (raw.X) or a layer name
    cell_ids: pd.DataFrame | None = None   # obs columns identifying cells across files (dataset_id, soma_joinid)

    @property
    def n_cells(self) -> int:
        return int(self.counts.shape[0])


def _source_genes(adata, path: Path, gene_key: str | None, layer: str = "X") -> pd.Index:
    """Gene names of the matrix ``layer`` reads (raw.X has its own var; a ``gene_key`` column missing there is
    looked up in ``var`` by gene ID)."""
    var = adata.raw.var if layer == "raw" else adata.var
    if gene_key is None:
        return pd.Index(var.index.astype(str))
    if gene_key in var.columns:
        return pd.Index(var[gene_key].astype(str))
    if layer == "raw" and gene_key in adata.var.columns and var.index.isin(adata.var.index).all():
        return pd.Index(adata.var[gene_key].reindex(var.index).astype(str))
    raise DatasetError(f"{path}: var has no column {gene_key!r} (gene_key); columns are {list(var.columns)}")


def _matrix(adata, layer: str):
    if layer == "X":
        return adata.X
    if layer == "raw":
        return adata.raw.X
    return adata.layers[layer]


def _layer_problem(adata, layer: str) -> str | None:
    """Why the matrix ``layer`` of ``adata`` (read backed or in memory) is not counts, from a seeded sample of
    2,000 cells; ``None`` when it is."""
    M = _matrix(adata, layer)
    rows = sample_rows(M.shape[0])
    return count_problem(M[rows] if len(rows) else sp.csr_matrix((0, M.shape[1])))


def _layer_name(layer: str) -> str:
    return {"X": "X", "raw": "raw.X"}.get(layer, f"layers[{layer!r}]")


def choose_layer(adata, path: Path, spec: DatasetSpec) -> str:
    """The matrix of raw counts to read: ``spec.layer`` when set (refused when it is not counts); else ``X``,
    or ``raw`` when X is not counts and raw.X is (the CELLxGENE layout). A file with no count matrix is refused
    naming the file and the layer to use."""
    available = (["raw"] if adata.raw is not None else []) + list(adata.layers.keys())
    if spec.layer is not None and spec.layer != "X" and spec.layer not in available:
        raise DatasetError(f"{path}: dataset {spec.name!r} has no matrix {_layer_name(spec.layer)} (layer); it has "
                           f"X{''.join(', ' + _layer_name(a) for a in available)}")
    wanted = spec.layer or "X"
    problem = _layer_problem(adata, wanted)
    if problem is None:
        return wanted
    alternatives = [a for a in available if a != wanted and _layer_problem(adata, a) is None]
    if spec.layer is None and "raw" in alternatives:
        return "raw"
    hint = (f"set layer: {alternatives[0]} in dataset {spec.name!r}" if alternatives else
            "no matrix of the file holds counts (X" + "".join(", " + _layer_name(a) for a in available) + ")")
    raise DatasetError(f"{path}: {_layer_name(wanted)} of dataset {spec.name!r} is not raw counts: {problem}; "
                       f"{hint}")


def _check_columns(obs_columns, path: Path, name: str, columns: dict[str, str]) -> None:
    for role, col in columns.items():
        if col not in obs_columns:
            raise DatasetError(f"{path}: obs has no column {col!r} ({role} of dataset {name!r}); "
                               f"columns are {list(obs_columns)}")


def _refuse_low_overlap(mapping: GeneMapping, path: Path, name: str, min_overlap: float) -> None:
    if mapping.n_mapped == 0:
        raise DatasetError(f"{path}: none of its genes are in the corpus vocabulary (matched by {mapping.key})")
    if mapping.overlap < min_overlap:
        raise DatasetError(
            f"{path}: dataset {name!r} covers {mapping.overlap:.1%} of the corpus vocabulary "
            f"({mapping.n_mapped} of {mapping.n_vocab} genes, matched by {mapping.key}), below the minimum "
            f"gene overlap {min_overlap:.1%}; lower min_gene_overlap only if the missing genes are truly "
            "absent from the assay")


ID_COLUMNS = ("dataset_id", "soma_joinid")    # kept with the cells for the evaluation-corpus overlap
MIN_CELLS = 10      # evaluation cells left after the filters below which a dataset is refused


def kept_cells(obs: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """Mask of the cells a dataset entry keeps: its ``obs_filter``, labelled cells only (one rule:
    :func:`cellplateau.corpus.labels.is_unlabelled`) when it has a ``label_key``, and cells with a
    perturbation value when it has a ``perturbation_key``."""
    keep = np.ones(len(obs), dtype=bool)
    for col, values in spec.obs_filter.items():
        keep &= obs[col].astype(str).isin([str(v) for v in values]).to_numpy()
    if spec.label_key:
        keep &= ~is_unlabelled(obs[spec.label_key])
    if spec.perturbation_key:
        keep &= ~obs[spec.perturbation_key].isna().to_numpy()
    return keep


def check_cells(obs: pd.DataFrame, path: Path, spec: DatasetSpec, *, needs: tuple[str, ...] = ()) -> None:
    """Refuse a dataset its tasks cannot use, before any work: fewer than :data:`MIN_CELLS` cells left, labels
    all missing or of one class (every model and baseline would score 1.0) when a task ``needs`` labels, and a
    perturbation context without control cells (its change cannot be measured)."""
    keep = kept_cells(obs, spec)
    where = f"{path}: dataset {spec.name!r}"
    if spec.label_key and "labels" in needs:
        labelled = ~is_unlabelled(obs[spec.label_key])
        if not labelled.any():
            raise DatasetError(f"{where}: every cell's {spec.label_key!r} (label_key) is missing or a sentinel such "
                               "as 'unknown'; a labelled task needs labels")
        classes = obs.loc[keep, spec.label_key].astype(str).unique()
        if len(classes) < 2:
            raise DatasetError(f"{where}: {spec.label_key!r} (label_key) has a single class "
                               f"({', '.join(map(repr, classes[:1]))}) after the filters; classification and "
                               "integration need at least two (every model and baseline would score 1.0)")
    if int(keep.sum()) < MIN_CELLS:
        raise DatasetError(f"{where}: only {int(keep.sum())} cells are left after the label and obs filters; need "
                           f"at least {MIN_CELLS}")
    if spec.perturbation_key and spec.context_key and "perturbations" in needs:
        pert = obs.loc[keep, spec.perturbation_key].astype(str)
        ctx = obs.loc[keep, spec.context_key].astype(str)
        with_control = set(ctx[pert == spec.control_value])
        lacking = sorted(set(ctx) - with_control)
        if lacking:
            raise DatasetError(f"{where}: context(s) {', '.join(map(repr, lacking[:5]))} ({spec.context_key!r}) have "
                               f"no control cells ({spec.perturbation_key!r} == {spec.control_value!r}, "
                               "control_value); a perturbation's change is measured against its context's controls")


def inspect_dataset(spec: DatasetSpec, vocab: pd.DataFrame, *, min_overlap: float = 0.0,
                    needs: tuple[str, ...] = ()) -> GeneMapping:
    """Plan-time check without reading the whole matrix: the file exists, the named columns exist, the cells are
    usable by the tasks (``needs``: the columns they require, see :func:`check_cells`), a sample of the matrix
    read is counts (:func:`choose_layer`), and the gene overlap with ``vocab`` is at least the minimum. Returns
    the gene mapping."""
    import anndata as ad

    path = Path(spec.path)
    if not path.exists():
        raise DatasetError(f"evaluation dataset {spec.name!r}: file not found: {path}")
    adata = ad.read_h5ad(path, backed="r")
    try:
        _check_columns(adata.obs.columns, path, spec.name, spec.columns())
        check_cells(adata.obs, path, spec, needs=needs)
        layer = choose_layer(adata, path, spec)
        mapping = map_genes(_source_genes(adata, path, spec.gene_key, layer), vocab, organism=spec.organism)
    finally:
        adata.file.close()
    _refuse_low_overlap(mapping, path, spec.name, spec.min_gene_overlap if spec.min_gene_overlap is not None
                        else min_overlap)
    return mapping


def load_dataset(spec: DatasetSpec, vocab: pd.DataFrame, *, seed: int = 0, min_overlap: float = 0.0) -> EvalDataset:
    """Read ``spec.path``, apply ``obs_filter``, drop unlabelled cells, subsample, map genes onto ``vocab``.

    The counts come from :func:`choose_layer` (X, raw.X or a named layer; recorded as ``layer``). Counts must be
    non-negative; fractional counts are kept (log-normalising families accept them,
    count models such as scVI refuse them naming the dataset unless asked to round). ``max_cells`` caps
    the dataset by a seeded subsample, stratified by label when there are labels.
    """
    import anndata as ad

    path = Path(spec.path)
    name = spec.name
    if not path.exists():
        raise DatasetError(f"evaluation dataset {name!r}: file not found: {path}")
    adata = ad.read_h5ad(path)
    obs = adata.obs
    _check_columns(obs.columns, path, name, spec.columns())
    keep = kept_cells(obs, spec)
    idx = np.flatnonzero(keep)
    if spec.max_cells is not None and len(idx) > spec.max_cells:
        rng = np.random.default_rng(seed)
        if spec.label_key:
            from cellplateau.evaluation.splits import stratified_sample

            idx = idx[stratified_sample(obs[spec.label_key].astype(str).to_numpy()[idx], spec.max_cells, rng)]
        else:
            idx = np.sort(rng.choice(idx, size=spec.max_cells, replace=False))
    if len(idx) < 4:
        raise DatasetError(f"{path}: only {len(idx)} cells are left after the label and obs filters "
                           f"(dataset {name!r}); need at least 4")
    layer = choose_layer(adata, path, spec)
    X = sp.csr_matrix(_matrix(adata, layer)[idx])
    try:
        check_counts(X, path, rows=(0, X.shape[0]), allow_fractional=True)
    except IngestError as exc:
        raise DatasetError(str(exc)) from exc
    genes = _source_genes(adata, path, spec.gene_key, layer)
    mapping = map_genes(genes, vocab, organism=spec.organism)
    _refuse_low_overlap(mapping, path, name, spec.min_gene_overlap if spec.min_gene_overlap is not None
                        else min_overlap)

    def column(key: str | None) -> np.ndarray | None:
        return None if key is None else obs[key].astype(str).to_numpy()[idx]

    return EvalDataset(
        name=name, counts=mapping.apply(X), own_counts=X, labels=column(spec.label_key),
        batches=column(spec.batch_key), mapping=mapping, n_dropped=int(adata.n_obs - keep.sum()),
        perturbations=column(spec.perturbation_key), contexts=column(spec.context_key),
        control_value=spec.control_value, own_genes=np.asarray(genes.astype(str)), layer=layer,
        cell_ids=obs.iloc[idx][[c for c in ID_COLUMNS if c in obs.columns]].reset_index(drop=True),
    )


def load_eval_dataset(path: str | Path, vocab: pd.DataFrame, *, name: str, label_key: str | None = "cell_type",
                      seed: int = 0, **fields) -> EvalDataset:
    """Shorthand for :func:`load_dataset` with the spec given as keyword arguments."""
    return load_dataset(DatasetSpec(name=name, path=Path(path), label_key=label_key, **fields), vocab, seed=seed)
