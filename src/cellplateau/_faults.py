"""Faults of the machine, not of the study: a full disk, a quota, a permission, a read-only filesystem.

They become one line naming the path (exit code 1 at the command line) instead of a traceback, and a
unit that hits one is not retried (a retry cannot succeed until the user acts).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

FAULTS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
          errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
          errno.EROFS: "read-only file system"}
NEARLY_FULL = 1 << 20          # bytes free below which a failed write is put down to a full disk


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def os_fault(exc: BaseException) -> OSError | None:
    """The OSError with a machine-fault errno in ``exc``'s cause/context chain, if any."""
    return next((e for e in _chain(exc) if isinstance(e, OSError) and e.errno in FAULTS), None)


def describe(exc: BaseException, *, writing: str | os.PathLike | None = None) -> str | None:
    """One line for a machine fault in ``exc`` (None if it is not one).

    ``writing``: the folder being written. Some writers (torch's zip writer) report a full disk without an
    errno; when such a write fails while that folder's filesystem has under 1 MiB free, the fault is
    named as a full disk too.
    """
    found = os_fault(exc)
    if found is not None:
        where = found.filename or writing
        extra = f" (and {found.filename2})" if found.filename2 else ""
        return f"{where}{extra}: {FAULTS[found.errno]}" if where else FAULTS[found.errno]
    if writing is not None:
        folder = Path(writing)
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return None
        if free < NEARLY_FULL:
            last = str(exc).strip().splitlines()
            return (f"{writing}: no space left on device ({free:,} bytes free; the write failed with "
                    f"{type(exc).__name__}: {last[-1] if last else ''})")
    return None
