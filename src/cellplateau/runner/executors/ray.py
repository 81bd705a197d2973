"""The Ray executor: each unit one Ray task with the stage's CPU, GPU and memory request.

Connects to an existing cluster (``execution.ray.address``: ``auto`` or ``host:port``) or starts a
local one. Tasks are not retried by Ray (``max_retries=0``): a task whose worker dies comes back as
``crashed`` and the orchestrator retries it under the spec's ``max_retries``; the new attempt takes
over the dead worker's claim. Ray is imported only when this executor is built.
"""

from __future__ import annotations

from collections.abc import Iterator

from cellplateau.runner.units import Unit
from cellplateau.runner.worker import Outcome, attempt
from cellplateau.spec import StudySpec


def _ray_attempt(spec_json: str, unit: Unit, threads: int) -> Outcome:
    import ray

    return attempt(spec_json, unit, threads=threads, where=f"ray:{ray.get_runtime_context().get_node_id()}")


class RayExecutor:
    def __init__(self, spec: StudySpec):
        import ray

        self.spec = spec
        self.spec_json = spec.model_dump_json()
        if not ray.is_initialized():
            ray.init(address=spec.execution.ray.address, include_dashboard=False, log_to_driver=False)
        self._task = ray.remote(_ray_attempt)

    def map(self, stage: str, units: list[Unit]) -> Iterator[Outcome]:
        import ray

        res = self.spec.execution.resources_for(stage)
        opts = {"num_cpus": res.cpus, "num_gpus": res.gpus, "max_retries": 0, "retry_exceptions": False}
        if res.memory_gb:
            opts["memory"] = int(res.memory_gb * 2**30)
        threads = self.spec.execution.threads or res.cpus
        refs = {self._task.options(**opts).remote(self.spec_json, u, threads): u.key for u in units}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            key = refs.pop(ready[0])
            try:
                yield ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                yield Outcome(key, "crashed", error=f"{type(exc).__name__}: {exc}", where="ray")

    def close(self) -> None:
        import ray

        ray.shutdown()
