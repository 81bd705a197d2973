"""The SLURM executor, through submitit: one job array per stage, one array task per unit.

The array's partition, time limit, CPUs, GPUs and memory come from ``execution.resources`` for the
stage. A task that ends without a result (killed, timed out, out of memory) comes back as
``crashed``: submitit asks ``sacct``; where accounting is off, a task that has left ``squeue``
without writing its result counts as ended. submitit is imported only when this executor is built.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from cellplateau.runner.units import Unit
from cellplateau.runner.worker import Outcome, attempt
from cellplateau.spec import StudySpec


def _slurm_attempt(spec_json: str, unit: Unit, threads: int) -> Outcome:
    env = os.environ
    job = f"{env.get('SLURM_ARRAY_JOB_ID', env.get('SLURM_JOB_ID', '?'))}_{env.get('SLURM_ARRAY_TASK_ID', '0')}"
    return attempt(spec_json, unit, threads=threads, where=f"slurm:{job}@{env.get('SLURMD_NODENAME', '?')}")


def _in_queue(job_ids: list[str]) -> set[str] | None:
    """Array task ids (``123_4``) that SLURM still lists as pending or running; None if squeue fails."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "--noheader", "--array", "--format=%i", "--jobs", ",".join(arrays)],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # finished arrays are unknown to squeue once purged: that is "not queued", not an error
        return set() if "Invalid job id" in out.stderr else None
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


class SlurmExecutor:
    def __init__(self, spec: StudySpec):
        import logging

        import submitit

        # without SLURM accounting every sacct call fails; ended tasks are then found through squeue (below)
        logging.getLogger("submitit").setLevel(logging.ERROR)
        self.spec = spec
        self.spec_json = spec.model_dump_json()
        folder = spec.execution.slurm.folder or Path(spec.output_dir) / "slurm"
        self.executor = submitit.SlurmExecutor(folder=str(Path(folder) / "%j"), max_num_timeout=0)

    def map(self, stage: str, units: list[Unit]) -> Iterator[Outcome]:
        cfg = self.spec.execution
        res = cfg.resources_for(stage)
        params = {"job_name": f"cellplateau-{stage}", "time": res.time_min, "cpus_per_task": res.cpus,
                  "array_parallelism": cfg.slurm.array_parallelism}
        if cfg.slurm.partition:
            params["partition"] = cfg.slurm.partition
        if res.gpus:
            params["gpus_per_node"] = math.ceil(res.gpus)
        if res.memory_gb:
            params["mem"] = f"{math.ceil(res.memory_gb * 1024)}MB"
        self.executor.update_parameters(**params)
        threads = cfg.threads or res.cpus
        jobs = self.executor.map_array(_slurm_attempt, [self.spec_json] * len(units), units, [threads] * len(units))
        pending = {job.job_id: (job, u.key) for job, u in zip(jobs, units)}
        gone: dict[str, int] = {}
        while pending:
            queued = _in_queue(list(pending))
            for job_id, (job, key) in list(pending.items()):
                if not job.done():
                    left = queued is not None and job_id not in queued and not job.paths.result_pickle.exists()
                    gone[job_id] = gone.get(job_id, 0) + 1 if left else 0
                    if gone[job_id] < 3:               # out of the queue on three polls and still no result
                        continue
                del pending[job_id]
                try:
                    yield job.result()
                except Exception as exc:                # submitit's FailedJobError / UncompletedJobError
                    yield Outcome(key, "crashed", error=f"SLURM job {job_id}: {exc}", where=f"slurm:{job_id}")
            if pending:
                time.sleep(cfg.slurm.poll_s)

    def close(self) -> None:
        pass
