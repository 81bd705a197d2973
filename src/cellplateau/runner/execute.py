"""Run a plan stage by stage, serially or in a local process pool, with a rich progress bar."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from cellplateau._io import clean_stale_temporaries
from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import Plan, build_plan
from cellplateau.runner.units import STAGES, Unit, run_unit
from cellplateau.spec import StudySpec


@dataclass
class RunSummary:
    computed: list[str]
    skipped: int
    seconds: float


def _log(ctx: StudyContext, unit: Unit, seconds: float) -> None:
    ctx.layout.run_log.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"kind": unit.kind, "key": unit.key, "label": unit.label, "seconds": round(seconds, 3),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid()})
    with open(ctx.layout.run_log, "a") as fh:
        fh.write(line + "\n")


_WORKER_CTX: StudyContext | None = None


def _worker_init(spec_json: str) -> None:
    global _WORKER_CTX
    _WORKER_CTX = StudyContext(StudySpec.model_validate_json(spec_json))


def _worker_run(unit: Unit) -> tuple[str, float]:
    assert _WORKER_CTX is not None
    t0 = time.perf_counter()
    run_unit(_WORKER_CTX, unit)
    return unit.key, time.perf_counter() - t0


def ensure_corpus(spec: StudySpec, *, log: Callable[[str], None] = print) -> None:
    """Simulate the synthetic atlas at ``corpus.path`` if the spec asks for it and it is missing."""
    from pathlib import Path

    path = Path(spec.corpus.path)
    if (path / "store.json").exists() or spec.corpus.simulate is None:
        return
    from cellplateau.corpus.simulate import AtlasParams, simulate_atlas

    sim = spec.corpus.simulate
    log(f"simulating the synthetic atlas ({sim.n_cells} cells x {sim.n_genes} genes) into {path}")
    simulate_atlas(path, AtlasParams(n_cells=sim.n_cells, n_genes=sim.n_genes, n_lineages=sim.n_lineages,
                                     n_datasets=sim.n_datasets, eval_cells=sim.eval_cells, seed=sim.seed))


def ensure_datasets(spec: StudySpec, *, log: Callable[[str], None] = print) -> None:
    """Download the evaluation datasets that have a recipe and are missing (checksum verified)."""
    from cellplateau.evaluation.sources import fetch

    for ds in spec.evaluation.datasets:
        if ds.source is not None and not ds.path.exists():
            log(f"downloading evaluation dataset {ds.name!r} from {ds.source.resolved_url()} to {ds.path}")
            fetch(ds.source, ds.path, name=ds.name)


def run_study(spec: StudySpec, *, progress: bool = True, log: Callable[[str], None] = print) -> RunSummary:
    """Execute every unit that is not done yet; then rebuild the results table and the report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cellplateau.report.html import write_report
    from cellplateau.runner.aggregate import build_results

    t_start = time.perf_counter()
    ensure_corpus(spec, log=log)
    ensure_datasets(spec, log=log)
    ctx = StudyContext(spec)
    clean_stale_temporaries(ctx.layout.artifacts)
    from cellplateau._io import atomic_write_text

    ctx.layout.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(ctx.layout.root / "spec.resolved.json", spec.model_dump_json(indent=2))
    plan = build_plan(ctx)
    todo = [u for u in plan.all_units() if not u.done(ctx)]
    skipped = len(plan.all_units()) - len(todo)
    computed: list[str] = []
    workers = spec.execution.workers
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[current]}"), disable=not progress, transient=False) as bar:
        overall = bar.add_task(spec.name, total=len(todo), current="")
        pool = ProcessPoolExecutor(workers, initializer=_worker_init,
                                   initargs=(spec.model_dump_json(),)) if workers > 1 and todo else None
        try:
            for stage in STAGES:
                stage_units = [u for u in todo if u.kind == stage]
                if not stage_units:
                    continue
                if pool is None:
                    for u in stage_units:
                        bar.update(overall, current=u.label)
                        t0 = time.perf_counter()
                        run_unit(ctx, u)
                        _log(ctx, u, time.perf_counter() - t0)
                        computed.append(u.key)
                        bar.advance(overall)
                else:
                    by_key = {u.key: u for u in stage_units}
                    pending = {pool.submit(_worker_run, u) for u in stage_units}
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            key, secs = fut.result()
                            _log(ctx, by_key[key], secs)
                            computed.append(key)
                            bar.update(overall, current=by_key[key].label)
                            bar.advance(overall)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    table = build_results(ctx, plan)
    write_report(ctx, table)
    return RunSummary(computed, skipped, time.perf_counter() - t_start)


def plan_summary(spec: StudySpec) -> dict[str, tuple[int, int]]:
    """``{stage: (total, done)}`` for the study's plan."""
    ctx = StudyContext(spec)
    plan: Plan = build_plan(ctx)
    return {stage: (len(plan.units[stage]), sum(u.done(ctx) for u in plan.units[stage])) for stage in STAGES}
