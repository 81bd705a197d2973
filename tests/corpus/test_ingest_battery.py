"""Bad ingest inputs: each is one line naming the file and what it is not (exit 2; machine faults exit 1),
with no traceback and nothing half-written (no store, no temporary folder beside it)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellplateau.corpus.store import CorpusStore
from tests._battery import assert_refused, invoke, leftovers


def _h5ad(path: Path, genes, *, n=40, seed=0, obs=None) -> Path:
    rng = np.random.default_rng(seed)
    X = sp.random(n, len(genes), density=0.3, random_state=seed, format="csr", dtype=np.float32)
    X.data = rng.integers(1, 20, X.nnz).astype(np.float32)
    ad.AnnData(X=X, obs=obs if obs is not None else pd.DataFrame(index=[f"c{i}" for i in range(n)]),
               var=pd.DataFrame(index=list(genes))).write_h5ad(path)
    return path


GENES = [f"G{i}" for i in range(30)]


def _good(tmp: Path) -> Path:
    return _h5ad(tmp / "good.h5ad", GENES)


def truncated(tmp):
    p = _h5ad(tmp / "cut.h5ad", GENES)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return [_good(tmp), p], p, "is truncated"


def zeroed(tmp):
    p = _h5ad(tmp / "zeroed.h5ad", GENES)
    data = bytearray(p.read_bytes())
    data[: len(data) // 2] = bytes(len(data) // 2)       # the superblock and the root group's headers
    p.write_bytes(bytes(data))
    return [_good(tmp), p], p, "is not an HDF5 file"


def zeroed_inside(tmp):
    p = _h5ad(tmp / "zeroed_inside.h5ad", GENES, n=400)
    data = bytearray(p.read_bytes())
    data[len(data) // 3: 2 * len(data) // 3] = bytes(2 * len(data) // 3 - len(data) // 3)   # signature intact
    p.write_bytes(bytes(data))
    return [_good(tmp), p], p, "is a damaged HDF5 file (HDF5: bad object header version number)"


def yaml_renamed(tmp):
    p = tmp / "spec.h5ad"
    p.write_text("name: demo\nseed: 0\n")
    return [p], p, "is not an HDF5 file (an .h5ad is HDF5); it starts with 'name: demo"


def random_bytes(tmp):
    p = tmp / "noise.h5ad"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    return [_good(tmp), p], p, "is not an HDF5 file"


def empty(tmp):
    p = tmp / "empty.h5ad"
    p.write_bytes(b"")
    return [p], p, "is empty"


def folder(tmp):
    p = tmp / "dir.h5ad"
    p.mkdir()
    return [p], p, "is a folder"


def missing(tmp):
    return [_good(tmp), tmp / "nope.h5ad"], tmp / "nope.h5ad", "file not found"


def hdf5_not_anndata(tmp):
    import h5py

    p = tmp / "plain.h5ad"
    with h5py.File(p, "w") as f:
        f["matrix"] = np.zeros((3, 3))
    return [p], p, "is an HDF5 file but not an AnnData .h5ad"


def renamed_genes(tmp):
    p = _h5ad(tmp / "renamed.h5ad", [f"X{i}" for i in range(30)])
    return [_good(tmp), p], p, "shares 0 of its 30 genes with the other inputs"


def human_and_mouse(tmp):
    h = _h5ad(tmp / "human.h5ad", [f"ENSG{i:011d}" for i in range(30)])
    m = _h5ad(tmp / "mouse.h5ad", [f"ENSMUSG{i:011d}" for i in range(30)])
    return [h, m], m, "its genes are mouse, those of human.h5ad human: inputs come from different organisms"


def fractional(tmp):
    p = tmp / "frac.h5ad"
    ad.AnnData(X=sp.csr_matrix(np.array([[0.5, 1.0]], dtype=np.float32)),
               var=pd.DataFrame(index=["G0", "G1"])).write_h5ad(p)
    return [p], p, "count matrix holds non-integer values"


CASES = [truncated, zeroed, zeroed_inside, yaml_renamed, random_bytes, empty, folder, missing, hdf5_not_anndata, renamed_genes,
         human_and_mouse, fractional]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    inputs, culprit, says = case(tmp_path)
    out = tmp_path / "out" / "store"
    assert_refused(invoke("ingest", out, *inputs), 2, str(culprit), says)
    assert not out.exists() and leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("case", [renamed_genes, human_and_mouse], ids=["renamed_genes", "human_and_mouse"])
def test_allow_disjoint_ingests_them_anyway(tmp_path, case):
    inputs, _, _ = case(tmp_path)
    res = invoke("ingest", tmp_path / "store", *inputs, "--allow-disjoint")
    assert res.exit_code == 0, res.output
    assert CorpusStore(tmp_path / "store").n_genes == 60


def test_min_shared_genes_is_a_stated_minimum(tmp_path):
    a = _h5ad(tmp_path / "a.h5ad", GENES)
    b = _h5ad(tmp_path / "b.h5ad", GENES[:5] + [f"X{i}" for i in range(25)])
    assert invoke("ingest", tmp_path / "s1", a, b).exit_code == 0          # 5 shared >= the default 1
    assert_refused(invoke("ingest", tmp_path / "s2", a, b, "--min-shared-genes", 10), 2, str(b),
                   "shares 5 of its 30 genes", "at least 10 shared required")


def test_unreadable_input_is_a_permission_fault(tmp_path, monkeypatch):
    """Permission denied on an input: exit 1, one line naming it (root ignores file modes, so the open is denied
    in-process)."""
    import builtins

    bad = _h5ad(tmp_path / "locked.h5ad", GENES)
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if str(file) == str(bad):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    assert_refused(invoke("ingest", tmp_path / "out" / "s", _good(tmp_path), bad), 1, str(bad), "permission denied")
    assert not (tmp_path / "out" / "s").exists()


def test_disk_full_while_ingesting_leaves_nothing(tmp_path, monkeypatch):
    from cellplateau.corpus import store as store_mod

    real = store_mod.StoreWriter.append
    calls = []

    def full(self, counts, obs):
        calls.append(1)
        if len(calls) == 2:          # the disk fills up on the second chunk
            raise OSError(errno.ENOSPC, "No space left on device", str(self._tmp / "X_data.bin"))
        return real(self, counts, obs)

    monkeypatch.setattr(store_mod.StoreWriter, "append", full)
    out = tmp_path / "out" / "store"
    line = assert_refused(invoke("ingest", out, _good(tmp_path), "--chunk-size", 10), 1, "X_data.bin",
                          "no space left on device")
    assert str(out.parent) in line
    assert not out.exists() and leftovers(tmp_path / "out") == []


def test_stale_temporary_folder_of_a_killed_ingest_is_removed(tmp_path):
    out = tmp_path / "store"
    dead = tmp_path / ".store.killed.tmp"          # a killed ingest's folder: its writer is gone
    dead.mkdir()
    (dead / "X_data.bin").write_bytes(b"\0" * 100)
    (dead / ".writer.json").write_text(json.dumps({"host": os.uname().nodename, "pid": 2**22 + 7, "start": 1}))
    older = tmp_path / ".store.old.tmp"            # left by a version that did not name its writer
    older.mkdir()
    live = tmp_path / ".store.live.tmp"            # another ingest running right now (this process)
    live.mkdir()
    from cellplateau.runner.claims import owner

    (live / ".writer.json").write_text(json.dumps(owner()))
    res = invoke("ingest", out, _good(tmp_path))
    assert res.exit_code == 0, res.output
    assert f"removed {dead}: the temporary folder of a killed ingest" in res.output
    assert not dead.exists() and not older.exists() and live.exists()
