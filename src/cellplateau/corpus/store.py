"""On-disk, out-of-core corpus store: memory-mapped CSR raw counts plus Parquet metadata.

Layout of a store folder::

    store.json        format, shape, dtypes, nnz, fingerprint, provenance
    X_indptr.npy      int64  (n_cells + 1,)   row pointers
    X_indices.bin     int32  (nnz,)           gene index of each stored value
    X_data.bin        dtype  (nnz,)           raw counts (float32 or int32)
    obs.parquet       one row per cell: cell_type, tissue, donor, dataset, assay, ...
    var.parquet       one row per vocabulary gene: gene_symbol, gene_id

The two ``.bin`` files are opened with :class:`numpy.memmap`, so reading any set of rows touches
only the pages that hold those rows (the layout of bionemo-scdl's memmapped CSR). Rows are cells,
columns are the gene vocabulary, values are raw UMI counts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellplateau._io import atomic_write_json
from cellplateau.corpus import _checksums

FORMAT = "cellplateau-store"
FORMAT_VERSION = 1
OBS_COLUMNS = ("cell_type", "tissue", "donor", "dataset", "assay")
FILES = ("X_indptr.npy", "X_indices.bin", "X_data.bin", "obs.parquet", "var.parquet")
_REBUILD = "the store is damaged: rebuild it (`cellplateau ingest` or `cellplateau simulate`)"


class StoreError(ValueError):
    """A corpus store is missing, malformed, or was asked for something it does not hold."""


class CorpusStore:
    """Read-only view of a corpus store folder. Nothing is loaded until asked for."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_path = self.path / "store.json"
        if not meta_path.exists():
            raise StoreError(f"{self.path}: not a corpus store (no store.json); build one with "
                             "`cellplateau simulate` or `cellplateau ingest`")
        try:
            self.meta = json.loads(meta_path.read_text())
            if not isinstance(self.meta, dict):
                raise ValueError(f"a JSON {type(self.meta).__name__}, not an object")
        except (ValueError, UnicodeDecodeError) as exc:   # JSONDecodeError is a ValueError
            raise StoreError(f"{meta_path}: not a valid store description ({exc}); {_REBUILD}") from None
        except OSError as exc:
            raise StoreError(f"{meta_path}: cannot be read ({exc.strerror})") from None
        if self.meta.get("format") != FORMAT:
            raise StoreError(f"{meta_path}: 'format' is {self.meta.get('format')!r}, expected {FORMAT!r}")
        try:
            self.n_cells = int(self.meta["n_cells"])
            self.n_genes = int(self.meta["n_genes"])
            self.nnz = int(self.meta["nnz"])
            self.fingerprint: str = self.meta["fingerprint"]
            np.dtype(self.meta["data_dtype"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{meta_path}: missing or malformed entry {exc}; {_REBUILD}") from None

    @property
    def checksums(self) -> dict | None:
        """``{"algorithm", "block_bytes", "files": {name: {"size", "blocks": [hex, ...]}}}`` recorded when the
        store was written; None for a store written before checksums were recorded (sizes are still checked)."""
        return self.meta.get("checksums")

    def _fail(self, name: str, problem: str) -> StoreError:
        return StoreError(f"{self.path}: {name} {problem}; {_REBUILD}")

    def check_files(self) -> None:
        """Cheap structural check (a stat per file and the last row pointer): every file is present, ``X_indptr``
        has ``n_cells + 1`` pointers ending at ``nnz``, and each file has the size its contents imply and the size
        recorded at writing. Raises :class:`StoreError` naming the store and the file."""
        recorded = (self.checksums or {}).get("files", {})
        for name in FILES:
            p = self.path / name
            if not p.is_file():
                raise self._fail(name, "is missing")
            size = p.stat().st_size
            if name in recorded and size != recorded[name]["size"]:
                raise self._fail(name, f"is {size:,} bytes, {recorded[name]['size']:,} when written "
                                       f"({'truncated' if size < recorded[name]['size'] else 'grown'})")
        for opened in (self.indptr, self._indices, self._data):     # each checks its size as it is mapped
            del opened

    def verify_checksums(self, *, blocks: dict[str, list[int]] | None = None) -> bool:
        """Stream every file (or only ``blocks[name]``) and compare with the checksums recorded at writing.

        Raises :class:`StoreError` naming the store, the file and the first damaged block; returns False when
        the store has no checksums (written by an older version), True when every block matches.
        """
        sums = self.checksums
        if sums is None:
            return False
        self.check_files()
        size = int(sums["block_bytes"])
        for name, rec in sums["files"].items():
            want = None if blocks is None else blocks.get(name, [])
            bad = _checksums.first_bad_block(self.path / name, rec["blocks"], size, want)
            if bad is not None:
                lo = bad * size
                raise self._fail(name, f"content differs from its checksum in bytes {lo:,}-"
                                       f"{min(lo + size, rec['size']):,} (block {bad}), though its size is unchanged")
        return True

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_cells, self.n_genes)

    @cached_property
    def indptr(self) -> np.ndarray:
        """Row pointers (n_cells + 1,), memory-mapped after their header and size are checked."""
        path = self.path / "X_indptr.npy"
        try:
            with open(path, "rb") as fh:
                fmt = np.lib.format
                version = fmt.read_magic(fh)
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read(fh)
                offset = fh.tell()
        except FileNotFoundError:
            raise self._fail("X_indptr.npy", "is missing") from None
        except (ValueError, OSError, SyntaxError) as exc:
            raise self._fail("X_indptr.npy", f"is not a readable .npy file ({exc})") from None
        if shape != (self.n_cells + 1,) or dtype.kind not in "iu":
            raise self._fail("X_indptr.npy", f"holds {dtype} {shape}, expected int64 ({self.n_cells + 1},)")
        size, want = path.stat().st_size, offset + (self.n_cells + 1) * dtype.itemsize
        if size != want:
            raise self._fail("X_indptr.npy", f"is {size:,} bytes, expected {want:,} for {self.n_cells + 1:,} row "
                                             f"pointers ({'truncated' if size < want else 'too long'})")
        indptr = np.load(path, mmap_mode="r")
        if int(indptr[0]) != 0 or int(indptr[-1]) != self.nnz:
            raise self._fail("X_indptr.npy", f"runs from {int(indptr[0])} to {int(indptr[-1]):,}, expected 0 to "
                                             f"nnz = {self.nnz:,} (store.json)")
        return indptr

    def _open_bin(self, name: str, dtype: np.dtype) -> np.ndarray:
        """Memory-map a values file after checking its size against ``X_indptr`` (nnz values of ``dtype``)."""
        nnz = int(self.indptr[-1])
        path = self.path / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise self._fail(name, "is missing") from None
        want = nnz * dtype.itemsize
        if size != want:
            raise self._fail(name, f"is {size:,} bytes, but X_indptr.npy says {nnz:,} values of {dtype} "
                                   f"({want:,} bytes): {'truncated' if size < want else 'too long'}")
        if nnz == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r", shape=(nnz,))

    @cached_property
    def _indices(self) -> np.ndarray:
        return self._open_bin("X_indices.bin", np.dtype(np.int32))

    @cached_property
    def _data(self) -> np.ndarray:
        return self._open_bin("X_data.bin", np.dtype(self.meta["data_dtype"]))

    @cached_property
    def obs(self) -> pd.DataFrame:
        """Cell metadata (string columns become categoricals)."""
        df = self._read_table("obs.parquet")
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = df[col].astype("category")
        return df

    @cached_property
    def var(self) -> pd.DataFrame:
        """Gene vocabulary in column order: ``gene_symbol`` and ``gene_id``."""
        return self._read_table("var.parquet")

    def _read_table(self, name: str) -> pd.DataFrame:
        try:
            return pd.read_parquet(self.path / name)
        except FileNotFoundError:
            raise self._fail(name, "is missing") from None
        except (OSError, ValueError) as exc:      # pyarrow's ArrowInvalid is a ValueError
            raise self._fail(name, f"is not a readable Parquet table ({exc})") from None

    def obs_column(self, key: str) -> pd.Series:
        """One metadata column; a clear error names the key and what the store holds."""
        if key not in self.obs.columns:
            raise StoreError(f"{self.path}: obs has no column {key!r}; columns are {list(self.obs.columns)}")
        return self.obs[key]

    def read_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """Raw counts of ``rows`` (any order, repeats allowed) as CSR (len(rows), n_genes).

        Only the stored values of those rows are read from disk.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_cells):
            raise StoreError(f"{self.path}: row index out of range [0, {self.n_cells})")
        order = np.argsort(rows, kind="stable")
        srows = rows[order]
        indptr = np.asarray(self.indptr)
        starts = indptr[srows]
        lens = indptr[srows + 1] - starts
        out_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=out_ptr[1:])
        positions = np.repeat(starts - out_ptr[:-1], lens) + np.arange(out_ptr[-1], dtype=np.int64)
        indices = np.asarray(self._indices[positions])
        data = np.asarray(self._data[positions])
        mat = sp.csr_matrix((data, indices, out_ptr), shape=(len(rows), self.n_genes))
        if np.array_equal(order, np.arange(len(rows))):
            return mat
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return mat[inverse]

    def read_range(self, start: int, stop: int) -> sp.csr_matrix:
        """Contiguous rows ``[start, stop)`` as CSR: one sequential read."""
        indptr = np.asarray(self.indptr[start : stop + 1])
        lo, hi = int(indptr[0]), int(indptr[-1])
        return sp.csr_matrix(
            (np.asarray(self._data[lo:hi]), np.asarray(self._indices[lo:hi]), indptr - lo),
            shape=(stop - start, self.n_genes),
        )

    def release_pages(self) -> None:
        """Unmap the pages of the counts this process has touched (``MADV_DONTNEED``; they stay in the OS page
        cache and are mapped again on the next read). Keeps a full pass over a large store from showing the
        whole store as resident memory."""
        import mmap

        for name in ("_indices", "_data"):
            arr = self.__dict__.get(name)
            mm = getattr(arr, "_mmap", None)
            if mm is not None and hasattr(mm, "madvise"):
                mm.madvise(mmap.MADV_DONTNEED)

    def iter_rows(self, rows: np.ndarray | None = None, *, chunk_size: int = 8192
                  ) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
        """Stream ``(row_indices, counts)`` chunks over ``rows`` (default: every cell, in order).

        Memory stays bounded by the chunk: pages read are released after each chunk.
        """
        if rows is None:
            for start in range(0, self.n_cells, chunk_size):
                stop = min(start + chunk_size, self.n_cells)
                chunk = self.read_range(start, stop)
                self.release_pages()
                yield np.arange(start, stop), chunk
            return
        rows = np.asarray(rows, dtype=np.int64)
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            counts = self.read_rows(chunk)
            self.release_pages()
            yield chunk, counts

    def __repr__(self) -> str:
        return f"CorpusStore({str(self.path)!r}, n_cells={self.n_cells}, n_genes={self.n_genes})"


WRITER = ".writer.json"     # who writes a temporary store folder (host, pid, process start)


def _remove_stale_writes(path: Path) -> list[Path]:
    """Remove the temporary folders a killed writer of ``path`` left beside it (their writer is dead on this
    host, or unnamed: written before writers named themselves); a live writer's folder is left alone."""
    import socket

    from cellplateau.runner.claims import pid_alive, read_json

    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        info = read_json(tmp / WRITER)
        if info is not None and (info.get("host") != socket.gethostname()
                                 or pid_alive(int(info["pid"]), info.get("start"))):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


class StoreWriter:
    """Write a store chunk by chunk, never holding the whole matrix.

    Everything goes to a temporary folder beside ``path`` which is renamed into place by
    :meth:`close`; a killed writer leaves no half-written store. Use as a context manager::

        with StoreWriter(path, var) as w:
            for counts, obs in chunks:
                w.append(counts, obs)
    """

    def __init__(self, path: str | os.PathLike, var: pd.DataFrame, *, data_dtype: str = "int32",
                 provenance: dict | None = None):
        self.path = Path(path)
        if list(var.columns) != ["gene_symbol", "gene_id"]:
            raise StoreError("var must have exactly the columns ['gene_symbol', 'gene_id']")
        self.var = var.reset_index(drop=True).astype(str)
        self.data_dtype = np.dtype(data_dtype)
        self.provenance = provenance or {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.removed_stale = _remove_stale_writes(self.path)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        from cellplateau.runner.claims import owner

        atomic_write_json(self._tmp / WRITER, owner())
        self._fi = open(self._tmp / "X_indices.bin", "wb")
        self._fd = open(self._tmp / "X_data.bin", "wb")
        self._sums = {"X_indices.bin": _checksums.BlockHasher(), "X_data.bin": _checksums.BlockHasher()}
        self._row_nnz: list[np.ndarray] = []
        self._obs_writer = None       # pyarrow ParquetWriter, opened by the first chunk
        self._hash = hashlib.blake2b(digest_size=32)
        self._hash.update(pd.util.hash_pandas_object(self.var, index=False).values.tobytes())
        self.n_cells = 0
        self.nnz = 0

    def append(self, counts: sp.csr_matrix, obs: pd.DataFrame) -> None:
        """Append cells: ``counts`` is CSR (n, n_genes) of raw counts, ``obs`` has n rows."""
        counts = sp.csr_matrix(counts)
        if counts.shape[1] != len(self.var):
            raise StoreError(f"chunk has {counts.shape[1]} genes, vocabulary has {len(self.var)}")
        if counts.shape[0] != len(obs):
            raise StoreError(f"chunk has {counts.shape[0]} cells but {len(obs)} obs rows")
        counts.sort_indices()
        indices = counts.indices.astype(np.int32, copy=False)
        data = counts.data.astype(self.data_dtype, copy=False)
        lens = np.diff(counts.indptr).astype(np.int64)
        obs = obs.reset_index(drop=True)
        for fh, name, part in ((self._fi, "X_indices.bin", indices), (self._fd, "X_data.bin", data)):
            raw = memoryview(np.ascontiguousarray(part)).cast("B")
            fh.write(raw)
            self._sums[name].update(raw)
        for part in (lens, indices, data):
            self._hash.update(np.ascontiguousarray(part).tobytes())
        self._hash.update(pd.util.hash_pandas_object(obs.astype(str), index=False).values.tobytes())
        self._row_nnz.append(lens)
        self._write_obs(obs)
        self.n_cells += counts.shape[0]
        self.nnz += len(data)

    def _write_obs(self, obs: pd.DataFrame) -> None:
        """Stream obs to Parquet chunk by chunk: integer/bool columns as they are, the rest as dictionary strings
        (so 22 M cells of metadata never sit in memory as Python strings)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        obs = obs.copy()
        for col in obs.columns:
            if not (pd.api.types.is_integer_dtype(obs[col]) or pd.api.types.is_bool_dtype(obs[col])):
                obs[col] = obs[col].astype(str).astype("category")
        if self._obs_writer is None:
            text = pa.dictionary(pa.int32(), pa.string())
            fields = [pa.field(c, text if isinstance(obs[c].dtype, pd.CategoricalDtype)
                               else pa.from_numpy_dtype(obs[c].dtype)) for c in obs.columns]
            self._obs_schema = pa.schema(fields)
            self._obs_writer = pq.ParquetWriter(self._tmp / "obs.parquet", self._obs_schema)
        elif list(obs.columns) != self._obs_schema.names:
            raise StoreError(f"obs columns changed between chunks: {self._obs_schema.names} -> {list(obs.columns)}")
        self._obs_writer.write_table(pa.Table.from_pandas(obs, schema=self._obs_schema, preserve_index=False))

    def close(self) -> CorpusStore:
        self._fi.close()
        self._fd.close()
        indptr = np.zeros(self.n_cells + 1, dtype=np.int64)
        if self._row_nnz:
            np.cumsum(np.concatenate(self._row_nnz), out=indptr[1:])
        np.save(self._tmp / "X_indptr.npy", indptr)
        if self._obs_writer is not None:
            self._obs_writer.close()
        else:
            pd.DataFrame().to_parquet(self._tmp / "obs.parquet", index=False)
        self.var.to_parquet(self._tmp / "var.parquet", index=False)
        blocks = {name: h.digests() for name, h in self._sums.items()}
        for name in ("X_indptr.npy", "obs.parquet", "var.parquet"):
            blocks[name] = _checksums.block_digests(self._tmp / name)
        checksums = {"algorithm": _checksums.ALGORITHM, "block_bytes": _checksums.BLOCK_BYTES,
                     "files": {name: {"size": (self._tmp / name).stat().st_size, "blocks": blocks[name]}
                               for name in FILES}}
        atomic_write_json(self._tmp / "store.json", {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "n_cells": self.n_cells, "n_genes": len(self.var), "nnz": self.nnz,
            "data_dtype": str(self.data_dtype), "index_dtype": "int32",
            "fingerprint": self._hash.hexdigest()[:16], "provenance": self.provenance, "checksums": checksums,
        })
        (self._tmp / WRITER).unlink()
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self._tmp, self.path)
        return CorpusStore(self.path)

    def abort(self) -> None:
        for fh in (self._fi, self._fd):
            if not fh.closed:
                fh.close()
        if self._obs_writer is not None:
            self._obs_writer.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
