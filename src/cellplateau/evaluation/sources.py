"""Download recipes for public evaluation datasets: a URL or a CELLxGENE dataset ID, with a checksum.

Downloads go through ``pooch`` (retries, atomic writes, SHA-256 verification): a file whose checksum
does not match is never left at the target path. A recipe is part of the dataset's identity, so a
study records what it evaluated on even when the file is re-downloaded elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

CELLXGENE_DATASETS = "https://datasets.cellxgene.cziscience.com"


class DownloadError(RuntimeError):
    """A dataset could not be fetched or failed its checksum; the message names the dataset and URL."""


class DatasetSource(BaseModel):
    """Where an evaluation dataset comes from; exactly one of ``url`` and ``cellxgene_dataset_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = Field(None, description="direct download URL of the .h5ad")
    cellxgene_dataset_id: str | None = Field(None, pattern=r"^[0-9a-fA-F-]{8,}$",
                                             description="CELLxGENE Discover dataset ID (its .h5ad is fetched)")
    cellxgene_base_url: str = Field(CELLXGENE_DATASETS, description="server of CELLxGENE dataset files")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file (required: no unchecked "
                        "downloads)")

    @model_validator(mode="after")
    def _one_location(self) -> DatasetSource:
        if (self.url is None) == (self.cellxgene_dataset_id is None):
            raise ValueError("give exactly one of url and cellxgene_dataset_id")
        return self

    def resolved_url(self) -> str:
        if self.url is not None:
            return self.url
        return f"{self.cellxgene_base_url.rstrip('/')}/{self.cellxgene_dataset_id}.h5ad"


def fetch(source: DatasetSource, target: str | Path, *, name: str = "dataset", progress: bool = False) -> Path:
    """Download ``source`` to ``target`` unless a file with the right checksum is already there."""
    import pooch

    target = Path(target)
    url = source.resolved_url()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = pooch.retrieve(url, known_hash=f"sha256:{source.sha256}", fname=target.name,
                             path=target.parent, progressbar=progress)
    except ValueError as exc:       # pooch's checksum mismatch
        raise DownloadError(f"evaluation dataset {name!r}: {url} failed its checksum ({exc})") from None
    except Exception as exc:        # HTTP errors, unreachable host, ...
        raise DownloadError(f"evaluation dataset {name!r}: could not download {url}: {exc}") from None
    return Path(out)


def file_sha256(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
