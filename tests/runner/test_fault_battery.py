"""Plan-time refusals and machine faults: one line naming the path, the right exit code, no traceback, nothing
half-written. Disk full during training is a real full filesystem (a tiny tmpfs, mounted as root)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import build_plan
from cellplateau.spec import load_spec
from tests._battery import assert_refused, invoke, leftovers, tmpfs
from tests.runner._spec import tiny_spec
from tests.runner.conftest import copy_study


def _spec(tiny_atlas, folder: Path, **changes) -> Path:
    """A tiny spec at ``folder/study.yaml`` whose study folder (``folder/out``) does not exist yet."""
    path = tiny_spec(tiny_atlas, folder / "out", fractions=(0.1,), replicates=1, pca_only=True)
    spec = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        section, name = key.split("__")
        spec[section][name] = value
    shutil.rmtree(folder / "out")
    (folder / "study.yaml").write_text(yaml.safe_dump(spec))
    return folder / "study.yaml"


def test_spec_path_that_is_a_folder(tmp_path):
    for command in ("plan", "run", "status", "verify"):
        assert_refused(invoke(command, tmp_path), 2, str(tmp_path), "is a folder; expected a study spec file")


def test_unreadable_spec_is_named(tmp_path, monkeypatch):
    """A spec that is not text, and one the user may not read (denied in-process: root ignores file modes)."""
    import pathlib

    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00name")
    assert_refused(invoke("plan", binary), 2, str(binary), "not a text file")
    locked = tmp_path / "locked.yaml"
    locked.write_text("name: x\n")
    real = pathlib.Path.read_text

    def deny(self, *args, **kwargs):
        if self == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", deny)
    assert_refused(invoke("run", locked), 1, str(locked), "permission denied")


@pytest.mark.parametrize("changes, names", [
    ({"selection__fractions": [0.0004]}, ["selection.fractions: 0.0004 of the corpus's 3,000 cells is 1 cells",
                                          "leaving 1 training cells"]),
    ({"selection__fractions": [0.0007]}, ["0.0007 of the corpus's 3,000 cells is 2 cells", "leaving 1 training"]),
    ({"selection__fractions": [2.0]}, ["selection.fractions", "every fraction must be in (0, 1]"]),
    ({"selection__replicates": 0}, ["selection.replicates"]),
], ids=["one-cell-subset", "one-training-cell", "fraction-above-1", "zero-replicates"])
def test_refused_spec_writes_nothing(tiny_atlas, tmp_path, changes, names):
    spec = _spec(tiny_atlas, tmp_path, **changes)
    for command in ("plan", "run"):
        assert_refused(invoke(command, spec, *(["--no-progress"] if command == "run" else [])), 2, *names)
    assert not (tmp_path / "out").exists(), "no study folder, no spec.resolved.json"


def _fill(folder: Path) -> None:
    """Fill the filesystem of ``folder`` to the last byte (two files: 4 KiB pages, then single bytes)."""
    for name, piece in (("filler", b"\0" * 4096), ("filler2", b"\0")):
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, piece)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)


def test_disk_full_during_training_is_one_line_and_recovers(finished_study, tmp_path):
    """The study lives on a full filesystem: the model cannot be saved, nor its failure record written; the run
    stops at once (no retries) with one line naming the folder, exit 1, and no half-written model. With space
    freed, the next run recomputes it."""
    with tmpfs(tmp_path / "disk", 16384) as disk:
        spec_path = copy_study(finished_study, disk / "study")
        ctx = StudyContext(load_spec(spec_path))
        model = next(u for u in build_plan(ctx).units["train"] if "untrained" not in u.label)
        shutil.rmtree(model.path(ctx))
        _fill(disk)
        line = assert_refused(invoke("run", spec_path, "--no-progress"), 1, "no space left on device", model.label,
                              str(ctx.layout.artifacts / "models"))
        assert "attempt" not in line
        assert not model.path(ctx).exists() and leftovers(ctx.layout.artifacts) == []
        (disk / "filler").unlink()
        (disk / "filler2").unlink()
        res = invoke("run", spec_path, "--no-progress")
        assert res.exit_code == 0 and "computed 1 units" in res.output, res.output


def test_read_only_study_folder_is_a_permission_fault(finished_study, tmp_path):
    """A study folder on a read-only filesystem: `run` names it in one line, exit 1."""
    with tmpfs(tmp_path / "ro", 4096) as disk:
        spec_path = copy_study(finished_study, disk / "study")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        assert_refused(invoke("run", spec_path, "--no-progress"), 1, str(disk / "study"), "read-only file system")


def test_disk_full_while_writing_the_report_keeps_the_previous_one(finished_study, tmp_path, monkeypatch):
    from cellplateau.report import html

    spec_path = copy_study(finished_study, tmp_path / "study")
    report = tmp_path / "study" / "report"
    before = (report / "report.html").read_text()
    figures = sorted(p.name for p in (report / "figures").iterdir())
    real = html._Writer.img
    calls = []

    def full(self, fig, name):
        calls.append(name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.folder / "figures" / f"{name}.png"))
        return real(self, fig, name)

    monkeypatch.setattr(html._Writer, "img", full)
    assert_refused(invoke("report", spec_path), 1, "no space left on device", str(tmp_path / "study"), ".png")
    assert (report / "report.html").read_text() == before
    assert sorted(p.name for p in (report / "figures").iterdir()) == figures
    assert leftovers(tmp_path / "study") == []


def test_a_killed_report_writer_leaves_nothing_the_next_run_keeps(finished_study, tmp_path):
    spec_path = copy_study(finished_study, tmp_path / "study")
    stale = tmp_path / "study" / ".report.killed.tmp"
    (stale / "figures").mkdir(parents=True)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    res = invoke("run", spec_path, "--no-progress")
    assert res.exit_code == 0, res.output
    assert not stale.exists() and leftovers(tmp_path / "study") == []


def test_a_run_removes_a_dead_writers_cache_temporary_but_not_one_being_written(finished_study, tmp_path):
    """A plan-time cache (the overlap record) belongs to no unit: a second ``run`` starting while the first writes
    it must leave its temporary alone (it once pulled it away and the first run died at its rename), while the
    leftover of a writer killed long ago is removed."""
    spec_path = copy_study(finished_study, tmp_path / "study")
    folder = tmp_path / "study" / "artifacts" / "overlap"
    folder.mkdir(parents=True, exist_ok=True)
    fresh, dead = folder / ".balanced-0123.json.a1b2.tmp", folder / ".balanced-4567.json.c3d4.tmp"
    fresh.write_text("{")
    dead.write_text("{")
    old = time.time() - 3600
    os.utime(dead, (old, old))
    res = invoke("run", spec_path, "--no-progress")
    assert res.exit_code == 0, res.output
    assert fresh.exists() and not dead.exists()
