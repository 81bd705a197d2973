"""A real single-node SLURM cluster (Debian's slurm-wlm + munge, started here on loopback) runs a small
study through the ``slurm`` executor: one submitit job array per stage.

Runs as root where ``slurm-wlm`` and ``munge`` are installed; ``CELLPLATEAU_REQUIRE_SLURM=1`` (set by
CI) turns a missing cluster into a failure instead of a skip. By hand:
``sudo apt-get install slurm-wlm munge && CELLPLATEAU_REQUIRE_SLURM=1 .venv/bin/python -m pytest
tests/runner/test_slurm_cluster.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import plan_summary
from cellplateau.runner.plan import build_plan
from cellplateau.spec import load_spec
from tests.runner import _slurm
from tests.runner._cluster import stop
from tests.runner._spec import tiny_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm_env():
    why = _slurm.missing()
    if why is not None:
        if os.environ.get("CELLPLATEAU_REQUIRE_SLURM"):
            pytest.fail(f"CELLPLATEAU_REQUIRE_SLURM is set but {why}")
        pytest.skip(why)
    folder = Path(tempfile.mkdtemp(prefix="cpslurm", dir="/tmp"))
    log = open(folder / "daemons.log", "w")
    procs: list = []
    try:
        procs, env = _slurm.start_cluster(folder, log)
        yield env
    finally:
        stop(procs)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_study_through_slurm_job_arrays(slurm_env, tiny_atlas, tmp_path):
    spec_path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.1,), replicates=1, pca_only=True,
                          execution={"slurm": {"poll_s": 1}, "lease_s": 60,
                                     "resources": {"default": {"cpus": 1, "memory_gb": 0.5, "time_min": 10}}})
    data = yaml.safe_load(spec_path.read_text())
    data["selection"]["diversity"] = False                  # fewer units: 13 in 5 job arrays
    spec_path.write_text(yaml.safe_dump(data))
    spec = load_spec(spec_path)
    assert spec.execution.executor == "local"           # chosen on the command line below
    ctx = StudyContext(spec)
    t0 = time.time()
    res = subprocess.run([sys.executable, "-m", "cellplateau", "run", str(spec_path), "--no-progress",
                          "--executor", "slurm"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **slurm_env})
    elapsed = time.time() - t0
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    plan = build_plan(ctx)
    assert all(done == total for total, done in plan_summary(spec).values())
    runs = [json.loads(line) for line in ctx.layout.run_log.read_text().splitlines()]
    assert sorted(r["key"] for r in runs) == sorted(u.key for u in plan.all_units())
    assert all(r["where"].startswith("slurm:") for r in runs)
    # one job array per stage; every stage with more than one unit ran as several tasks of one array
    arrays = {}
    for r in runs:
        job = r["where"].removeprefix("slurm:").split("@")[0]
        arrays.setdefault(r["kind"], set()).add(job.split("_")[0])
    assert all(len(ids) == 1 for ids in arrays.values()), arrays
    assert len(set.union(*arrays.values())) == len(arrays), "a separate array for each stage"
    train_tasks = {r["where"] for r in runs if r["kind"] == "train"}
    assert len(train_tasks) == len(plan.units["train"]) > 1
    assert (ctx.layout.report_dir / "report.html").exists()
    print(f"SLURM study ({len(runs)} units, {len(arrays)} job arrays): {elapsed:.1f} s")
