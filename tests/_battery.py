"""Shared checks of the bad-input battery: run a command in-process and assert a clean, named refusal."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cellplateau.cli import app


def invoke(*args) -> object:
    """Run ``cellplateau ARGS`` in this process (typer's CliRunner); stdout and stderr together in ``.output``."""
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_refused(res, code: int, *names: str) -> str:
    """Exit ``code``, no traceback, and one ``error:`` line (a spec error adds one indented line per key) naming
    every one of ``names``; returns the message."""
    assert res.exception is None or isinstance(res.exception, SystemExit), \
        f"uncaught {type(res.exception).__name__}: {res.exception}\n{res.output}"
    assert "Traceback" not in res.output, res.output
    assert res.exit_code == code, f"exit {res.exit_code}, expected {code}\n{res.output}"
    lines = res.output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(starts) == 1, f"expected one error:\n{res.output}"
    # the error line, and the indented per-key lines a spec error adds under it
    block = [lines[starts[0]]] + [x for x in lines[starts[0] + 1:] if x.startswith("  ")]
    message = "\n".join(block)
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    return message


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders (``.*.tmp``) anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp")) if folder.exists() else []


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int):
    """A real, tiny filesystem at ``path`` (root only); skipped with the reason elsewhere unless CI requires it."""
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        if os.environ.get("CELLPLATEAU_REQUIRE_SLURM"):        # CI runs as root
            pytest.fail(f"cannot mount a tmpfs: {res.stderr.strip()}")
        pytest.skip(f"a real full disk needs a tmpfs mount (root): {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
