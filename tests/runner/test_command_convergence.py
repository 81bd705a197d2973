"""A command family that reports its trajectories in fit.json: convergence, the validation curve and the probe
reach the results table, the analysis's trajectories and the report like a built-in family's."""

from __future__ import annotations

import json

import numpy as np
import yaml

from cellplateau.analysis.summary import trajectories
from cellplateau.runner.execute import run_study
from cellplateau.spec import load_spec
from tests.runner._spec import tiny_spec

LOSS = [[0, 0, 5.0], [10, 640, 2.0], [20, 1280, 1.999], [30, 1920, 1.998], [40, 2560, 1.9985]]
PLANTED = {   # family label -> what its train command adds to the example's fit.json
    "cmd_plateau": {"val_curve": LOSS,
                    "probe_curve": [[0, 0, 0.4], [10, 640, 0.7], [20, 1280, 0.7004], [30, 1920, 0.7001],
                                    [40, 2560, 0.7002]]},
    "cmd_rising": {"val_curve": LOSS,
                   "probe_curve": [[0, 0, 0.4], [10, 640, 0.5], [20, 1280, 0.55], [30, 1920, 0.6],
                                   [40, 2560, 0.66]]},
    "cmd_says": {"converged": True},
}
TRAIN = """import json, sys
from pathlib import Path
import numpy as np
planted, out, n_genes = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), int(sys.argv[3])
np.save(out / "projection.npy", np.random.default_rng(0).normal(size=(n_genes, 4)))
(out / "fit.json").write_text(json.dumps({"steps": 40, **planted}))
"""
EMBED = """import sys
import h5py, numpy as np, scipy.sparse as sp
model, cells, out = sys.argv[1:]
with h5py.File(cells) as f:
    X = sp.csr_matrix((f["X/data"][:], f["X/indices"][:], f["X/indptr"][:]), shape=tuple(f["X"].attrs["shape"]))
np.save(out, np.log1p(X.toarray()) @ np.load(model + "/projection.npy"))
"""


def test_command_family_convergence_and_probe_reach_the_results(tiny_atlas, tmp_path):
    path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(1.0,), replicates=1, pca_only=True)
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "embed.py").write_text(EMBED)
    spec = yaml.safe_load(path.read_text())
    spec["selection"].update(strategies=[{"name": "random"}], diversity=False)
    for label, planted in PLANTED.items():
        (tmp_path / f"{label}.json").write_text(json.dumps(planted))
    spec["families"] = [{"name": "command", "label": label, "dim": 4, "cwd": str(tmp_path),
                         "train": f"{{python}} train.py {label}.json {{model_dir}} {{n_genes}}",
                         "embed": "{python} embed.py {model_dir} {input_h5ad} {output}"} for label in PLANTED]
    path.write_text(yaml.safe_dump(spec))
    summary = run_study(load_spec(path), progress=False, log=lambda s: None)
    assert not summary.failed, "\n".join(summary.failed.values())[-3000:]
    r = __import__("pandas").read_parquet(tmp_path / "study" / "results" / "results.parquet")
    pre = r[r["task"] == "pretraining"].pivot_table(index="family", columns="metric", values="value",
                                                    dropna=False)
    expected = {"cmd_plateau": (1, 1, 1), "cmd_rising": (0, 1, 0), "cmd_says": (1, np.nan, np.nan)}
    for fam, values in expected.items():
        got = tuple(pre.loc[fam, ["converged", "loss_converged", "probe_converged"]])
        np.testing.assert_array_equal(got, values, err_msg=fam)
    traj = r[r["task"] == "trajectory"]
    for fam in ("cmd_plateau", "cmd_rising"):
        t = traj[traj["family"] == fam]
        assert not t.duplicated(["model_key", "step", "metric"]).any()
        probe = t[t["metric"] == "probe"].sort_values("step")
        assert probe["step"].tolist() == [0, 10, 20, 30, 40]
        np.testing.assert_allclose(probe["value"], [row[2] for row in PLANTED[fam]["probe_curve"]])
        np.testing.assert_allclose(t[t["metric"] == "val_loss"].sort_values("step")["value"], [v for *_, v in LOSS])
    assert traj[traj["family"] == "cmd_says"].empty
    wide = trajectories(r)
    assert len(wide) == 10 and wide.groupby("model")["probe"].max().round(4).to_dict() == {
        "cmd_plateau": 0.7004, "cmd_rising": 0.66}
    assert set(wide.loc[wide["model"] == "cmd_rising", "probe_converged"]) == {0.0}
    html = (tmp_path / "study" / "report" / "report.html").read_text()
    assert "Training trajectories" in html and "probe" in html
