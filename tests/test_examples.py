"""The reference study as a spec: `plan` counts and costs it without the corpus or the network."""

from pathlib import Path

from typer.testing import CliRunner

from cellplateau.cli import app
from cellplateau.runner.compute import plan_compute
from cellplateau.runner.execute import plan_counts
from cellplateau.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_reference_spec_plans_400_pretrainings_and_6400_evaluations():
    spec = load_spec(EXAMPLES / "reference_study.yaml")
    counts = plan_counts(spec)
    assert counts["corpus_planned"]
    assert (counts["pretrainings"], counts["controls"]) == (400, 25)              # 80 subsets x 5 families
    assert (counts["evaluations"], counts["control_evaluations"]) == (6400, 400)  # x 4 tasks x 4 datasets
    assert counts["baselines"] == 16 and len(counts["missing_datasets"]) == 8
    flops = plan_compute(spec)["train"]
    assert 1e16 < flops < 1e20
    out = CliRunner().invoke(app, ["plan", str(EXAMPLES / "reference_study.yaml")], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "400 pretrainings (+ 25 untrained controls), 6400 evaluations" in out.output
    assert "not built yet" in out.output and "FLOP" in out.output


def test_small_variant_keeps_the_reference_design():
    ref = load_spec(EXAMPLES / "reference_study.yaml")
    small = load_spec(EXAMPLES / "reference_small.yaml")
    assert small.selection.fractions == ref.selection.fractions
    assert [s.name for s in small.selection.strategies] == [s.name for s in ref.selection.strategies]
    assert [f.name for f in small.families] == [f.name for f in ref.families]
    assert {t.name for t in small.evaluation.tasks} == {t.name for t in ref.evaluation.tasks}
    assert small.corpus.simulate is not None


def test_depth_adaptive_example_runs_small(tiny_atlas, tmp_path):
    """A small version of examples/depth_adaptive.yaml (same axes: depth, adaptive, kcenter) on the tiny atlas."""
    import json

    import pandas as pd
    import yaml

    from cellplateau.runner.execute import run_study
    from cellplateau.spec import parse_spec

    data = yaml.safe_load((EXAMPLES / "depth_adaptive.yaml").read_text())
    assert load_spec(EXAMPLES / "depth_adaptive.yaml").quality.depth == [1.0, 0.5, 0.25, 0.1]
    data["output_dir"] = str(tmp_path / "study")
    data["corpus"] = {"path": str(tiny_atlas / "corpus")}
    data["selection"].update(fractions=[0.01, 0.03, 0.1, 1.0], replicates=2, adaptive={"n_boot": 100})
    data["selection"]["strategies"] = [{"name": "random"},
                                       {"name": "kcenter", "n_pcs": 10, "n_hvg": 200, "pca_sample": 2000}]
    data["quality"] = {"depth": [1.0, 0.25]}
    data["families"] = [{"name": "pca", "n_components": 10, "n_hvg": 200}]
    data["evaluation"]["datasets"] = [{"name": "balanced_types", "label_key": "cell_type",
                                       "path": str(tiny_atlas / "eval" / "balanced_types.h5ad")}]
    data["evaluation"]["tasks"] = [{"name": "knn_classification", "n_splits": 1, "baseline_hvg": 200}]
    data["execution"] = {"workers": 1, "device": "cpu", "threads": 1}
    spec = parse_spec(data)
    summary = run_study(spec, progress=False, log=lambda _: None)
    assert not summary.failed
    out = tmp_path / "study"
    record = json.loads((out / "adaptive.json").read_text())
    assert record["rounds"] and record["train_flops_full_grid"] >= record["train_flops_run"] > 0
    r = pd.read_parquet(out / "results" / "results.parquet")
    models = r[r["task"].isin(["pretraining", "knn_classification"]) & ~r["strategy"].isin(["control", "baseline"])]
    assert set(models["depth"]) == {1.0, 0.25} and models["depth"].notna().all()
    assert {"kcenter", "random"} <= set(r["strategy"])
    assert {"type_gini", "hausdorff", "hausdorff_sample"} <= set(r.loc[r["task"] == "diversity", "metric"])
    html = (out / "report" / "report.html").read_text()
    assert "Sequencing depth" in html and "Adaptive selection" in html and "pca@depth0.25" in html
    again = run_study(spec, progress=False, log=lambda _: None)
    assert again.computed == [], "a finished adaptive study resumes to nothing"
