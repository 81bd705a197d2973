"""The local executor: in this process (``workers: 1``) or a process pool sized by ``execution.workers``.

Pool workers start from a fork server, not by forking this process: a fork of a process whose BLAS/OpenMP
or torch thread pools are already running can hang or crash in the child.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from cellplateau.runner.units import Unit
from cellplateau.runner.worker import Outcome, attempt
from cellplateau.spec import StudySpec


class LocalExecutor:
    def __init__(self, spec: StudySpec):
        self.spec_json = spec.model_dump_json()
        self.workers = spec.execution.n_workers()
        self._pool: ProcessPoolExecutor | None = None

    def map(self, stage: str, units: list[Unit]) -> Iterator[Outcome]:
        if self.workers == 1:
            for u in units:
                yield attempt(self.spec_json, u, where="local")
            return
        if self._pool is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method))
        futures = {self._pool.submit(attempt, self.spec_json, u, where="local"): u.key for u in units}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    yield fut.result()
                except BrokenProcessPool as exc:      # a worker died: every unit in flight is lost
                    self.close()
                    yield Outcome(futures[fut], "crashed", error=f"local worker died: {exc}", where="local")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
