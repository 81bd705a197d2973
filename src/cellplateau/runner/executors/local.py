"""The local executor: in this process (``workers: 1``) or a process pool sized by ``execution.workers``."""

from __future__ import annotations

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
            self._pool = ProcessPoolExecutor(self.workers)
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
