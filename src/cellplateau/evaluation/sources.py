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

from pydantic import BaseModel, ConfigDict, Field, model_validator

CELLXGENE_DATASETS = "https://datasets.cellxgene.cziscience.com"
_SHA = r"^[0-9a-f]{64}$"


class DownloadError(RuntimeError):
    """A dataset could not be fetched or failed its checksum; the message names the dataset and URL."""


class SourceFile(BaseModel):
    """One downloadable file: exactly one of ``url`` and ``cellxgene_dataset_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = Field(None, description="direct download URL (http, https or file)")
    cellxgene_dataset_id: str | None = Field(None, pattern=r"^[0-9a-fA-F-]{8,}$",
                                             description="CELLxGENE Discover dataset ID (its .h5ad is fetched)")
    cellxgene_base_url: str = Field(CELLXGENE_DATASETS, description="server of CELLxGENE dataset files")
    sha256: str | None = Field(None, pattern=_SHA, description="SHA-256 of the file (optional: the first download "
                               "records it in the lock file beside the spec, later fetches verify against it)")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.+-]+$", description="file name among the dataset's "
                             "downloaded parts (default: the URL's last segment)")

    @model_validator(mode="after")
    def _one_location(self):
        if (self.url is None) == (self.cellxgene_dataset_id is None):
            raise ValueError("give exactly one of url and cellxgene_dataset_id")
        return self

    def resolved_url(self) -> str:
        if self.url is not None:
            return self.url
        return f"{self.cellxgene_base_url.rstrip('/')}/{self.cellxgene_dataset_id}.h5ad"

    def filename(self) -> str:
        if self.name:
            return self.name
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
        single = self.url is not None or self.cellxgene_dataset_id is not None
        if self.files is not None:
            if single or self.sha256 is not None:
                raise ValueError("give either url / cellxgene_dataset_id (+ sha256) or files, not both")
            if self.build is None:
                raise ValueError("several files need a build step (e.g. {step: concatenate})")
            names = [f.filename() for f in self.files]
            if len(set(names)) != len(names):
                raise ValueError(f"files must have distinct names; got {names} (set `name`)")
        elif not single:
            raise ValueError("give exactly one of url, cellxgene_dataset_id and files")
        elif self.url is not None and self.cellxgene_dataset_id is not None:
            raise ValueError("give exactly one of url and cellxgene_dataset_id")
        return self

    def parts(self) -> list[SourceFile]:
        """The files to download."""
        if self.files is not None:
            return list(self.files)
        return [SourceFile(url=self.url, cellxgene_dataset_id=self.cellxgene_dataset_id,
                           cellxgene_base_url=self.cellxgene_base_url, sha256=self.sha256, name=self.name)]

    def describe(self) -> str:
        urls = [p.resolved_url() for p in self.parts()]
        text = urls[0] if len(urls) == 1 else f"{len(urls)} files"
        return f"{text} + {self.build.step}" if self.build else text


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Bar:
    """pooch's custom progress-bar protocol (``total``, ``update``, ``reset``, ``close``) on a rich bar.

    The one place fetch draws progress (swap for the shared progress helper when it lands)."""

    def __init__(self, description: str):
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)

        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                             TransferSpeedColumn(), TimeRemainingColumn(), transient=False)
        self._task = self._bar.add_task(description, total=None)
        self._bar.start()
        self.total = None

    def update(self, n: int) -> None:
        self._bar.update(self._task, advance=n, total=self.total)

    def reset(self) -> None:
        self._bar.reset(self._task, total=self.total)

    def close(self) -> None:
        self._bar.stop()


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
