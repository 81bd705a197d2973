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
    assert counts["baselines"] == 16 and len(counts["missing_datasets"]) == 12
    flops = plan_compute(spec)["train"]
    assert 1e16 < flops < 1e20
    out = CliRunner().invoke(app, ["plan", str(EXAMPLES / "reference_study.yaml")], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "400 pretrainings (+ 25 untrained controls), 6400 evaluations" in out.output
    assert "not built yet" in out.output and "FLOP" in out.output
    assert "evaluation datasets: 12 missing, 0 unverified, 0 locked, 0 changed; lock file" in out.output
    assert "reference_study.yaml.lock not written yet" in out.output


def test_reference_spec_evaluates_on_the_reference_datasets():
    spec = load_spec(EXAMPLES / "reference_study.yaml")
    pairs = {(t.name, d.name) for d, t in spec.evaluation.pairs()}
    classification = {"hematopoiesis", "intestine_on_chip", "periodontitis", "placenta"}
    assert pairs == ({("knn_classification", d) for d in classification}
                     | {("finetune_classification", d) for d in classification}
                     | {("batch_integration", d) for d in ("kim2020_lung", "periodontitis", "renal", "liver")}
                     | {("perturbation_response", f"tahoe_{d}") for d in ("dinaciclib", "homoharringtonine",
                                                                          "ph797804", "tak901")})
    ds = {d.name: d for d in spec.evaluation.datasets}
    assert all(d.source is not None for d in ds.values())
    ids = {d.source.cellxgene_dataset_id for d in ds.values() if d.source.cellxgene_dataset_id}
    assert ids == {"d72106bd-d03b-45e6-a0fa-ca2a831ef092", "91796603-b12b-4d62-88cf-006957399338",
                   "50bbe1a2-5f27-47f5-a809-046459a4ae5e"}
    chip = ds["intestine_on_chip"].source
    assert chip.build.step == "concatenate" and [f.cellxgene_dataset_id for f in chip.files] == [
        "4fd4f3a1-8c41-4f73-808b-196766ed942d", "610bb418-705a-4493-a1fb-e14b8379af4f"]
    assert ds["kim2020_lung"].source.build.step == "weizmann_3ca"
    pancreas = ds["pancreas_scib"]
    assert pancreas.source.files[0].url.endswith("/24539828") and pancreas.tasks == []
    assert (pancreas.source.build.step, pancreas.source.build.layer) == ("concatenate", "counts")
    drugs = {d.source.build.drug for d in ds.values() if d.source.build and d.source.build.step == "tahoe100m"}
    assert drugs == {"Dinaciclib", "Homoharringtonine", "PH-797804", "TAK-901"}
    assert all(d.source.build.cell_lines == ["LoVo", "PANC-1", "NCI-H2030", "BT-474"] for d in ds.values()
               if d.source.build and d.source.build.step == "tahoe100m")
    pert = next(t for t in spec.evaluation.tasks if t.name == "perturbation_response")
    assert pert.held_out == {"Dinaciclib": "NCI-H2030", "Homoharringtonine": "LoVo", "PH-797804": "BT-474",
                             "TAK-901": "PANC-1"}


def test_spike_in_side_experiment_extends_the_reference():
    ref = load_spec(EXAMPLES / "reference_study.yaml")
    side = load_spec(EXAMPLES / "reference_spikein.yaml")
    assert [f.name for f in side.families] == ["scvi", "mae", "geneformer"]
    assert [(s.name, s.share) for s in side.selection.strategies] == [("spike_in", 0.0), ("spike_in", 0.1),
                                                                      ("spike_in", 0.5)]
    assert side.evaluation == ref.evaluation and side.seed == ref.seed       # inherited, paths resolved alike
    assert side.lock_file == ref.lock_file                                   # one lock for the shared files
    counts = plan_counts(side)
    assert counts["pretrainings"] == 3 * 5 * 5 * 3 and counts["evaluations"] == 225 * 16


def test_small_variant_keeps_the_reference_design():
    ref = load_spec(EXAMPLES / "reference_study.yaml")
    small = load_spec(EXAMPLES / "reference_small.yaml")
    assert small.selection.fractions == ref.selection.fractions
    assert [s.name for s in small.selection.strategies] == [s.name for s in ref.selection.strategies]
    assert [f.name for f in small.families] == [f.name for f in ref.families]
    assert {t.name for t in small.evaluation.tasks} == {t.name for t in ref.evaluation.tasks}
    assert small.corpus.simulate is not None


def test_reference_plan_shows_steps_cells_seen_and_epochs_per_fraction():
    import json

    out = CliRunner().invoke(app, ["plan", str(EXAMPLES / "reference_study.yaml"), "--json"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.output)
    rows = {(r["family"], r["fraction"]): r for r in plan["budgets"]}
    # Geneformer's one epoch is one epoch at every size (no silent 2,000-step cap: 64,000 cells at every fraction)
    assert abs(rows[("geneformer-l", 1.0)]["epochs"] - 1) < 1e-4 and rows[("geneformer-l", 1.0)]["cells_seen"] >= 19_970_150
    assert rows[("geneformer-l", 0.01)]["cells_seen"] < rows[("geneformer-l", 1.0)]["cells_seen"] / 90
    # scVI's 100,000 fixed steps hold compute constant: 0.64 epochs at 100 %
    assert rows[("scvi-s", 1.0)]["cells_seen"] == rows[("scvi-s", 0.01)]["cells_seen"] == 12_800_000
    assert abs(rows[("scvi-s", 1.0)]["epochs"] - 0.641) < 0.001 and rows[("scvi-s", 1.0)]["policy"] == "fixed_steps"
    assert rows[("mae-l", 0.5)]["holds_constant"].startswith("convergence") and not plan["warnings"]
    text = CliRunner().invoke(app, ["plan", str(EXAMPLES / "reference_study.yaml")], terminal_width=200).output
    assert "cells seen" in text and "12,800,000" in text and "19,970,176" in text


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
