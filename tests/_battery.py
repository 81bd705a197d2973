"""Shared checks of the bad-input battery: run a command in-process and assert a clean, named refusal."""

from __future__ import annotations

from pathlib import Path

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
