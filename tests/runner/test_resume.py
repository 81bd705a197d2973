import json
import os
import signal
import subprocess
import sys
import time

from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import plan_summary, run_study
from cellplateau.spec import load_spec
from tests.runner._spec import tiny_spec


def _finished_keys(log):
    if not log.exists():
        return []
    return [json.loads(line)["key"] for line in log.read_text().splitlines() if line.strip()]


def test_sigkill_mid_study_then_resume_recomputes_only_missing(tiny_atlas, tmp_path):
    spec_path = tiny_spec(tiny_atlas, tmp_path / "study", mae_steps=150, fractions=(0.1, 1.0), replicates=2)
    spec = load_spec(spec_path)
    ctx = StudyContext(spec)
    proc = subprocess.Popen([sys.executable, "-m", "cellplateau", "run", str(spec_path), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    kinds = []
    while time.time() < deadline:
        if ctx.layout.run_log.exists():
            kinds = [json.loads(x)["kind"] for x in ctx.layout.run_log.read_text().splitlines() if x.strip()]
        if kinds.count("train") >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"study ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _finished_keys(ctx.layout.run_log)
    summary = plan_summary(spec)
    assert summary["train"][1] >= 3 and summary["evaluate"][1] < summary["evaluate"][0], summary
    mtimes = {p: p.stat().st_mtime_ns for p in ctx.layout.artifacts.rglob("*")
              if p.is_file() and not any(part.startswith(".") and part.endswith(".tmp") for part in p.parts)}
    result = run_study(spec, progress=False, log=lambda s: None)
    assert result.computed, "the killed study had work left"
    assert not set(result.computed) & set(before), "a finished unit was recomputed"
    assert all(done == total for total, done in plan_summary(spec).values())
    for p, t in mtimes.items():
        assert p.stat().st_mtime_ns == t, f"{p} was rewritten"
    assert not list(ctx.layout.artifacts.rglob(".*.tmp")), "temporary leftovers were cleaned"
