"""Executors: where a stage's units run. One interface, an explicit registry, engines imported lazily.

An executor takes a stage's units and yields one :class:`~cellplateau.runner.worker.Outcome` per
unit as they finish (in any order). Every worker runs :func:`cellplateau.runner.worker.attempt`, so
claims, failure records and atomic artifacts behave the same under every engine. A worker that dies
yields an outcome with status ``crashed``; the orchestrator decides about retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from cellplateau.runner.executors.local import LocalExecutor
from cellplateau.runner.executors.ray import RayExecutor
from cellplateau.runner.executors.slurm import SlurmExecutor
from cellplateau.runner.units import Unit
from cellplateau.runner.worker import Outcome
from cellplateau.spec import StudySpec


class Executor(Protocol):
    def map(self, stage: str, units: list[Unit]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


EXECUTORS: dict[str, Callable[[StudySpec], Executor]] = {
    "local": LocalExecutor,
    "ray": RayExecutor,
    "slurm": SlurmExecutor,
}

__all__ = ["EXECUTORS", "Executor", "Outcome"]
