"""An adaptive study through the real runner on a synthetic study with planted curves.

The planted task (a spec plug-in) scores each model from the cells it was trained on: the two small PCA models
follow a curve that saturates at ~2 % of the corpus, the large one a curve that still rises at 100 %. The
adaptive run must reach the same saturation conclusions as the full grid (run afterwards on the same study
folder: its units have the same keys) with at most half of the full grid's measured training FLOPs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import yaml

from cellplateau.analysis.summary import scaling_table
from cellplateau.runner.execute import run_study
from cellplateau.spec import load_spec
from tests.runner._spec import tiny_spec

PLANTED = '''
from typing import Literal
import numpy as np
from pydantic import BaseModel
from cellplateau.evaluation.base import Task

class Config(BaseModel):
    name: Literal["planted_curve"] = "planted_curve"

def evaluate(emb, ds, config, seed, model=None):
    n = model.fit_info.cells_seen
    noise = np.random.default_rng(int(abs(float(model.components.sum())) * 1e6) % 2**32).normal(0, 0.004)
    if model.config.n_components <= 4:
        return {"score": 0.8 - 0.6 * np.exp(-n / 20.0) + noise}
    return {"score": 0.9 - 0.6 * (n / 20.0) ** -0.25 + noise}

TASK = Task("planted_curve", Config, evaluate, lambda ds, config, seed: {}, headline="score")
'''


def test_adaptive_matches_the_full_grid_with_half_the_training_flops(tiny_atlas, tmp_path, isolated_registries):
    (tmp_path / "planted.py").write_text(PLANTED)
    path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.01, 0.03, 0.1, 0.3, 1.0), replicates=3,
                     pca_only=True)
    data = yaml.safe_load(path.read_text())
    data.update(plugins=[str(tmp_path / "planted.py")], controls=False)
    data["selection"].update(strategies=[{"name": "random"}], diversity=False)
    data["families"] = [{"name": "pca", "size": "xs", "n_components": 3, "n_hvg": 50},
                        {"name": "pca", "size": "s", "n_components": 4, "n_hvg": 50},
                        {"name": "pca", "size": "l", "n_components": 10, "n_hvg": 50}]
    data["evaluation"]["tasks"] = [{"name": "planted_curve"}]
    full_path = tmp_path / "full.yaml"
    full_path.write_text(yaml.safe_dump(data))
    data["selection"]["adaptive"] = {"confidence": 0.95, "n_boot": 300}
    path.write_text(yaml.safe_dump(data))

    adaptive = run_study(load_spec(path), progress=False, log=lambda _: None)
    assert not adaptive.failed
    out = tmp_path / "study"
    record = json.loads((out / "adaptive.json").read_text())
    a = pd.read_parquet(out / "results" / "results.parquet")
    assert run_study(load_spec(path), progress=False, log=lambda _: None).computed == [], "resumes to nothing"
    full = run_study(load_spec(full_path), progress=False, log=lambda _: None)
    assert not full.failed and full.computed, "the full grid needed the units the adaptive run skipped"
    b = pd.read_parquet(out / "results" / "results.parquet")

    fa, fb = (scaling_table(t, n_boot=300).set_index("model") for t in (a, b))
    assert sorted(fa.index) == sorted(fb.index) == ["pca-l", "pca-s", "pca-xs"]
    for col in ("sat_seed_mean", "sat_any_seed", "scaling_supported"):
        assert fa[col].to_dict() == fb[col].to_dict(), col
    final = record["final_fractions"]
    assert final["pca-l / random"] == [0.01, 0.03, 0.1, 0.3, 1.0], "the rising curve runs the whole grid"
    assert max(final["pca-xs / random"]) <= 0.1 and max(final["pca-s / random"]) <= 0.1
    flops = lambda t: t.loc[(t["task"] == "pretraining") & (t["metric"] == "flops"), "value"].sum()  # noqa: E731
    assert flops(a) <= 0.5 * flops(b), (flops(a), flops(b))
    assert record["train_flops_saved_share"] >= 0.5 and len(record["skipped"]) > 0
    assert np.isclose(record["train_flops_run"] / record["train_flops_full_grid"], flops(a) / flops(b), rtol=0.05)
    html = (out / "report" / "report.html").read_text()
    assert "Adaptive selection" not in html, "the report of the full-grid spec has no adaptive section"
