import json
import subprocess
import sys

from cellplateau.runner import claims, units
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
    held = claims.try_claim(ctx.layout.claim(bad.key), lease_s=60)     # as if a live worker were on it
    counts, _ = study_status(spec)
    assert counts["subset"] == {"done": 0, "running": 1, "failed": 0, "damaged": 0, "pending": 2}
    claims.release(held)
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
    assert counts["subset"] == {"done": 2, "running": 0, "failed": 1, "damaged": 0, "pending": 0}
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


def test_local_pool_worker_killed_mid_training_is_retried(tiny_atlas, tmp_path):
    """SIGKILL a process-pool worker while it trains: the pool is rebuilt, the unit retried, nothing lost."""
    import os
    import signal
    import threading
    import time

    spec = load_spec(tiny_spec(tiny_atlas, tmp_path / "study", fractions=(0.1,), replicates=1, pca_only=True,
                               workers=2))
    ctx = StudyContext(spec)
    claims_dir = ctx.layout.root / "state" / "claims"
    killed: list[dict] = []

    def kill_a_trainer():
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            for p in claims_dir.glob("*.json"):
                try:
                    info = json.loads(p.read_text())
                except (OSError, ValueError):
                    continue
                if info["label"].startswith("train pca on"):   # claimed, so its training has begun
                    os.kill(info["pid"], signal.SIGKILL)
                    killed.append(info)
                    return
            time.sleep(0.05)

    monitor = threading.Thread(target=kill_a_trainer)
    monitor.start()
    lines: list[str] = []
    summary = run_study(spec, progress=False, log=lines.append)
    monitor.join()
    assert killed and summary.failed == {}
    assert any(line.startswith(f"{killed[0]['label']}: attempt 1 crashed (local)") for line in lines), lines
    runs = [json.loads(line) for line in ctx.layout.run_log.read_text().splitlines()]
    assert sorted(r["key"] for r in runs) == sorted(u.key for u in build_plan(ctx).all_units())
    assert next(r for r in runs if r["key"] == killed[0]["key"])["pid"] != killed[0]["pid"]
