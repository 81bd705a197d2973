"""Declared build steps: how downloaded files become one evaluation ``.h5ad`` with raw counts in ``X``.

* ``concatenate``: several ``.h5ad`` files (the intestine-on-chip IFN and media files) -> one, on the genes
  they share, with an obs column naming each cell's file; counts from ``raw.X`` when a file has it (the
  CELLxGENE layout: normalised values in ``X``), else ``X``, or the layer named;
* ``weizmann_3ca``: a Curated Cancer Cell Atlas zip (Kim et al. 2020 lung adenocarcinoma) -> ``.h5ad``;
* ``tahoe100m``: one drug's cells and the controls of its cell lines, cut from the Tahoe-100M plates by
  streaming (:mod:`cellplateau.evaluation.tahoe_sets`).

Each step writes to the path it is given (a temporary beside the target; the caller renames it).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellplateau.evaluation.sources import ConcatenateStep, Downloader, DownloadError, Tahoe100mStep, Weizmann3caStep


def _counts(adata, layer: str, path: Path, name: str):
    """The counts matrix and its gene table of one file."""
    if layer == "auto":
        layer = "raw" if adata.raw is not None else "X"
    if layer == "raw":
        if adata.raw is None:
            raise DownloadError(f"evaluation dataset {name!r}: {path} has no raw.X (layer 'raw')")
        return adata.raw.X, adata.raw.var
    if layer == "X":
        return adata.X, adata.var
    if layer not in adata.layers:
        raise DownloadError(f"evaluation dataset {name!r}: {path} has no layer {layer!r}; layers are "
                            f"{list(adata.layers.keys())}")
    return adata.layers[layer], adata.var


def concatenate(step: ConcatenateStep, inputs: list[Path], out: Path, *, name: str,
                keys: list[str] | None = None) -> None:
    """Cells of every input on the genes all of them share (in the first file's order); ``keys`` name the
    inputs in the ``label`` column (default: their file names)."""
    import anndata as ad

    parts = []
    for p in inputs:
        adata = ad.read_h5ad(p)
        X, var = _counts(adata, step.layer, p, name)
        parts.append(ad.AnnData(X=sp.csr_matrix(X), obs=adata.obs.copy(), var=var.copy()))
    keys = keys or [p.name.removesuffix(".h5ad") for p in inputs]
    joined = ad.concat(parts, join="inner", label=step.label, keys=keys, index_unique="-", merge="first")
    if joined.n_vars == 0:
        raise DownloadError(f"evaluation dataset {name!r}: the files {keys} share no gene")
    joined.write_h5ad(out)


def _member(zf: zipfile.ZipFile, *, suffix: str, contains: str = "", name: str) -> str:
    found = [m for m in zf.namelist() if m.lower().endswith(suffix.lower()) and contains.lower() in
             Path(m).name.lower() and not Path(m).name.startswith(".")]
    if not found:
        raise DownloadError(f"evaluation dataset {name!r}: the 3CA zip has no member ending in {suffix!r}"
                            f"{f' containing {contains!r}' if contains else ''}; members are {zf.namelist()[:20]}")
    return sorted(found, key=len)[0]


def weizmann_3ca(step: Weizmann3caStep, inputs: list[Path], out: Path, *, name: str) -> None:
    """A 3CA study zip -> ``.h5ad``: ``Exp_data_UMIcounts.mtx`` (genes x cells or cells x genes, told apart by
    the sizes of ``Genes.txt`` and ``Cells.csv``), ``Cells.csv`` as obs (first column: the cell names),
    ``Genes.txt`` as var names, and the sample table ``Meta-data.csv`` joined on ``sample_key`` when present."""
    import anndata as ad
    import scipy.io

    with zipfile.ZipFile(inputs[0]) as zf:
        mtx = _member(zf, suffix=".mtx", contains=step.matrix, name=name)
        genes = pd.read_csv(io.BytesIO(zf.read(_member(zf, suffix="genes.txt", name=name))), header=None,
                            sep="\t")[0].astype(str).to_numpy()
        cells = pd.read_csv(io.BytesIO(zf.read(_member(zf, suffix="cells.csv", name=name))))
        meta = None
        if any(Path(m).name.lower() in ("meta-data.csv", "metadata.csv") for m in zf.namelist()):
            member = next(m for m in zf.namelist() if Path(m).name.lower() in ("meta-data.csv", "metadata.csv"))
            meta = pd.read_csv(io.BytesIO(zf.read(member)))
        with zf.open(mtx) as fh:
            X = sp.csr_matrix(scipy.io.mmread(fh))
    if X.shape == (len(genes), len(cells)):
        X = X.T.tocsr()
    if X.shape != (len(cells), len(genes)):
        raise DownloadError(f"evaluation dataset {name!r}: {mtx} is {X.shape[0]} x {X.shape[1]} but the zip lists "
                            f"{len(cells)} cells and {len(genes)} genes")
    obs = cells.set_index(cells.columns[0])
    obs.index = obs.index.astype(str)
    if meta is not None and step.sample_key in obs.columns and step.sample_key in meta.columns:
        extra = meta.drop_duplicates(step.sample_key).set_index(step.sample_key)
        extra = extra[[c for c in extra.columns if c not in obs.columns]]
        obs = obs.join(extra, on=step.sample_key)
    for col in obs.columns:
        if obs[col].dtype == object:
            obs[col] = obs[col].astype(str).replace({"nan": np.nan})
    ad.AnnData(X=X.astype(np.float32), obs=obs, var=pd.DataFrame(index=pd.Index(genes, name="gene"))).write_h5ad(out)


def run_step(step, inputs: list[Path], out: Path, *, name: str, download: Downloader,
             keys: list[str] | None = None) -> None:
    """Run the declared ``step`` on the downloaded ``inputs`` (in spec order, named ``keys``), writing ``out``."""
    if isinstance(step, ConcatenateStep):
        concatenate(step, inputs, out, name=name, keys=keys)
    elif isinstance(step, Weizmann3caStep):
        weizmann_3ca(step, inputs, out, name=name)
    elif isinstance(step, Tahoe100mStep):
        from cellplateau.evaluation.tahoe_sets import build_from_step

        build_from_step(step, inputs, out, name=name, download=download)
    else:                       # pragma: no cover - the spec's union admits only the steps above
        raise TypeError(f"unknown build step {step!r}")
