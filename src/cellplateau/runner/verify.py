"""Verified artifacts: a unit is done when its outputs are exactly what it wrote.

When a unit finishes, its *done record* (``state/done/<key>.json``) lists every output file with its size,
modification time and SHA-256. Before outputs are used (``plan``, ``status``, a worker about to read its
inputs) each file's size is checked, and its checksum when its modification time differs from the record's;
``run`` checksums every recorded file once at its start (and once per process: verified (path, size, mtime,
ctime, inode) tuples are cached), so a same-size overwrite with its mtime restored is caught too (the ctime
cannot be set back). A missing or damaged output makes its unit not done, and ``run`` recomputes it after one
line naming the unit and the file.

Units finished by a version that wrote no done record (the artifact and its ``DONE`` marker exist) are
*adopted*: each file is checked for structure (JSON parses, ``.npy`` sizes match their header, ``.parquet``
reads, ``.npz``/zip members match their CRCs) and ``run`` then writes their record; a structurally broken one is
recomputed like any damaged output.

The corpus store is verified against the per-block checksums recorded when it was written (streamed, the
whole store) whenever its files changed since the last verification (``.verified.json`` in the store folder
keeps the files' size, mtime, ctime and inode), and its file sizes are checked on every open.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cellplateau._io import atomic_write_json
from cellplateau.corpus._checksums import file_digest

_VERIFIED: dict[str, tuple] = {}         # this process's cache: path -> stat signature at its last good checksum


class ArtifactError(RuntimeError):
    """An input artifact of a unit is missing or damaged (the message names the unit and the file)."""


@dataclass
class UnitCheck:
    """What the outputs of one unit are: ``done`` (verified), ``legacy`` (no record, structure sound),
    ``damaged`` (``problem`` names the file), or ``pending`` (never written)."""

    state: str
    problem: str = ""


def record_path(ctx, key: str) -> Path:
    return ctx.layout.root / "state" / "done" / f"{key}.json"


def _signature(st: os.stat_result) -> tuple:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _output_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") and part.endswith(".tmp") for part in p.relative_to(path).parts))


def write_record(ctx, unit) -> None:
    """Record the size, mtime and checksum of every output file of a finished ``unit``."""
    root = ctx.layout.root
    files = {}
    for f in _output_files(unit.path(ctx)):
        st = f.stat()
        files[str(f.relative_to(root))] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_digest(f)}
        _VERIFIED[str(f)] = _signature(st)
    atomic_write_json(record_path(ctx, unit.key), {"key": unit.key, "kind": unit.kind, "label": unit.label,
                                                   "files": files, "written": time.strftime("%Y-%m-%dT%H:%M:%S")})


def _read_record(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return {"files": None}                        # a damaged record: the unit is recomputed
    return rec if isinstance(rec, dict) else {"files": None}


def check_file(path: Path, want: dict, *, deep: bool) -> str:
    """'' when ``path`` matches its record ``want`` (size always; checksum when ``deep``, or when its mtime
    changed, unless this process verified the same stat signature already); else what is wrong."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "is missing"
    if st.st_size != want["size"]:
        how = "truncated" if st.st_size < want["size"] else "grown"
        return f"is {st.st_size:,} bytes, {want['size']:,} when written ({how})"
    if _VERIFIED.get(str(path)) == _signature(st):
        return ""
    if not deep and st.st_mtime_ns == want["mtime_ns"]:
        return ""
    if file_digest(path) != want["sha256"]:
        return "content differs from its checksum (same size: overwritten or damaged)"
    _VERIFIED[str(path)] = _signature(st)
    return ""


def _legacy_problem(path: Path) -> str:
    """Structural check of an output written without a done record; '' when sound."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.read_table(path)
        elif path.suffix == ".npy":
            import numpy as np

            arr = np.load(path, mmap_mode="r")
            del arr
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad is not None:
                return f"member {bad} fails its CRC"
        elif path.suffix in (".npz", ".pt", ".ckpt"):
            return "is not a complete zip archive (truncated)"
    except Exception as exc:  # noqa: BLE001  (any parse failure means: not a sound artifact)
        return f"cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return ""


def check_unit(ctx, unit, *, deep: bool = False) -> UnitCheck:
    """Whether ``unit``'s outputs are present and intact (see the module docstring)."""
    root = ctx.layout.root
    rec = _read_record(record_path(ctx, unit.key))
    if rec is None:
        path = unit.path(ctx)
        if not (path.is_file() or (path / "DONE").is_file()):
            return UnitCheck("pending")
        for f in _output_files(path):
            sig = _signature(f.stat())
            if _VERIFIED.get(str(f)) == sig:       # found sound by this process already
                continue
            problem = _legacy_problem(f)
            if problem:
                return UnitCheck("damaged", f"{f.relative_to(root)} {problem}")
            _VERIFIED[str(f)] = sig
        return UnitCheck("legacy")
    if not isinstance(rec.get("files"), dict) or not rec["files"]:
        return UnitCheck("damaged", f"{record_path(ctx, unit.key).relative_to(root)} (its done record) is damaged")
    for rel, want in rec["files"].items():
        problem = check_file(root / rel, want, deep=deep)
        if problem:
            return UnitCheck("damaged", f"{rel} {problem}")
    return UnitCheck("done")


def unit_done(ctx, unit) -> bool:
    return check_unit(ctx, unit).state in ("done", "legacy")


def check_inputs(ctx, unit, labels: dict[str, str] | None = None) -> None:
    """Before ``unit`` reads the outputs of the units it depends on: raise :class:`ArtifactError` naming the unit
    and the file if one is missing or damaged (units without a record are left to their own readers)."""
    root = ctx.layout.root
    for dep in unit.deps:
        rec = _read_record(record_path(ctx, dep))
        if rec is None or not isinstance(rec.get("files"), dict):
            continue
        for rel, want in rec["files"].items():
            problem = check_file(root / rel, want, deep=False)
            if problem:
                raise ArtifactError(f"{unit.label}: its input {rel} (from unit {rec.get('label', dep)}) {problem}; "
                                    "run again to recompute it")


def discard(ctx, unit) -> None:
    """Remove a damaged unit's outputs and record, so that it is recomputed from scratch."""
    import shutil

    path = unit.path(ctx)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    with contextlib.suppress(FileNotFoundError):
        record_path(ctx, unit.key).unlink()


def adopt(ctx, unit) -> None:
    """Write the done record of a structurally sound ``legacy`` unit (not one a live worker is rewriting)."""
    from cellplateau.runner import claims

    if claims.claim_state(ctx.layout.claim(unit.key), lease_s=ctx.spec.execution.lease_s) != "running":
        write_record(ctx, unit)


# ---------------------------------------------------------------- the corpus


def _store_signature(store) -> dict:
    from cellplateau.corpus.store import FILES

    return {name: list(_signature((store.path / name).stat())) for name in (*FILES, "store.json")}


STAMP = ".verified.json"


def _stamps(store) -> list[Path]:
    """Where the last verification of ``store`` is recorded: in the store folder, or (a read-only corpus) in the
    user's cache."""
    from cellplateau._hashing import stable_hash

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cellplateau" / "verified"
    return [store.path / STAMP, cache / f"{stable_hash(str(store.path.resolve()))}.json"]


def check_corpus(ctx, *, force: bool = False) -> str:
    """Verify the corpus store (sizes on open; checksums when changed since the last verification, or ``force``).

    Raises :class:`~cellplateau.corpus.store.StoreError` naming the store and the file; returns what was done.
    """
    if ctx.corpus_planned:
        return "not built yet"
    store = ctx.store
    store.check_files()
    if store.checksums is None:
        return "sizes checked (no checksums recorded: the store was written by an older version)"
    sig = {"store": str(store.path.resolve()), "fingerprint": store.fingerprint, "files": _store_signature(store)}
    if not force:
        for stamp in _stamps(store):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(stamp.read_text()) == sig:
                    return "unchanged since its last verification"
    t0 = time.perf_counter()
    store.verify_checksums()
    for stamp in _stamps(store):       # a read-only corpus is stamped in the user's cache instead
        try:
            atomic_write_json(stamp, sig)
            break
        except OSError:
            continue
    return f"checksums verified ({sum(v[0] for v in sig['files'].values()) / 1e6:,.0f} MB in " \
           f"{time.perf_counter() - t0:.1f} s)"


# ---------------------------------------------------------------- a whole study


@dataclass
class StageReport:
    units: int = 0
    verified: int = 0
    legacy: int = 0
    pending: int = 0
    damaged: list[str] = field(default_factory=list)      # "unit label: file problem"


def check_plan(ctx, plan, *, deep: bool) -> tuple[dict[str, StageReport], dict[str, UnitCheck]]:
    """Check every unit of ``plan``; per-stage counts and each unit's :class:`UnitCheck` by key."""
    from cellplateau.runner.units import STAGES

    stages = {s: StageReport() for s in STAGES}
    checks = {}
    for unit in plan.all_units():
        c = checks[unit.key] = check_unit(ctx, unit, deep=deep)
        rep = stages[unit.kind]
        rep.units += 1
        if c.state == "done":
            rep.verified += 1
        elif c.state == "legacy":
            rep.legacy += 1
        elif c.state == "pending":
            rep.pending += 1
        else:
            rep.damaged.append(f"{unit.label}: {c.problem}")
    return stages, checks
