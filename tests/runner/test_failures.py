import json
import subprocess
import sys

from cellplateau.runner import units
from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import run_study, study_status
from cellplateau.runner.plan import build_plan
from cellplateau.spec import load_spec
from tests.runner._spec import tiny_spec


def test_failed_unit_is_retried_recorded_blocks_its_dependents_and_retry_failed_recovers(tiny_atlas, tmp_path,
                                                                                            monkeypatch):
    spec_path = tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.1,), replicates=1, pca_only=True,
                          execution={"max_retries": 1})
    spec = load_spec(spec_path)
    ctx = StudyContext(spec)
    plan = build_plan(ctx)
    bad = next(u for u in plan.units["subset"] if u.params["strategy"] == "random")
    real = units.RUNNERS["subset"]
    calls = []

    def flaky(ctx_, unit):
        if unit.key == bad.key:
            calls.append(unit.key)
            raise RuntimeError(f"boom #{len(calls)}")
        return real(ctx_, unit)

    monkeypatch.setitem(units.RUNNERS, "subset", flaky)
    summary = run_study(spec, progress=False, log=lambda s: None)
    assert len(calls) == 2, "one attempt plus max_retries=1 retry"
    record = json.loads(ctx.layout.failure(bad.key).read_text())
    assert record["attempts"] == 2 and "RuntimeError: boom #2" in record["error"] and "Traceback" in record["error"]
    dependents = {u.label for u in plan.all_units() if bad.key in u.deps}
    dependents |= {u.label for u in plan.units["evaluate"] if any(
        m.key in u.deps for m in plan.units["train"] if bad.key in m.deps)}
    assert set(summary.failed) == {bad.label} | dependents
    assert "RuntimeError: boom #2" in summary.failed[bad.label]
    assert all("depends on failed unit" in summary.failed[d] for d in dependents)
    assert not (ctx.layout.report_dir / "report.html").exists(), "no report from an incomplete study"
    counts, failures = study_status(spec)
    assert counts["subset"] == {"done": 2, "running": 0, "failed": 1, "pending": 0}
    assert counts["train"]["pending"] == 1 and counts["train"]["done"] == 3
    assert failures == [{"label": bad.label, "attempts": 2, "where": "local", "error": "RuntimeError: boom #2"}]
    out = subprocess.run([sys.executable, "-m", "cellplateau", "status", str(spec_path)], capture_output=True,
                         text=True)
    assert out.returncode == 0 and f"failed: {bad.label} (2 attempts" in out.stdout and "boom #2" in out.stdout

    again = run_study(spec, progress=False, log=lambda s: None)   # retries used up: not attempted again
    assert len(calls) == 2 and bad.label in again.failed and again.computed == []

    monkeypatch.setitem(units.RUNNERS, "subset", real)
    fixed = run_study(spec, progress=False, log=lambda s: None, retry_failed=True)
    assert fixed.failed == {} and bad.key in fixed.computed
    assert not ctx.layout.failure(bad.key).exists()
    assert (ctx.layout.report_dir / "report.html").exists()
    counts, failures = study_status(spec)
    assert failures == [] and all(c["done"] == sum(c.values()) for c in counts.values())
