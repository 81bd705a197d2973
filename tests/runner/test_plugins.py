"""Families and strategies from outside the package run like built-ins on the local process pool: every worker
imports the installed entry points and the spec's plug-ins before it validates the spec it is sent."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import yaml

from tests.runner._spec import tiny_spec
from tests.test_registry import HALF, PCA2

DAE = {"name": "dae", "hidden": 64, "latent": 16, "batch_size": 128, "lr": 3e-3,
       "budget": {"policy": "fixed_steps", "steps": 150, "eval_every": 25}}


def _run(path, *, pythonpath: str = ""):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-m", "cellplateau", "run", str(path), "--no-progress"],
                          capture_output=True, text=True, env=env)


def test_installed_plugin_family_studied_on_the_local_pool(tiny_atlas, tmp_path, example_plugin_site):
    """examples/plugin_family, pip-installed: found through its entry point in the CLI and in both pool workers;
    it learns (beats its untrained control) and gets curves, compute and convergence rows like a built-in."""
    path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.3, 1.0), replicates=1, workers=2, pca_only=True)
    spec = yaml.safe_load(path.read_text())
    spec["families"] = [spec["families"][0], DAE]
    spec["selection"].update(strategies=[{"name": "random"}], diversity=False)
    path.write_text(yaml.safe_dump(spec))
    out = _run(path)
    assert out.returncode == 2 and "unknown name 'dae'" in out.stderr, "not installed: an unknown family"
    out = _run(path, pythonpath=str(example_plugin_site))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    r = pd.read_parquet(tmp_path / "study" / "results" / "results.parquet")
    knn = r[(r["task"] == "knn_classification") & (r["metric"] == "micro_f1") & (r["family"] == "dae")]
    by = knn.set_index(["strategy", "fraction"])["value"].sort_index()
    print("dae kNN micro-F1:\n" + by.to_string())
    assert by.drop("control").min() > by["control"].iloc[0] + 0.05, "the plug-in learns"
    pre = r[(r["task"] == "pretraining") & (r["family"] == "dae") & (r["strategy"] != "control")]
    fit = pre.pivot_table(index="model_key", columns="metric", values="value")
    assert (fit["steps"] == 150).all() and (fit["flops"] > 0).all() and (fit["n_params"] > 0).all()
    runs = pd.read_json(tmp_path / "study" / "runs.jsonl", lines=True)
    assert runs["pid"].nunique() >= 2, "units ran in more than one pool worker"
    html = (tmp_path / "study" / "report" / "report.html").read_text()
    assert "dae" in html


def test_spec_plugins_reach_every_pool_worker(tiny_atlas, tmp_path):
    (tmp_path / "fam.py").write_text(PCA2.format(name="pca_plugin"))
    (tmp_path / "first_rows.py").write_text(HALF)
    path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.3, 1.0), replicates=1, workers=2, pca_only=True)
    spec = yaml.safe_load(path.read_text())
    spec["plugins"] = [str(tmp_path / "fam.py"), str(tmp_path / "first_rows.py")]
    spec["families"].append({"name": "pca_plugin", "n_components": 10, "n_hvg": 200})
    spec["selection"]["strategies"] = [{"name": "random"}, {"name": "first_rows"}]
    spec["selection"]["diversity"] = False
    path.write_text(yaml.safe_dump(spec))
    out = _run(path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    r = pd.read_parquet(tmp_path / "study" / "results" / "results.parquet")
    knn = r[(r["task"] == "knn_classification") & (r["metric"] == "micro_f1")]
    assert set(knn["family"]) >= {"pca", "pca_plugin"} and "first_rows" in set(knn["strategy"])
    runs = pd.read_json(tmp_path / "study" / "runs.jsonl", lines=True)
    assert runs["pid"].nunique() >= 2, "units ran in more than one pool worker"
    knn = knn[knn["strategy"] != "control"]
    trained = knn[knn["family"] == "pca_plugin"].set_index(["strategy", "fraction"])["value"]
    builtin = knn[knn["family"] == "pca"].set_index(["strategy", "fraction"])["value"]
    # the plug-in is PCA under another name: the same subsets and seeds give the same scores as the built-in
    pd.testing.assert_series_equal(trained.sort_index(), builtin.sort_index(), check_names=False)
