"""The reference's perturbation sets, cut from Tahoe-100M by streaming.

DenAdel et al. evaluate perturbation response on 4 drugs x 4 cell lines of Tahoe-100M, one file per drug
(the drug's cells and the ``DMSO_TF`` controls of the same lines), ``pass_filter == "full"``, with one line
held out per drug (:data:`REFERENCE_HELD_OUT`). Which plates hold a drug comes from
``metadata/obs_metadata.parquet`` (read with a pushed-down filter: only the matching rows reach memory);
each plate file is then opened with ``h5py`` (never ``read_h5ad``: a plate has ~7 M cells), the rows are
found from its categorical obs codes, and their counts are read in batches and appended to the output
file, so memory is one batch plus the kept cells' obs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cellplateau.corpus import h5ad_stream as hs
from cellplateau.evaluation.sources import Downloader, DownloadError, Tahoe100mStep

REFERENCE_DRUGS = ("Dinaciclib", "Homoharringtonine", "PH-797804", "TAK-901")
REFERENCE_CELL_LINES = ("LoVo", "PANC-1", "NCI-H2030", "BT-474")
REFERENCE_HELD_OUT = {"Dinaciclib": "NCI-H2030", "Homoharringtonine": "LoVo", "PH-797804": "BT-474",
                      "TAK-901": "PANC-1"}
FILTER_COLUMNS = ("plate", "drug", "cell_name", "pass_filter")


class TahoeError(DownloadError):
    """The Tahoe inputs do not hold what the cut asks for; the message names the file and the value."""


def plates_of(obs_metadata: str | Path, *, drug: str, cell_lines: list[str], control: str = "DMSO_TF",
              pass_filter: str = "full") -> pd.DataFrame:
    """Cells per (plate, drug) of ``drug`` and ``control`` in ``cell_lines`` passing ``pass_filter``, from
    ``obs_metadata.parquet`` (columns ``plate, drug, cell_name, pass_filter``; the filter is pushed down)."""
    import pyarrow.dataset as pads

    path = Path(obs_metadata)
    try:
        dataset = pads.dataset(path, format="parquet")
    except Exception as exc:  # noqa: BLE001
        raise TahoeError(f"{path}: cannot be read as Parquet ({exc})") from None
    missing = [c for c in FILTER_COLUMNS if c not in dataset.schema.names]
    if missing:
        raise TahoeError(f"{path}: obs metadata has no column(s) {missing}; columns are {dataset.schema.names}")
    f = (pads.field("drug").isin([drug, control]) & pads.field("cell_name").isin(list(cell_lines))
         & (pads.field("pass_filter") == pass_filter))
    table = dataset.to_table(columns=["plate", "drug", "cell_name"], filter=f).to_pandas()
    counts = table.groupby(["plate", "drug"], observed=True).size().rename("n_cells").reset_index()
    if not (counts["drug"] == drug).any():
        raise TahoeError(f"{path}: no cell of drug {drug!r} in cell lines {list(cell_lines)} with pass_filter == "
                         f"{pass_filter!r}")
    return counts


def _plate_file(template: str, plate: str, download: Downloader | None) -> Path:
    where = template.format(plate=plate)
    if "://" in where and not where.startswith("file://"):
        if download is None:
            raise TahoeError(f"plate {plate!r}: {where} is remote and no downloader was given")
        return download(where.rstrip("/").rsplit("/", 1)[-1], where)
    return Path(where.removeprefix("file://"))


class _H5adAppender:
    """Write an ``.h5ad`` whose CSR ``X`` grows batch by batch (anndata's on-disk sparse append)."""

    def __init__(self, path: Path):
        import h5py

        self.fh = h5py.File(path, "w")
        self.fh.attrs["encoding-type"] = "anndata"
        self.fh.attrs["encoding-version"] = "0.1.0"
        self.X = None
        self.n = 0

    def append(self, X) -> None:
        import anndata as ad

        if X.shape[0] == 0:
            return
        if self.X is None:
            ad.io.write_elem(self.fh, "X", X)
            self.X = ad.io.sparse_dataset(self.fh["X"])
        else:
            self.X.append(X)
        self.n += X.shape[0]

    def finish(self, obs: pd.DataFrame, var: pd.DataFrame) -> None:
        import anndata as ad

        for key in ("layers", "obsm", "obsp", "varm", "varp", "uns"):
            ad.io.write_elem(self.fh, key, {})
        ad.io.write_elem(self.fh, "obs", obs)
        ad.io.write_elem(self.fh, "var", var)
        self.fh.close()

    def abort(self) -> None:
        path = Path(self.fh.filename)
        self.fh.close()
        path.unlink(missing_ok=True)                # nothing half-written is left behind


def cut_perturbation_set(plates: dict[str, Path], out: str | Path, *, drug: str, cell_lines: list[str],
                         control: str = "DMSO_TF", pass_filter: str = "full", expected: pd.DataFrame | None = None,
                         batch: int = 20_000, log: Callable[[str], None] | None = None) -> int:
    """Write ``out``: the cells of ``drug`` and ``control`` in ``cell_lines`` passing ``pass_filter`` from each
    plate file (``{plate name: path}``), every obs column kept. ``expected`` (from :func:`plates_of`) is checked
    against what each plate holds. Returns the number of cells written."""
    out = Path(out)
    writer = _H5adAppender(out)
    obs_parts, var_ref = [], None
    try:
        for plate, path in plates.items():
            with hs.open_h5ad(path) as fh:
                rows = hs.rows_matching(fh, {"drug": [drug, control], "cell_name": list(cell_lines),
                                             "pass_filter": [pass_filter]}, path=str(path))
                names = hs.var_names(fh)
                if var_ref is None:
                    var_ref = names
                elif not np.array_equal(names, var_ref):
                    raise TahoeError(f"{path}: its genes differ from the first plate's ({len(names)} vs "
                                     f"{len(var_ref)}); plates of one release share one gene list")
                if expected is not None:
                    want = expected[expected["plate"].astype(str) == plate]
                    drugs = hs.read_obs_column(fh, "drug", rows, path=str(path))
                    for d, n in zip(want["drug"], want["n_cells"]):
                        if int((drugs == d).sum()) != int(n):
                            raise TahoeError(f"{path}: holds {int((drugs == d).sum())} cells of {d!r} but "
                                             f"obs_metadata.parquet lists {int(n)} on plate {plate!r}")
                if not len(rows):
                    continue
                X = hs.matrix(fh, path=str(path))
                for part in hs.iter_row_batches(rows, batch):
                    writer.append(hs.read_rows(X, part))
                cols = ["_index", *hs.obs_columns(fh)]
                obs = pd.DataFrame({c: hs.read_obs_column(fh, c, rows, path=str(path)) for c in cols})
                obs_parts.append(obs)
                if log:
                    log(f"{path}: {len(rows):,} cells of {drug!r} / {control!r} in {len(cell_lines)} lines")
        if writer.n == 0:
            raise TahoeError(f"no cell of {drug!r} found in plates {list(plates)}")
        obs = pd.concat(obs_parts, ignore_index=True)
        index = obs.pop("_index").astype(str)
        if index.duplicated().any():
            index = index + "-" + obs["plate"].astype(str) if "plate" in obs.columns else index + "-" + \
                pd.Series(np.arange(len(index))).astype(str)
        obs.index = pd.Index(index.to_numpy(), name=None)
        for c in obs.columns:
            if obs[c].dtype == object:
                obs[c] = obs[c].astype("category")
        writer.finish(obs, pd.DataFrame(index=pd.Index(var_ref)))
    except BaseException:
        writer.abort()
        raise
    return writer.n


def build_from_step(step: Tahoe100mStep, inputs: list[Path], out: Path, *, name: str,
                    download: Downloader | None = None) -> None:
    """The ``tahoe100m`` build step: ``inputs[0]`` is ``obs_metadata.parquet``; the plates come from
    ``step.plates`` (local files, or URLs fetched through ``download`` and recorded in the lock)."""
    counts = plates_of(inputs[0], drug=step.drug, cell_lines=step.cell_lines, control=step.control,
                       pass_filter=step.pass_filter)
    drug_plates = sorted(counts.loc[counts["drug"] == step.drug, "plate"].astype(str).unique())
    keep = drug_plates if step.controls_from == "same_plates" else sorted(counts["plate"].astype(str).unique())
    expected = counts[counts["plate"].astype(str).isin(keep)]
    plates = {p: _plate_file(step.plates, p, download) for p in keep}
    try:
        cut_perturbation_set(plates, out, drug=step.drug, cell_lines=step.cell_lines, control=step.control,
                             pass_filter=step.pass_filter, expected=expected)
    except hs.H5adError as exc:
        raise TahoeError(f"evaluation dataset {name!r}: {exc}") from None
