"""Damaged artifacts, one per stage: `plan`/`status` see them, `verify` names them, `run` recomputes them.

One tiny study is run once per session; each test works on a copy of it. The corruptions include the hard
case: bytes zeroed at unchanged size with the file's modification time set back.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cellplateau.cli import app
from cellplateau.runner.context import StudyContext
from cellplateau.runner.execute import run_study
from cellplateau.runner.plan import build_plan
from cellplateau.spec import load_spec
from tests.runner.conftest import copy_study

TIMING = {"select_time_s", "wall_time_s", "data_wait_s", "embed_s_per_1k_cells", "peak_rss_mb", "peak_gpu_mb"}


def _same_size_zeroed(path: Path) -> None:
    """Zero the middle third of a file in place, keeping its size and setting its mtime back."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    lo, hi = len(data) // 3, 2 * len(data) // 3
    data[lo:hi] = bytes(hi - lo)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# (stage, which unit, file inside its artifact, corruption, name) : one per stage
CORRUPTIONS = [
    ("sketch_embedding", None, "embedding.npy", _same_size_zeroed, "embedding zeroed, same size, mtime restored"),
    ("subset", "random", "indices.npy", _truncate, "subset indices cut in half"),
    ("diversity", "celltype_reweighted", None, lambda p: p.unlink(), "diversity record deleted"),
    ("train", "geometric_sketch", "weights.npz", _truncate, "model weights cut in half"),
    ("baseline", None, None, _truncate, "baseline parquet truncated"),
    ("evaluate", "random", None, _same_size_zeroed, "evaluation parquet zeroed, same size, mtime restored"),
]


def _pick(plan, stage: str, which: str | None):
    units = [u for u in plan.units[stage] if which is None or which in u.label and "untrained" not in u.label]
    return units[0]


def _results(ctx: StudyContext) -> pd.DataFrame:
    t = pd.read_parquet(ctx.layout.results)
    t = t[~t["metric"].isin(TIMING)].drop(columns=["cellplateau_version", "spec_hash"])  # the copy has its own output_dir
    return t.sort_values(["task", "dataset", "metric", "family", "strategy", "model_key"]).reset_index(drop=True)


def test_every_stage_damaged_is_seen_named_and_recomputed(finished_study, tmp_path):
    spec_path = copy_study(finished_study, tmp_path / "study")
    spec = load_spec(spec_path)
    ctx = StudyContext(spec)
    plan = build_plan(ctx)
    clean = _results(ctx)
    damaged = {}
    for stage, which, inner, corrupt, _ in CORRUPTIONS:
        unit = _pick(plan, stage, which)
        path = unit.path(ctx) / inner if inner else unit.path(ctx)
        corrupt(path)
        damaged[unit.key] = (unit.label, str(path.relative_to(ctx.layout.root)))
    cli = CliRunner()

    res = cli.invoke(app, ["verify", str(spec_path)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    for label, rel in damaged.values():
        assert f"damaged: {label}: {rel}" in res.output, (label, res.output)
    res = cli.invoke(app, ["plan", str(spec_path)])
    assert res.exit_code == 0 and "Traceback" not in res.output
    # size changes and deletions are seen by the cheap check too; same-size damage with the mtime set back
    # needs the checksum (`verify`, and `run` once per run)
    shallow = {d[0] for d in damaged.values()} - {_pick(plan, "sketch_embedding", None).label,
                                                  _pick(plan, "evaluate", "random").label}
    for label in shallow:
        assert f"damaged (the next run recomputes it): {label}: " in res.output, (label, res.output)
    res = cli.invoke(app, ["status", str(spec_path)])
    assert res.exit_code == 0
    for label in shallow:
        assert f"damaged (the next run recomputes it): {label}: " in res.output

    lines: list[str] = []
    summary = run_study(spec, progress=False, log=lines.append)
    assert summary.failed == {}
    assert set(summary.computed) == set(damaged), "exactly the damaged units are recomputed"
    for label, rel in damaged.values():
        assert sum(line.startswith(f"{label}: {rel}") and line.endswith(": recomputing") for line in lines) == 1
    pd.testing.assert_frame_equal(_results(ctx), clean)
    res = cli.invoke(app, ["verify", str(spec_path)])
    assert res.exit_code == 0 and "damaged:" not in res.output, res.output
    print(f"corruptions recomputed automatically: {len(damaged)} of {len(CORRUPTIONS)}")


def test_units_written_without_done_records_are_adopted_or_recomputed(finished_study, tmp_path):
    """A study finished by a version without done records: sound artifacts are adopted (nothing recomputed),
    a structurally broken one is recomputed."""
    spec_path = copy_study(finished_study, tmp_path / "study")
    spec = load_spec(spec_path)
    ctx = StudyContext(spec)
    plan = build_plan(ctx)
    shutil.rmtree(ctx.layout.root / "state" / "done")
    broken = _pick(plan, "train", "random")
    _truncate(broken.path(ctx) / "weights.npz")
    res = CliRunner().invoke(app, ["verify", str(spec_path)])
    assert res.exit_code == 1 and f"damaged: {broken.label}: " in res.output and "weights.npz" in res.output
    lines: list[str] = []
    summary = run_study(spec, progress=False, log=lines.append)
    assert summary.failed == {} and summary.computed == [broken.key]
    assert any(line.startswith(f"{broken.label}: ") and "weights.npz" in line for line in lines)
    records = list((ctx.layout.root / "state" / "done").glob("*.json"))
    assert len(records) == len(plan.all_units()), "every adopted unit now has its done record"
    assert all(json.loads(p.read_text())["files"] for p in records)


def test_a_damaged_input_stops_its_reader_with_the_unit_and_the_file(finished_study, tmp_path):
    """Damage between planning and use (another process): the reading unit fails naming the input file."""
    from cellplateau.runner import verify

    spec_path = copy_study(finished_study, tmp_path / "study")
    ctx = StudyContext(load_spec(spec_path))
    plan = build_plan(ctx)
    evaluation = _pick(plan, "evaluate", "random")
    model = next(u for u in plan.units["train"] if u.key == evaluation.deps[0])
    _truncate(model.path(ctx) / "weights.npz")
    with pytest.raises(verify.ArtifactError, match=rf"{evaluation.label}: its input .*weights\.npz \(from unit "
                                                   rf"{model.label}\) is [\d,]+ bytes, [\d,]+ when written \(truncated\)"):
        verify.check_inputs(ctx, evaluation)
