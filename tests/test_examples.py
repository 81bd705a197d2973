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
