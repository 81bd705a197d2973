"""A real two-node Ray cluster on this machine (head + a second node joined with ``ray start``), a study
spread over both, and one Ray worker killed with SIGKILL in the middle of a training."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import plan_summary
from cellplateau.runner.plan import build_plan
from cellplateau.spec import load_spec
from tests.runner._cluster import free_port, start, stop, wait_for
from tests.runner._spec import tiny_spec
from tests.runner.test_plugins import DAE

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def _alive_nodes(address: str) -> int:
    out = subprocess.run([RAY, "status", "--address", address], capture_output=True, text=True, env={**os.environ, **ENV})
    active = out.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0] if "Active:" in out.stdout else ""
    return len(re.findall(r"^\s*1 node_", active, flags=re.M))


@pytest.fixture(scope="module")
def ray_cluster(example_plugin_site):
    """``ray start --head`` and a second ``ray start --address`` node, one CPU each; stopped by process group.
    Both nodes' workers see the pip-installed example plug-in family (its folder on their ``PYTHONPATH``)."""
    temp = Path(tempfile.mkdtemp(prefix="cpray", dir="/tmp"))      # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", "100000000",
              "--disable-usage-stats"]
    pythonpath = os.pathsep.join(p for p in (str(example_plugin_site), os.environ.get("PYTHONPATH")) if p)
    env = {**ENV, "PYTHONPATH": pythonpath}
    log = open(temp / "cluster.log", "w")
    procs = [start([RAY, "start", "--head", "--port", str(port), "--include-dashboard=false",
                    "--temp-dir", str(temp), *common], log=log, env=env)]
    try:
        wait_for(lambda: _alive_nodes(address) == 1, timeout=90, what="the Ray head")
        procs.append(start([RAY, "start", "--address", address, *common], log=log, env=env))
        wait_for(lambda: _alive_nodes(address) == 2, timeout=90, what="the second Ray node")
        yield address, env
    finally:
        stop(procs, grace=0)                               # Ray's daemons ignore SIGTERM: kill the groups
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _claims(ctx):
    out = []
    for p in (ctx.layout.root / "state" / "claims").glob("*.json"):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            pass
    return out


def test_two_node_ray_study_survives_a_killed_worker(ray_cluster, tiny_atlas, tmp_path, isolated_registries):
    """The study also trains the pip-installed plug-in family of examples/plugin_family on both nodes: it is
    found through its entry point by the driver and by every Ray worker, and learns like a built-in."""
    address, env = ray_cluster
    spec_path = tiny_spec(tiny_atlas, tmp_path / "study", mae_steps=400, fractions=(0.1, 1.0), replicates=1,
                          execution={"executor": "ray", "ray": {"address": address}, "lease_s": 30,
                                     "max_retries": 2, "resources": {"default": {"cpus": 1}}})
    raw = yaml.safe_load(spec_path.read_text())
    raw["families"].append(DAE)
    spec_path.write_text(yaml.safe_dump(raw))
    sys.path.insert(0, env["PYTHONPATH"].split(os.pathsep)[0])   # this process reads the spec too (restored)
    spec = load_spec(spec_path)
    ctx = StudyContext(spec)
    t0 = time.time()
    driver = subprocess.Popen([sys.executable, "-m", "cellplateau", "run", str(spec_path), "--no-progress"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})

    def training_claim():
        busy = [c for c in _claims(ctx) if c["label"].startswith("train mae")]
        return busy[0] if busy and driver.poll() is None else None

    victim = wait_for(training_claim, timeout=240, what="a Ray worker training an MAE", poll=0.05)
    os.kill(victim["pid"], signal.SIGKILL)                 # claimed, so its training has begun
    out, _ = driver.communicate(timeout=400)
    elapsed = time.time() - t0
    assert driver.returncode == 0, out[-4000:]

    plan = build_plan(ctx)
    all_keys = {u.key for u in plan.all_units()}
    assert all(done == total for total, done in plan_summary(spec).values())
    runs = [json.loads(line) for line in ctx.layout.run_log.read_text().splitlines()]
    keys = [r["key"] for r in runs]
    assert sorted(keys) == sorted(all_keys), "every unit computed exactly once, the killed one included"
    assert f"{victim['label']}: attempt 1 crashed" in out, "the driver saw the worker die"
    redo = next(r for r in runs if r["key"] == victim["key"])
    assert redo["pid"] != victim["pid"], "the killed worker's unit was recomputed by another worker"
    nodes = {r["where"] for r in runs}
    assert len(nodes) == 2 and all(n.startswith("ray:") for n in nodes), f"the study ran on both nodes: {nodes}"
    assert not list((ctx.layout.root / "state" / "claims").glob("*")), "no claim left behind"
    assert not list((ctx.layout.root / "state" / "failed").glob("*")), "the crash's failure record was cleared"
    assert not list(ctx.layout.artifacts.rglob(".*.tmp"))
    r = pd.read_parquet(ctx.layout.results)
    ident = ["strategy", "fraction", "replicate", "family", "model_size", "task", "dataset", "metric", "model_key",
             "step"]   # trajectory rows: one per validation step
    assert not r.duplicated(ident).any()
    knn = r[(r["task"] == "knn_classification") & (r["metric"] == "micro_f1")]
    assert knn["value"].notna().all()
    dae = knn[knn["family"] == "dae"].set_index(["strategy", "fraction"])["value"].sort_index()
    print("plug-in family dae on Ray, kNN micro-F1:\n" + dae.to_string())
    assert len(dae) == 3 * 2 + 1 and dae.drop("control").min() > dae["control"].iloc[0] + 0.05, "the plug-in learns"
    dae_runs = {r["where"] for r in runs if r["label"].startswith("train dae")}
    assert dae_runs <= nodes and dae_runs, dae_runs
    print(f"ray two-node study with a killed worker: {elapsed:.1f} s")
