"""Download recipes for public evaluation datasets: one file (a URL or a CELLxGENE dataset ID), or several
files and a declared build step that turns them into the dataset's ``.h5ad`` (concatenation, a Weizmann 3CA
zip, a Tahoe-100M cut; :mod:`cellplateau.evaluation.build_steps`).

A SHA-256 in the spec is optional: the first download records every file's checksum in the study's lock
file (:mod:`cellplateau.evaluation.lockfile`) and later fetches and runs verify against it. Downloads go
through ``pooch`` (retries, a temporary file renamed only after the checksum matched): a file whose checksum
does not match is never left at the target path. A recipe is part of the dataset's identity, so a study
records what it evaluated on even when the file is re-downloaded elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal, Union

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

CELLXGENE_DATASETS = "https://datasets.cellxgene.cziscience.com"
_SHA = r"^[0-9a-f]{64}$"


class DownloadError(RuntimeError):
    """A dataset could not be fetched or failed its checksum; the message names the dataset and URL."""


class CensusDataset(BaseModel):
    """A CELLxGENE dataset named by its publication instead of its ID: the one dataset of a Census release whose
    collection DOI is ``collection_doi`` and whose title contains ``dataset_title`` (case-insensitive). Resolved
    at fetch time from the release's ``census_info/datasets`` table; the lock file records the dataset ID found."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    census_version: str = Field("2023-05-15", description="Census release (the reference corpus's)")
    collection_doi: str = Field(description="DOI of the publication's CELLxGENE collection, e.g. 10.1038/...")
    dataset_title: str = Field("", description="substring of the dataset's title (empty: the collection's only one)")

    def describe(self) -> str:
        return f"census {self.census_version} dataset of doi:{self.collection_doi} titled ~{self.dataset_title!r}"


def resolve_census_dataset(datasets: pd.DataFrame, ref: CensusDataset, *, name: str) -> pd.Series:
    """The row of a Census ``datasets`` table (columns ``collection_doi, dataset_id, dataset_title,
    dataset_h5ad_path, dataset_total_cell_count``) that ``ref`` names; anything but one match is an error that
    lists the candidates."""
    doi = datasets["collection_doi"].astype(str).str.lower().str.removeprefix("https://doi.org/")
    in_doi = datasets[doi == ref.collection_doi.lower().removeprefix("https://doi.org/")]
    hits = in_doi[in_doi["dataset_title"].astype(str).str.lower().str.contains(ref.dataset_title.lower(), regex=False)]
    if len(hits) == 1:
        return hits.iloc[0]
    pool = hits if len(hits) else in_doi
    listed = "; ".join(f"{r.dataset_title!r} ({r.dataset_total_cell_count:,} cells, {r.dataset_id})"
                       for r in pool.itertuples()) or "none"
    what = "several datasets match" if len(hits) else "no dataset matches"
    raise DownloadError(f"evaluation dataset {name!r}: {what} {ref.describe()}; the collection holds: {listed}")


def census_h5ad_url(ref: CensusDataset, *, name: str) -> tuple[str, str]:
    """``(dataset_id, https URL of its source .h5ad in that release)``; needs the network (cellxgene_census)."""
    import cellxgene_census

    try:
        with cellxgene_census.open_soma(census_version=ref.census_version) as census:
            table = census["census_info"]["datasets"].read().concat().to_pandas()
        row = resolve_census_dataset(table, ref, name=name)
        uri = cellxgene_census.get_source_h5ad_uri(row.dataset_id, census_version=ref.census_version)
    except DownloadError:
        raise
    except Exception as exc:  # noqa: BLE001  (network, unknown release)
        raise DownloadError(f"evaluation dataset {name!r}: could not resolve {ref.describe()}: {exc}") from None
    s3 = str(uri["uri"])
    if s3.startswith("s3://"):
        bucket, key = s3[5:].split("/", 1)
        region = uri.get("s3_region") or "us-west-2"
        s3 = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    return str(row.dataset_id), s3


class SourceFile(BaseModel):
    """One downloadable file: exactly one of ``url``, ``cellxgene_dataset_id`` and ``census``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = Field(None, description="direct download URL (http, https or file)")
    cellxgene_dataset_id: str | None = Field(None, pattern=r"^[0-9a-fA-F-]{8,}$",
                                             description="CELLxGENE Discover dataset ID (its .h5ad is fetched)")
    cellxgene_base_url: str = Field(CELLXGENE_DATASETS, description="server of CELLxGENE dataset files")
    census: CensusDataset | None = Field(None, description="a CELLxGENE dataset named by publication, resolved in "
                                         "a Census release at fetch time")
    sha256: str | None = Field(None, pattern=_SHA, description="SHA-256 of the file (optional: the first download "
                               "records it in the lock file beside the spec, later fetches verify against it)")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.+-]+$", description="file name among the dataset's "
                             "downloaded parts (default: the URL's last segment)")

    @model_validator(mode="after")
    def _one_location(self):
        if sum(x is not None for x in (self.url, self.cellxgene_dataset_id, self.census)) != 1:
            raise ValueError("give exactly one of url, cellxgene_dataset_id and census")
        return self

    def where(self) -> str:
        """Where the file comes from, without the network."""
        return self.census.describe() if self.census is not None else self.resolved_url()

    def resolved_url(self, *, name: str = "dataset") -> str:
        if self.url is not None:
            return self.url
        if self.census is not None:
            return census_h5ad_url(self.census, name=name)[1]
        return f"{self.cellxgene_base_url.rstrip('/')}/{self.cellxgene_dataset_id}.h5ad"

    def filename(self) -> str:
        if self.name:
            return self.name
        if self.census is not None:
            return "census_dataset.h5ad"
        last = self.resolved_url().rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        return last or "download"


class ConcatenateStep(BaseModel):
    """Concatenate several ``.h5ad`` files (cells of all, the genes they share) into one, counts in ``X``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    step: Literal["concatenate"] = "concatenate"
    label: str = Field("source_file", description="obs column naming the file each cell came from")
    layer: str = Field("auto", description="counts of each file: 'auto' (raw.X when the file has it, else X; "
                       "the CELLxGENE layout), 'X', 'raw' or a layer name")


class Weizmann3caStep(BaseModel):
    """Convert a Weizmann Curated Cancer Cell Atlas (3CA) zip (a Matrix Market count matrix, genes, cells and
    sample metadata) into an ``.h5ad``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    step: Literal["weizmann_3ca"] = "weizmann_3ca"
    matrix: str = Field("UMIcounts", description="substring of the .mtx member to read (3CA ships UMI counts "
                        "as Exp_data_UMIcounts.mtx)")
    sample_key: str = Field("sample", description="Cells.csv column joined with the sample metadata table")


class Tahoe100mStep(BaseModel):
    """Cut one drug's cells (and the controls of the same cell lines) out of the Tahoe-100M plates."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    step: Literal["tahoe100m"] = "tahoe100m"
    drug: str = Field(description="value of the `drug` column to keep")
    cell_lines: list[str] = Field(min_length=1, description="values of `cell_name` (common names) to keep")
    control: str = Field("DMSO_TF", description="value of `drug` for control cells")
    pass_filter: str = Field("full", description="value of `pass_filter` cells must have")
    plates: str = Field(description="where plate files are: a path or URL with '{plate}' (the obs `plate` value), "
                        "e.g. https://.../{plate}_filt_Vevo_Tahoe100M_WServicesFrom_ParseGigalab.h5ad")
    controls_from: Literal["same_plates", "all_plates"] = Field("same_plates", description="take control cells "
                                                                 "from the drug's plates (same batch) or all")


BuildStep = Annotated[Union[ConcatenateStep, Weizmann3caStep, Tahoe100mStep],  # noqa: UP007
                      Field(discriminator="step")]


class DatasetSource(SourceFile):
    """Where an evaluation dataset comes from: one file (``url`` / ``cellxgene_dataset_id``), or ``files`` and a
    ``build`` step that makes the dataset from them."""

    files: list[SourceFile] | None = Field(None, min_length=1, description="several files, made into the dataset "
                                           "by `build`")
    build: BuildStep | None = Field(None, description="declared step turning the downloaded file(s) into the .h5ad")

    @model_validator(mode="after")
    def _one_location(self):
        single = self.url is not None or self.cellxgene_dataset_id is not None or self.census is not None
        if self.files is not None:
            if single or self.sha256 is not None:
                raise ValueError("give either url / cellxgene_dataset_id (+ sha256) or files, not both")
            if self.build is None:
                raise ValueError("several files need a build step (e.g. {step: concatenate})")
            names = [f.filename() for f in self.files]
            if len(set(names)) != len(names):
                raise ValueError(f"files must have distinct names; got {names} (set `name`)")
        elif sum(x is not None for x in (self.url, self.cellxgene_dataset_id, self.census)) != 1:
            raise ValueError("give exactly one of url, cellxgene_dataset_id, census and files")
        return self

    def parts(self) -> list[SourceFile]:
        """The files to download."""
        if self.files is not None:
            return list(self.files)
        return [SourceFile(url=self.url, cellxgene_dataset_id=self.cellxgene_dataset_id, census=self.census,
                           cellxgene_base_url=self.cellxgene_base_url, sha256=self.sha256, name=self.name)]

    def describe(self) -> str:
        urls = [p.where() for p in self.parts()]
        text = urls[0] if len(urls) == 1 else f"{len(urls)} files"
        return f"{text} + {self.build.step}" if self.build else text


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Bar:
    """pooch's custom progress-bar protocol (``total``, ``update``, ``reset``, ``close``) on the shared progress
    helper (a rich bar on a terminal, periodic plain lines in a log)."""

    def __init__(self, description: str):
        from cellplateau._progress import progress

        self._bar = progress(description, unit="bytes").__enter__()
        self.total = None

    def update(self, n: int) -> None:
        if self._bar.total != self.total:
            self._bar.update(total=self.total)
        self._bar.advance(n)

    def reset(self) -> None:
        self._bar.update(done=0, total=self.total)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


def download(url: str, target: Path, *, sha256: str | None, name: str, progress: bool = False) -> str:
    """Download ``url`` to ``target`` (temporary file, then rename) and return its SHA-256.

    With ``sha256`` given, a file with another checksum is removed before it reaches ``target`` and
    :class:`DownloadError` names the dataset; HTTP errors become one line naming the dataset and URL.
    """
    import pooch

    target.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("file://") or "://" not in url:
        return _copy_local(url.removeprefix("file://"), target, sha256=sha256, name=name)
    pooch.get_logger().setLevel("WARNING")      # we log the download ourselves, with the dataset's name
    downloader = pooch.HTTPDownloader(progressbar=_Bar(f"{name}: {target.name}") if progress else False)
    try:
        pooch.retrieve(url, known_hash=f"sha256:{sha256}" if sha256 else None, fname=target.name,
                       path=target.parent, downloader=downloader, progressbar=False)
    except ValueError as exc:       # pooch's checksum mismatch (the file was removed)
        raise DownloadError(f"evaluation dataset {name!r}: {url} does not match its checksum; nothing was written "
                            f"to {target} ({str(exc).splitlines()[0]})") from None
    except Exception as exc:        # HTTP errors, unreachable host, ...
        raise DownloadError(f"evaluation dataset {name!r}: could not download {url}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return sha256 or file_sha256(target)


def _copy_local(src: str, target: Path, *, sha256: str | None, name: str) -> str:
    """A local path or ``file://`` URL as a source (a mirror on a shared filesystem): copied and verified."""
    import shutil

    if not Path(src).exists():
        raise DownloadError(f"evaluation dataset {name!r}: source file not found: {src}")
    digest = file_sha256(src)
    if sha256 and digest != sha256:
        raise DownloadError(f"evaluation dataset {name!r}: {src} does not match its checksum (sha256 {digest}, "
                            f"expected {sha256}); nothing was written to {target}")
    with temporary_path(target) as tmp:
        shutil.copyfile(src, tmp)
    return digest


@contextlib.contextmanager
def temporary_path(target: Path) -> Iterator[Path]:
    """A temporary file name beside ``target``, renamed to ``target`` when the block succeeds and removed when
    it fails, so ``target`` is either complete or absent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


Downloader = Callable[[str, str], Path]
"""``download(file_name, url) -> local path``: how a build step fetches inputs it finds only while running."""
