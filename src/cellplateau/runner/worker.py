"""One attempt at one unit, as any executor's worker runs it: claim, compute, record, release.

``attempt`` is the only function an executor ships to its workers (a pool process, a Ray task, a
SLURM array task). It never raises for a failing unit: the traceback goes into the unit's failure
record and the returned :class:`Outcome`. A unit claimed by a live worker elsewhere (a second
``run`` on the same study) comes back ``busy`` and is not recomputed; a stale claim is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache

from cellplateau import _faults
from cellplateau.runner import claims, verify
from cellplateau.runner.context import StudyContext
from cellplateau.runner.units import Unit, run_unit
from cellplateau.spec import spec_from_json


@dataclass
class Outcome:
    """What became of one attempt: ``done`` (computed here), ``skipped`` (found done), ``busy`` (a live
    worker elsewhere holds it), ``failed`` (raised; ``attempts`` so far), or ``crashed`` (the worker
    died; set by the executor)."""

    key: str
    status: str
    seconds: float = 0.0
    error: str = ""
    attempts: int = 0
    where: str = ""
    fault: str = ""      # a machine fault (disk full, permission) in one line: not retried


@lru_cache(maxsize=4)
def _context(spec_json: str) -> StudyContext:
    return StudyContext(spec_from_json(spec_json))


def _log(ctx: StudyContext, unit: Unit, seconds: float, where: str) -> None:
    """Append one line to ``runs.jsonl`` (a single O_APPEND write, so concurrent writers do not interleave)."""
    line = json.dumps({"kind": unit.kind, "key": unit.key, "label": unit.label, "seconds": round(seconds, 3),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": socket.gethostname(),
                       "pid": os.getpid(), "where": where}) + "\n"
    ctx.layout.run_log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(ctx.layout.run_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def attempt(spec_json: str, unit: Unit, *, threads: int | None = None, where: str = "") -> Outcome:
    """Compute ``unit`` unless it is done, or ``busy``: claimed by a live worker elsewhere."""
    ctx = _context(spec_json)
    lease_s = ctx.spec.execution.lease_s
    if unit.done(ctx):
        return Outcome(unit.key, "skipped", where=where)
    claim = claims.try_claim(ctx.layout.claim(unit.key), lease_s=lease_s,
                             unit={"key": unit.key, "label": unit.label, "where": where})
    if claim is None:
        return Outcome(unit.key, "busy", where=where)
    with claims.heartbeat(claim, lease_s=lease_s):
        if unit.done(ctx):                      # finished by the previous holder just before we claimed it
            return Outcome(unit.key, "skipped", where=where)
        t0 = time.perf_counter()
        try:
            verify.check_inputs(ctx, unit)
            run_unit(ctx, unit, threads=threads)
            verify.write_record(ctx, unit)
        except Exception as exc:
            return _failed(ctx, unit, exc, time.perf_counter() - t0, where)
        seconds = time.perf_counter() - t0
    claims.clear_failure(ctx.layout.failure(unit.key))
    _log(ctx, unit, seconds, where)
    return Outcome(unit.key, "done", seconds, where=where)


def _failed(ctx: StudyContext, unit: Unit, exc: Exception, seconds: float, where: str) -> Outcome:
    """Record a failed attempt; a machine fault (disk full, ...) is named in one line, and when the failure
    record cannot be written either (the same full disk) the attempt is still reported."""
    error = traceback.format_exc()
    fault = _faults.describe(exc, writing=unit.path(ctx).parent) or ""
    try:
        n = claims.record_failure(ctx.layout.failure(unit.key), error=error, label=unit.label, where=where)
    except OSError as rec_exc:
        n = claims.failure_attempts(ctx.layout.failure(unit.key)) + 1
        error += f"\n(its failure record could not be written: {rec_exc})"
    return Outcome(unit.key, "failed", seconds, error, n, where, fault)
