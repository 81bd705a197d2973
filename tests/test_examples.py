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
