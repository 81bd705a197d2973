"""A study whose family and strategy come from outside the package runs on the local process pool: every
worker imports the spec's plug-ins before it validates the spec it is sent."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import yaml

from tests.runner._spec import tiny_spec
from tests.test_registry import HALF, PCA2


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
    out = subprocess.run([sys.executable, "-m", "cellplateau", "run", str(path), "--no-progress"],
                         capture_output=True, text=True, env=os.environ.copy())
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
