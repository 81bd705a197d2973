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
