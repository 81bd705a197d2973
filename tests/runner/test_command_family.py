"""Models outside the package: a command family (examples/command_family's scripts) and checkpoints trained
elsewhere on exported subsets (`export-subsets` + an `imported` family), run as ordinary units."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from cellplateau.models.base import TrainingData
from cellplateau.models.command import CommandConfig, CommandError, CommandModel
from tests.conftest import REPO
from tests.runner._spec import tiny_spec

SCRIPTS = REPO / "examples" / "command_family"
TRAIN = "{python} train.py --train {train_h5ad} --out {model_dir} --dim 10 --seed {seed} --device {device}"
UNTRAINED = "{python} train.py --untrained --genes {genes} --out {model_dir} --dim 10 --seed {seed}"
EMBED = "{python} embed.py --model {model_dir} --input {input_h5ad} --output {output}"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cellplateau", *map(str, args)], capture_output=True, text=True,
                          env=os.environ.copy())


def test_command_and_imported_families_run_as_units_and_learn(tiny_atlas, tmp_path):
    path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.3, 1.0), replicates=1, pca_only=True)
    spec = yaml.safe_load(path.read_text())
    spec["selection"].update(strategies=[{"name": "random"}], diversity=False)
    command = {"name": "command", "label": "numpy_pca", "dim": 10, "export_h5ad": True, "cwd": str(SCRIPTS),
               "train": TRAIN, "untrained": UNTRAINED, "embed": EMBED}
    imported = {"name": "imported", "label": "team_pca", "dim": 10, "cwd": str(SCRIPTS), "embed": EMBED,
                "checkpoints": str(tmp_path / "ckpts" / "{strategy}_{fraction}_r{replicate}")}
    spec["families"] += [command, imported]
    path.write_text(yaml.safe_dump(spec))

    # 1. the subsets, exported for "a team that trains on its own infrastructure"
    out = _cli("export-subsets", path, "--h5ad", "--out", tmp_path / "export", "--no-progress")
    assert out.returncode == 0, out.stderr
    index = pd.read_csv(tmp_path / "export" / "subsets.tsv", sep="\t")
    assert sorted(index["folder"]) == ["all_1_r0", "random_0.3_r0"]
    sub = tmp_path / "export" / "random_0.3_r0"
    rows = np.loadtxt(sub / "train_rows.txt", dtype=np.int64)
    manifest = json.loads((sub / "manifest.json").read_text())
    assert len(rows) == index.set_index("folder").loc["random_0.3_r0", "n_train"] and manifest["fraction"] == 0.3
    import anndata as ad

    cells = ad.read_h5ad(sub / "train.h5ad")
    assert cells.n_obs == len(rows) and list(cells.obs_names.astype(int)) == list(rows)
    assert pd.read_csv(sub / "train_obs.tsv", sep="\t")["corpus_row"].tolist() == rows.tolist()

    # 2. plan lists the checkpoints that are still missing
    out = _cli("plan", path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("missing checkpoint:") == 2 and "random_0.3_r0" in out.stdout

    # 3. the team trains with its own code, one checkpoint per subset
    for folder in index["folder"]:
        subprocess.run([sys.executable, "train.py", "--train", tmp_path / "export" / folder / "train.h5ad",
                        "--out", tmp_path / "ckpts" / folder, "--dim", "10"], cwd=SCRIPTS, check=True,
                       capture_output=True)
    assert "missing checkpoint" not in _cli("plan", path).stdout

    # 4. the study: command units, imported units, evaluation, analysis and report as for a built-in
    out = _cli("run", path, "--no-progress")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    r = pd.read_parquet(tmp_path / "study" / "results" / "results.parquet")
    knn = r[(r["task"] == "knn_classification") & (r["metric"] == "micro_f1")]
    by = knn.set_index(["family", "strategy", "fraction"])["value"].sort_index()
    print("kNN micro-F1 by family / strategy / fraction:\n" + by.to_string())
    for fam in ("numpy_pca", "team_pca"):
        trained = by[fam].drop("control", errors="ignore")
        assert len(trained) == 2
    control = by["numpy_pca"]["control"].iloc[0]
    assert by["numpy_pca"].drop("control").min() > control + 0.05, "the command family learns"
    # the same script on the same subsets, run by cellplateau or by the team, gives the same curve
    np.testing.assert_allclose(by["team_pca"].sort_index().to_numpy(),
                               by["numpy_pca"].drop("control").sort_index().to_numpy(), atol=1e-6)
    pre = r[(r["task"] == "pretraining") & (r["family"] == "numpy_pca") & (r["strategy"] != "control")]
    assert set(pre.loc[pre["metric"] == "cells_seen", "value"]) == set(index["n_train"])   # from its fit.json
    html = (tmp_path / "study" / "report" / "report.html").read_text()
    assert "numpy_pca" in html and "team_pca" in html
    # logs captured, seed and device passed
    models = tmp_path / "study" / "artifacts" / "models"
    logs = {p.parent.name: p.read_text() for p in models.glob("*/train.log")}
    seeds = {json.loads((models / k / "model.json").read_text())["unit"]["seed"] for k in logs}
    assert all(f"seed {s}, device cpu" in "".join(logs.values()) for s in seeds) and len(logs) == 3
    assert any("embedded" in p.read_text() for p in models.glob("*/embed_logs/*.log"))
    # cached like every unit: a second run computes nothing
    again = _cli("run", path, "--no-progress")
    assert again.returncode == 0 and "computed 0 units" in again.stdout


@pytest.fixture
def trained_command(tiny_store, tmp_path):
    rows = np.arange(tiny_store.n_cells)
    config = CommandConfig(label="numpy_pca", dim=10, export_h5ad=True, cwd=SCRIPTS, train=TRAIN, embed=EMBED)
    model = CommandModel(config)
    model.fit(TrainingData(tiny_store, rows[:600], rows[600:700], {}, tmp_path / "work"), seed=3)
    model.save(tmp_path / "model")
    from cellplateau.models import load_model

    return load_model(tmp_path / "model"), tiny_store.read_rows(rows[:50])


@pytest.mark.parametrize("embed, message", [
    ("{python} -c 'import numpy, sys; numpy.save(sys.argv[1], numpy.zeros((50, 3)))' {output}",
     r"embed command of family 'numpy_pca' wrote an embedding of shape \(50, 3\); expected \(50, 10\)"),
    ("{python} -c 'import numpy, sys; numpy.save(sys.argv[1], numpy.full((50, 10), numpy.nan))' {output}",
     r"embed command of family 'numpy_pca' wrote 50 of 50 rows with NaN or infinite values"),
    ("{python} -c 'import sys; print(\"out of memory\"); sys.exit(3)'",
     r"embed command of family 'numpy_pca' '.*' exited with status 3; log .*\n\$ .*\nout of memory"),
    ("{python} -c pass", r"embed command of family 'numpy_pca' wrote no output embedding\.npy"),
    ("{python} embed.py --model {model_dir} --in {input}", r"unknown placeholder \{input\}; available: .*input_h5ad"),
    ("no_such_program_xyz {output}", r"program 'no_such_program_xyz' not found"),
])
def test_bad_embed_commands_fail_naming_the_command(trained_command, embed, message):
    model, counts = trained_command
    assert model.embed(counts).shape == (50, 10)
    model.config = model.config.model_copy(update={"embed": embed})
    with pytest.raises(CommandError, match=message):
        model.embed(counts)


def test_a_train_command_that_fails_or_writes_nothing(tiny_store, tmp_path):
    rows = np.arange(tiny_store.n_cells)
    data = TrainingData(tiny_store, rows[:100], rows[100:120], {}, tmp_path / "w")
    fails = CommandModel(CommandConfig(label="x", dim=2, cwd=SCRIPTS, embed=EMBED,
                                       train="{python} train.py --out {model_dir} --no-such-flag"))
    with pytest.raises(CommandError, match=r"train command of family 'x' '.* train\.py --out .*' exited with status "
                                           r"2; log .*train\.log:\n(.|\n)*unrecognized arguments: --no-such-flag"):
        fails.fit(data, seed=0)
    lazy = CommandModel(CommandConfig(label="x", dim=2, cwd=SCRIPTS, embed=EMBED, train="{python} -c pass"))
    with pytest.raises(CommandError, match=r"wrote nothing into \{model_dir\}"):
        lazy.fit(data, seed=0)
