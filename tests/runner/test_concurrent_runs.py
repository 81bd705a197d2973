import json
import re
import subprocess
import sys

import pandas as pd

from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import plan_summary
from cellplateau.runner.plan import build_plan
from cellplateau.spec import load_spec
from tests.runner._spec import tiny_spec


def test_two_run_commands_on_one_study_leave_one_copy_of_each_result(tiny_atlas, tmp_path):
    spec_path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.1, 1.0), replicates=1, pca_only=True)
    spec = load_spec(spec_path)
    ctx = StudyContext(spec)
    cmd = [sys.executable, "-m", "cellplateau", "run", str(spec_path), "--no-progress"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    plan = build_plan(ctx)
    keys = sorted(u.key for u in plan.all_units())
    computed = [int(re.search(r"computed (\d+) units", o).group(1)) for o in outs]
    assert sum(computed) == len(keys), f"each unit computed by exactly one of the two runs: {computed}"
    runs = [json.loads(line) for line in ctx.layout.run_log.read_text().splitlines()]
    assert sorted(r["key"] for r in runs) == keys
    assert len({r["pid"] for r in runs}) == 2 and min(computed) > 0, "both runs did part of the work"
    assert all(done == total for total, done in plan_summary(spec).values())
    state = ctx.layout.root / "state"
    assert not list(ctx.layout.artifacts.rglob(".*.tmp"))
    assert not list((state / "claims").glob("*.json")) and not list((state / "failed").glob("*.json"))
    assert len(list((state / "done").glob("*.json"))) == len(keys), "one done record per unit"
    r = pd.read_parquet(ctx.layout.results)
    ident = ["strategy", "fraction", "replicate", "family", "model_size", "task", "dataset", "metric", "model_key",
             "step"]   # trajectory rows: one per validation step
    assert not r.duplicated(ident).any()
