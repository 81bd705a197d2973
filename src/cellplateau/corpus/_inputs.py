"""The inputs of an ingest: each ``.h5ad`` opened behind one guard, surveyed once, and checked against the rest.

:func:`guarded` is the only way an input is touched: anything a broken file raises (h5py, anndata, numpy)
becomes one :class:`IngestError` line naming the file and what it is not. :func:`survey` reads what the
ingest must know before writing (gene names, obs column names, cell count, organism) from the file's header
groups, without loading obs or the matrix; the rows are then read once, by the ingest itself.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cellplateau.corpus.genes import strip_version

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class IngestError(ValueError):
    """An input file cannot become part of a corpus; the message names the file and the problem."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _what_is_wrong(path: Path, exc: BaseException) -> str:
    msg = str(exc)
    if m := re.search(r"truncated file: eof = (\d+), sblock->base_addr = \d+, stored_eof = (\d+)", msg):
        return f"is truncated: {int(m[1]):,} of its {int(m[2]):,} bytes are there"
    if "file signature not found" in msg:
        return "is not an HDF5 file (an .h5ad is HDF5)"
    if m := re.search(r"object '([^']+)' doesn't exist", msg):
        return f"is an HDF5 file but not an AnnData .h5ad (no '{m[1]}' group)"
    if m := re.search(r"Unable to (?:synchronously )?\w+ [^(]*\(([^)]+)\)", msg):
        return f"is a damaged HDF5 file (HDF5: {m[1]})"
    if isinstance(exc, KeyError):
        return f"is an HDF5 file but not an AnnData .h5ad (no {_first_line(exc)} group)"
    return f"cannot be read as .h5ad ({type(exc).__name__}: {_first_line(exc)})"


@contextlib.contextmanager
def guarded(path: Path, doing: str = "") -> Iterator[None]:
    """Turn any failure reading ``path`` into one :class:`IngestError` line naming it (``doing``: what was read).

    Machine faults (permission denied, disk full) pass through as ``OSError`` with their errno, so the
    command line names them as such.
    """
    try:
        yield
    except IngestError:
        raise
    except OSError as exc:
        if exc.errno is not None and not isinstance(exc, FileNotFoundError):
            raise
        raise IngestError(f"{path}: {_what_is_wrong(path, exc)}{doing}") from None
    except Exception as exc:  # noqa: BLE001  (h5py/anndata raise many types for a damaged file)
        raise IngestError(f"{path}: {_what_is_wrong(path, exc)}{doing}") from None


def _check_signature(path: Path) -> None:
    if not path.exists():
        raise IngestError(f"{path}: file not found")
    if path.is_dir():
        raise IngestError(f"{path}: is a folder, not an .h5ad file")
    with open(path, "rb") as fh:          # PermissionError passes through (a machine fault, exit code 1)
        head = fh.read(64)
    if not head:
        raise IngestError(f"{path}: is empty (0 bytes), not an .h5ad file")
    if not head.startswith(HDF5_SIGNATURE):
        text = head[:24].decode("ascii", "replace")
        raise IngestError(f"{path}: is not an HDF5 file (an .h5ad is HDF5); it starts with {text!r}")


@dataclass(frozen=True)
class InputSurvey:
    """What an input holds, read from its header groups: genes (as named by ``gene_key``), obs columns,
    cell count, layers, and the organism when the file says it (``obs["organism"]``) or its Ensembl IDs do."""

    path: Path
    genes: pd.Index
    obs_columns: tuple[str, ...]
    n_obs: int
    layers: tuple[str, ...]
    organism: str | None


_ENSEMBL_SPECIES = {"ENSG": "human", "ENSMUSG": "mouse", "ENSRNOG": "rat", "ENSDARG": "zebrafish",
                    "ENSMFAG": "macaque", "ENSMMUG": "macaque", "ENSSSCG": "pig", "ENSBTAG": "cattle",
                    "ENSGALG": "chicken"}


def _organism(genes: pd.Index, obs_organism: list[str]) -> str | None:
    if len(obs_organism) == 1:
        return obs_organism[0]
    prefixes = Counter(m[1] for g in genes[:2000] if (m := re.match(r"(ENS[A-Z]*G)\d", str(g))))
    if prefixes:
        prefix, n = prefixes.most_common(1)[0]
        if n >= 0.9 * min(len(genes), 2000):
            return _ENSEMBL_SPECIES.get(prefix, f"species with Ensembl prefix {prefix}")
    return None


def survey(path: str | os.PathLike, *, gene_key: str | None = None) -> InputSurvey:
    """Read an input's header (var, obs column names, shape) behind the guard; refuse a file that is not an
    AnnData ``.h5ad`` with one line naming it."""
    import h5py
    from anndata.io import read_elem

    path = Path(path)
    _check_signature(path)
    with guarded(path), h5py.File(path, "r") as f:
        var = read_elem(f["var"])
        obs = f["obs"]
        columns = tuple(str(c) for c in obs.attrs.get("column-order", []))
        n_obs = len(obs[obs.attrs.get("_index", "_index")])
        layers = tuple(f["layers"].keys()) if "layers" in f else ()
        organisms = []
        if "organism" in columns:
            organisms = sorted({str(v) for v in pd.Series(read_elem(obs["organism"])).dropna().unique()})
    if gene_key is None:
        genes = pd.Index(var.index.astype(str))
    elif gene_key not in var.columns:
        raise IngestError(f"{path}: var has no column {gene_key!r} (gene_key); columns are {list(var.columns)}")
    else:
        genes = pd.Index(var[gene_key].astype(str))
    return InputSurvey(path, genes, columns, n_obs, layers, _organism(genes, organisms))


def check_shared_genes(inputs: Sequence[InputSurvey], *, min_shared: int = 1) -> None:
    """Refuse inputs that share fewer than ``min_shared`` genes with the other inputs, or that come from
    different organisms; the message gives the figures."""
    if len(inputs) < 2:
        return
    known = [s for s in inputs if s.organism]
    other = next((s for s in known if s.organism != known[0].organism), None)
    if other is not None:
        raise IngestError(f"{other.path}: its genes are {other.organism}, those of {known[0].path.name} "
                          f"{known[0].organism}: inputs come from different organisms and a corpus has one gene "
                          "vocabulary (pass --allow-disjoint to ingest them anyway)")
    sets = [set(strip_version(s.genes)) for s in inputs]
    seen = Counter(g for genes in sets for g in genes)
    shared = [sum(seen[g] > 1 for g in genes) for genes in sets]
    short = [i for i in range(len(inputs)) if shared[i] < min_shared]
    if short:          # name the input sharing least (on a tie the later: the first sets the vocabulary's order)
        i = min(reversed(short), key=lambda j: shared[j])
        others = [f"{inputs[j].path.name} ({shared[j]:,} of {len(sets[j]):,})" for j in short if j != i]
        raise IngestError(
            f"{inputs[i].path}: shares {shared[i]:,} of its {len(sets[i]):,} genes with the other inputs "
            f"({len(inputs) - 1} files); at least {min_shared:,} shared required (--min-shared-genes)"
            + (f"; also short: {', '.join(others)}" if others else "")
            + ". Renamed genes or another organism? Pass --allow-disjoint to ingest anyway")
