import os

import pytest

from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import PlanError, build_plan
from cellplateau.spec import load_spec
from tests.runner._spec import tiny_spec


def test_plan_counts_and_shared_full_subsets(tiny_atlas, tmp_path):
    spec = load_spec(tiny_spec(tiny_atlas, tmp_path / "s", fractions=(0.1, 0.5, 1.0), replicates=3))
    plan = build_plan(StudyContext(spec))
    assert len(plan.units["sketch_embedding"]) == 1
    assert len(plan.units["subset"]) == 3 * 2 * 3 + 3          # 100 % subsets shared by the 3 strategies
    assert len(plan.subset_refs) == 3 * 3 * 3
    assert len(plan.units["train"]) == 2 * (21 + 3)              # 2 families x (subsets + controls)
    assert len(plan.units["evaluate"]) == len(plan.units["train"])
    keys = [u.key for u in plan.all_units()]
    assert len(keys) == len(set(keys))


def test_missing_or_replaced_evaluation_file(tiny_atlas, tmp_path):
    import shutil

    ev = tmp_path / "eval.h5ad"
    shutil.copy(tiny_atlas / "eval" / "balanced_types.h5ad", ev)
    path = tiny_spec(tiny_atlas, tmp_path / "s", fractions=(0.1,), replicates=1)
    text = path.read_text().replace(str(tiny_atlas / "eval" / "balanced_types.h5ad"), str(ev))
    path.write_text(text)
    spec = load_spec(path)
    before = {u.key for u in build_plan(StudyContext(spec)).units["evaluate"]}
    os.utime(ev, ns=(1, 1))
    after = {u.key for u in build_plan(StudyContext(spec)).units["evaluate"]}
    assert before.isdisjoint(after), "a replaced evaluation file invalidates its evaluations"
    ev.unlink()
    with pytest.raises(PlanError, match=r"evaluation dataset .balanced.: file not found: .*eval\.h5ad"):
        build_plan(StudyContext(spec))


def test_a_binding_step_cap_is_a_plan_time_warning_naming_family_and_fractions(tiny_atlas, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from cellplateau.cli import app
    from cellplateau.runner.budgets import budget_table, budget_warnings

    path = tiny_spec(tiny_atlas, tmp_path / "s", fractions=(0.05, 0.3, 1.0), replicates=1)
    spec = yaml.safe_load(path.read_text())
    spec["families"][1]["budget"] = {"policy": "fixed_epochs", "epochs": 2, "max_steps": 10}
    path.write_text(yaml.safe_dump(spec))
    table = budget_table(StudyContext(load_spec(path)))
    mae = [r for r in table if r["family"] == "mae"]
    assert [r["capped"] for r in mae] == [False, True, True]          # 2 epochs of 135 / 810 / 2,700 cells
    assert [r["planned_steps"] for r in mae] == [3, 10, 10]
    (line,) = budget_warnings(table)
    assert line.startswith("families[mae]: max_steps 10 binds at fractions 0.3, 1")
    out = CliRunner().invoke(app, ["plan", str(path)], terminal_width=200)
    assert out.exit_code == 0 and "binds at fractions 0.3, 1" in out.output, out.output
