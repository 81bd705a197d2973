"""``cellplateau fetch``: download every missing evaluation dataset, build the ones made of several files,
and verify every file against the spec's SHA-256 or the lock file.

A dataset is, at any time, in one state (what ``plan`` prints):

* ``missing``: not on disk (``fetch`` downloads it when it has a ``source``);
* ``unverified``: on disk, but neither the spec nor the lock holds its checksum (``fetch`` records it);
* ``locked``: on disk and its checksum is known (``fetch`` and ``run`` verify it);
* ``changed``: on disk with another size than the lock recorded (``fetch`` and ``run`` stop on it).

Inputs of a build step stay in ``downloads/`` beside the dataset, one file per URL (a rebuild, or another
dataset built from the same file, does not download again);
the dataset itself is written to a temporary file and renamed, so a failed build leaves nothing at ``path``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cellplateau.evaluation.datasets import DatasetSpec
from cellplateau.evaluation.lockfile import Lock
from cellplateau.evaluation.sources import DownloadError, download, file_sha256, temporary_path

STATES = ("missing", "unverified", "locked", "changed")


@dataclass(frozen=True)
class DatasetState:
    name: str
    path: Path
    state: str
    detail: str


def _expected(ds: DatasetSpec, lock: Lock) -> tuple[str | None, str]:
    """The checksum the dataset's file must have, and where it comes from."""
    src = ds.source
    if src is not None and src.build is None and src.sha256:
        return src.sha256, "the spec"
    sha = lock.entry(ds.name).get("sha256")
    return sha, (str(lock.path) if lock.path else "the lock")


def dataset_state(ds: DatasetSpec, lock: Lock) -> DatasetState:
    """Where one evaluation dataset stands, from file sizes and the lock alone (nothing is hashed)."""
    path = Path(ds.path)
    if not path.exists():
        how = f"fetch downloads it from {ds.source.describe()}" if ds.source else "no source: place the file there"
        return DatasetState(ds.name, path, "missing", how)
    expected, where = _expected(ds, lock)
    if expected is None:
        return DatasetState(ds.name, path, "unverified", "no checksum in the spec or the lock; fetch records it")
    recorded = lock.entry(ds.name).get("bytes")
    if recorded is not None and recorded != path.stat().st_size:
        return DatasetState(ds.name, path, "changed", f"{path.stat().st_size:,} bytes, the lock recorded "
                            f"{recorded:,}")
    return DatasetState(ds.name, path, "locked", f"sha256 {expected[:12]}... from {where}")


def dataset_states(datasets: list[DatasetSpec], lock: Lock) -> list[DatasetState]:
    return [dataset_state(ds, lock) for ds in datasets]


def download_cache(target: Path, url: str, file_name: str) -> Path:
    """Where a build step's input is kept: ``downloads/`` beside the dataset, one file per URL, so datasets built
    from the same file (the four Tahoe cuts and their obs_metadata.parquet) download it once."""
    import hashlib

    return Path(target).parent / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:10]}_{file_name}"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _verify(ds: DatasetSpec, lock: Lock, expected: str, where: str) -> None:
    got = file_sha256(ds.path)
    if got != expected:
        raise DownloadError(f"evaluation dataset {ds.name!r}: {ds.path} does not match its checksum (sha256 {got}, "
                            f"expected {expected} from {where}); if the file was replaced on purpose, delete its "
                            "entry from the lock file")


def _record_existing(ds: DatasetSpec, lock: Lock) -> None:
    path = Path(ds.path)
    lock.record(ds.name, {**lock.entry(ds.name), "sha256": file_sha256(path), "bytes": path.stat().st_size,
                          "recipe": ds.source.describe() if ds.source else "local file", "recorded": _now()})


def fetch_dataset(ds: DatasetSpec, lock: Lock, *, progress: bool = False,
                  log: Callable[[str], None] = print) -> str:
    """Make ``ds.path`` present and verified; returns what was done: ``verified``, ``recorded`` (an existing file's
    checksum written to the lock), ``downloaded`` or ``built``. Raises :class:`DownloadError` naming the dataset."""
    path = Path(ds.path)
    expected, where = _expected(ds, lock)
    if path.exists():
        if expected is None:
            _record_existing(ds, lock)
            return "recorded"
        _verify(ds, lock, expected, where)
        if not lock.entry(ds.name):
            _record_existing(ds, lock)
        return "verified"
    src = ds.source
    if src is None:
        raise DownloadError(f"evaluation dataset {ds.name!r}: file not found: {path} (and no source to download "
                            "it from)")
    files: dict[str, dict] = {}

    def get(file_name: str, url: str, sha256: str | None, target: Path) -> Path:
        known = sha256 or lock.file_sha(ds.name, file_name)
        if target.exists() and known and file_sha256(target) == known:
            digest = known
        else:
            log(f"downloading {ds.name!r}: {url} -> {target}")
            digest = download(url, target, sha256=known, name=ds.name, progress=progress)
        files[file_name] = {"url": url, "sha256": digest, "bytes": target.stat().st_size}
        return target

    if src.build is None:
        part = src.parts()[0]
        get(part.filename(), part.resolved_url(name=ds.name), part.sha256, path)
        action = "downloaded"
    else:
        from cellplateau.evaluation.build_steps import run_step

        def cached(fname: str, url: str, sha256: str | None = None) -> Path:
            return get(fname, url, sha256, download_cache(path, url, fname))

        inputs = [cached(p.filename(), p.resolved_url(name=ds.name), p.sha256) for p in src.parts()]
        log(f"building {ds.name!r} ({src.build.step}) from {len(inputs)} file(s) -> {path}")
        with temporary_path(path) as tmp:
            run_step(src.build, inputs, tmp, name=ds.name, download=cached,
                     keys=[p.filename().removesuffix(".h5ad") for p in src.parts()])
            if expected is not None and file_sha256(tmp) != expected:
                raise DownloadError(f"evaluation dataset {ds.name!r}: its inputs matched their checksums but the "
                                    f"{src.build.step} step built a different file than {where} recorded (another "
                                    "library version?); nothing was written to "
                                    f"{path}; delete its lock entry to accept the new build")
        action = "built"
    lock.record(ds.name, {"sha256": file_sha256(path), "bytes": path.stat().st_size, "recipe": src.describe(),
                          "files": files, "recorded": _now()})
    return action


def fetch_all(datasets: list[DatasetSpec], lock: Lock, *, progress: bool = False,
              log: Callable[[str], None] = print) -> dict[str, str]:
    """:func:`fetch_dataset` for every dataset, in spec order; ``{name: action}``. Stops at the first failure
    (the lock keeps every dataset verified before it)."""
    return {ds.name: fetch_dataset(ds, lock, progress=progress, log=log) for ds in datasets}
