"""A damaged corpus store stops `plan`, `run`, `status` and `verify` with one line naming the store and the
file (exit code 2), before any work; a `run` refused this way writes nothing into the study folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cellplateau.corpus.store import CorpusStore, StoreError
from tests._battery import assert_refused, invoke, tmpfs
from tests.runner._spec import tiny_spec


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def _zero_third_keep_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 3: 2 * len(data) // 3] = bytes(2 * len(data) // 3 - len(data) // 3)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _truncate_json(path: Path) -> None:
    path.write_text(path.read_text()[:40])


# (file, damage, what the message says)
CASES = [
    ("X_data.bin", _truncate, "X_data.bin is"),
    ("X_indices.bin", _truncate, "X_indices.bin is"),
    ("X_indptr.npy", _truncate, "X_indptr.npy is"),
    ("X_data.bin", _zero_third_keep_mtime, "X_data.bin content differs from its checksum"),
    ("obs.parquet", _truncate, "obs.parquet is"),
    ("store.json", _truncate_json, "store.json: not a valid store description"),
    ("X_data.bin", lambda p: p.unlink(), "X_data.bin is missing"),
]


@pytest.fixture()
def study(tiny_atlas, tmp_path):
    """A tiny study on a private copy of the tiny atlas's store (the copy is verified once, as a run would)."""
    atlas = tmp_path / "atlas"
    shutil.copytree(tiny_atlas / "corpus", atlas / "corpus")
    (atlas / "eval").symlink_to(tiny_atlas / "eval")
    spec = tiny_spec(atlas, tmp_path / "out" / "study", fractions=(0.1,), replicates=1, pca_only=True)
    shutil.move(spec, tmp_path / "study.yaml")
    shutil.rmtree(tmp_path / "out")
    res = invoke("plan", tmp_path / "study.yaml")
    assert res.exit_code == 0, res.output
    assert (atlas / "corpus" / ".verified.json").exists(), "plan verified the store and stamped it"
    return tmp_path / "study.yaml", atlas / "corpus"


@pytest.mark.parametrize("name, damage, says", CASES, ids=[f"{c[0]}-{c[1].__name__}" for c in CASES])
def test_damaged_store_stops_every_command_naming_the_file(study, name, damage, says):
    spec, store = study
    damage(store / name)
    for command in ("plan", "status", "verify", "run"):
        assert_refused(invoke(command, spec, *(["--no-progress"] if command == "run" else [])), 2, str(store), says)
    assert not (spec.parent / "out").exists(), "a refused run writes nothing (no study folder, no spec.resolved.json)"


def test_store_written_before_checksums_is_size_checked(study):
    spec, store = study
    meta = json.loads((store / "store.json").read_text())
    del meta["checksums"]
    (store / "store.json").write_text(json.dumps(meta))
    res = invoke("verify", spec)
    assert res.exit_code == 0 and "sizes checked (no checksums recorded" in res.output
    _truncate(store / "X_indices.bin")
    assert_refused(invoke("plan", spec), 2, str(store), "X_indices.bin is", "X_indptr.npy says")


def test_sizes_are_checked_before_mapping_and_blocks_verified_on_request(tiny_store, tmp_path):
    shutil.copytree(tiny_store.path, tmp_path / "s")
    _truncate(tmp_path / "s" / "X_data.bin")
    store = CorpusStore(tmp_path / "s")
    with pytest.raises(StoreError, match=r"X_data\.bin is [\d,]+ bytes, but X_indptr\.npy says [\d,]+ values of int32"):
        store.read_rows([0, 1])
    assert CorpusStore(tiny_store.path).verify_checksums(blocks={"X_data.bin": [0]}) is True


def test_read_only_corpus_is_stamped_in_the_user_cache(tiny_store, tmp_path, monkeypatch):
    """A corpus on a read-only filesystem is verified once, then its stamp (in the user's cache) is trusted."""
    from cellplateau.runner.context import StudyContext
    from cellplateau.runner.verify import check_corpus
    from cellplateau.spec import load_spec

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with tmpfs(tmp_path / "ro", 16384) as disk:
        shutil.copytree(tiny_store.path, disk / "corpus", ignore=shutil.ignore_patterns(".verified.json"))
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        spec = tiny_spec(disk.parent, tmp_path / "study", fractions=(0.1,), replicates=1, pca_only=True)
        spec_text = spec.read_text().replace(str(disk.parent / "corpus"), str(disk / "corpus"))
        spec.write_text(spec_text)
        ctx = StudyContext(load_spec(spec))
        assert check_corpus(ctx).startswith("checksums verified")
        assert check_corpus(StudyContext(load_spec(spec))) == "unchanged since its last verification"
        assert list((tmp_path / "cache" / "cellplateau" / "verified").glob("*.json"))
