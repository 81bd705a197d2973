"""Run a plan stage by stage on an executor (local pool, Ray or SLURM), with retries and a progress bar.

The study folder is the only state: a unit is done when its outputs match its done record (sizes and
checksums, ``runner/verify.py``), claimed while a claim file with a fresh heartbeat exists, failed while a
failure record exists. Stages run in dependency order (subsets -> trainings -> evaluations -> results and
report); units of a stage run in parallel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cellplateau._io import clean_stale_temporaries
from cellplateau.runner import claims, verify
from cellplateau.runner.context import StudyContext
from cellplateau.runner.plan import Plan, build_plan
from cellplateau.runner.units import STAGES, Unit
from cellplateau.runner.worker import Outcome
from cellplateau.spec import StudySpec


@dataclass
class RunSummary:
    computed: list[str]
    skipped: int
    seconds: float
    failed: dict[str, str] = field(default_factory=dict)     # unit label -> last error
    fault: str = ""      # a machine fault (disk full, permission) that stopped the run, in one line


def _run_stage(ex, ctx: StudyContext, stage: str, units: list[Unit],
               on_outcome: Callable[[Unit, Outcome], None], log: Callable[[str], None],
               *, poll_s: float = 1.0) -> dict[str, str]:
    """Run ``units`` on ``ex`` until each is done or has failed ``1 + max_retries`` times.

    Units another worker holds (``busy``: a second ``run`` on the same study) are tried again after
    the rest, and then every ``poll_s`` seconds, until that worker finishes them or its claim goes
    stale. Returns ``{key: last error}`` of the units that failed for good.
    """
    by_key = {u.key: u for u in units}
    failed: dict[str, str] = {}
    wave = units
    while wave:
        again, progressed = [], False
        for out in ex.map(stage, wave):
            unit = by_key[out.key]
            if out.status == "busy":
                again.append(unit)
                continue
            progressed = True
            if out.fault:                       # disk full, permission: a retry cannot help; stop the stage
                failed[unit.key] = out.fault
                on_outcome(unit, out)
                return failed
            if out.status == "crashed":         # the worker died: it could not record the attempt itself
                out.attempts = claims.record_failure(ctx.layout.failure(unit.key), error=out.error,
                                                     label=unit.label, where=out.where)
            if out.status in ("failed", "crashed"):
                lines = out.error.strip().splitlines()
                log(f"{unit.label}: attempt {out.attempts} {out.status} ({out.where}): {lines[-1] if lines else ''}")
                if out.attempts <= ctx.spec.execution.max_retries:
                    again.append(unit)
                    continue
                failed[unit.key] = out.error
            on_outcome(unit, out)
        if again and not progressed:
            time.sleep(poll_s)
        wave = again
    return failed


def ensure_corpus(spec: StudySpec, *, log: Callable[[str], None] = print) -> None:
    """Simulate the synthetic atlas at ``corpus.path`` if the spec asks for it and it is missing."""
    from pathlib import Path

    path = Path(spec.corpus.path)
    if (path / "store.json").exists() or spec.corpus.simulate is None:
        return
    from cellplateau.corpus.simulate import simulate_atlas

    sim = spec.corpus.simulate
    log(f"simulating the synthetic atlas ({sim.n_cells} cells x {sim.n_genes} genes) into {path}")
    simulate_atlas(path, sim.atlas_params())


def ensure_datasets(spec: StudySpec, *, log: Callable[[str], None] = print, progress: bool = False) -> None:
    """Download the evaluation datasets that have a recipe and are missing, and verify every dataset whose
    checksum the spec or the lock file (``SPEC.lock``) holds; a first download records its checksum there."""
    from cellplateau.evaluation.fetch import fetch_dataset
    from cellplateau.evaluation.lockfile import Lock

    lock = Lock.read(spec.lock_file)
    for ds in spec.evaluation.datasets:
        if ds.source is not None or lock.entry(ds.name):
            fetch_dataset(ds, lock, progress=progress, log=log)


def _clean_temporaries(ctx: StudyContext) -> None:
    """Remove the leftovers of killed writers, but not the temporaries of units a live worker holds, nor a
    fresh temporary that belongs to no unit (a plan-time cache another ``run`` is writing right now): a second
    ``run`` on the same study must not pull files from under the first."""
    lease_s = ctx.spec.execution.lease_s

    def live(p) -> bool:
        rel = p.relative_to(ctx.layout.artifacts).parts
        at = next(i for i, part in enumerate(rel) if part.startswith(".") and part.endswith(".tmp"))  # outermost
        state = claims.claim_state(ctx.layout.claim(rel[at][1:].split(".")[0]), lease_s=lease_s)
        if state is not None:
            return state == "running"
        return _age_s(ctx.layout.artifacts.joinpath(*rel[:at + 1])) < lease_s

    clean_stale_temporaries(ctx.layout.artifacts, keep=live)
    # a report folder being written by a killed run (one written right now by another run is minutes old at most)
    import shutil

    for tmp in ctx.layout.root.glob(f".{ctx.layout.report_dir.name}.*.tmp"):
        if _age_s(tmp) > 600:
            shutil.rmtree(tmp, ignore_errors=True)


def _age_s(path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _outstanding(ctx: StudyContext, plan: Plan, log: Callable[[str], None]) -> list[Unit]:
    """The units to compute: every output is checksummed once (per run); a damaged unit is named in one line
    and its outputs removed so it is recomputed; a unit finished before done records existed is adopted."""
    _, checks = verify.check_plan(ctx, plan, deep=True)
    lease_s = ctx.spec.execution.lease_s
    todo = []
    for unit in plan.all_units():
        state = checks[unit.key].state
        if state in ("done", "legacy"):
            if state == "legacy":
                verify.adopt(ctx, unit)
            continue
        if state == "damaged" and claims.claim_state(ctx.layout.claim(unit.key), lease_s=lease_s) != "running":
            log(f"{unit.label}: {checks[unit.key].problem}: recomputing")
            verify.discard(ctx, unit)
        todo.append(unit)
    return todo


def run_study(spec: StudySpec, *, progress: bool = True, log: Callable[[str], None] = print,
              executor: str | None = None, retry_failed: bool = False,
              stages: tuple[str, ...] | None = None) -> RunSummary:
    """Execute every unit that is not done yet; then rebuild the results table and the report.

    ``executor`` overrides ``execution.executor``; ``retry_failed`` clears the failure records of
    units that used up their retries. Units that still fail (and the units depending on them) are
    returned in ``RunSummary.failed``; the report is then not rebuilt. ``stages``: run only these stages
    (e.g. ``("sketch_embedding", "subset")`` for ``export-subsets``), without the results and the report.
    With ``selection.adaptive`` the units run in rounds (:mod:`cellplateau.runner.adaptive`), every round on
    the same executor.
    """
    from cellplateau._io import write_if_changed
    from cellplateau.report.html import write_report
    from cellplateau.runner.aggregate import build_results
    from cellplateau.runner.executors import EXECUTORS

    t_start = time.perf_counter()
    ensure_corpus(spec, log=log)
    ensure_datasets(spec, log=log, progress=progress)
    ctx = StudyContext(spec)
    log(f"corpus {ctx.store.path}: {verify.check_corpus(ctx)}")
    plan = build_plan(ctx)               # a spec the plan refuses writes nothing
    _clean_temporaries(ctx)
    ctx.layout.root.mkdir(parents=True, exist_ok=True)
    write_if_changed(ctx.layout.root / "spec.resolved.json", spec.model_dump_json(indent=2))
    from cellplateau.runner.budgets import budget_table, budget_warnings
    from cellplateau.runner.overlap import save_excluded

    save_excluded(ctx, plan)
    for line in budget_warnings(budget_table(ctx)) + plan.warnings:
        log(f"warning: {line}")
    outstanding = [u for u in _outstanding(ctx, plan, log) if stages is None or u.kind in stages]
    skipped = len(plan.all_units()) - len(outstanding)
    rounds = None
    if spec.selection.adaptive is not None and stages is None:   # rounds of ordinary units: every executor
        from cellplateau.runner.adaptive import AdaptiveRun

        rounds = AdaptiveRun(ctx, plan)
    computed: list[str] = []
    failed: dict[str, str] = {}
    faults: list[str] = []
    ex = None
    seen: set[str] = set()
    try:
        while True:
            wanted = {u.key for u in (rounds.units() if rounds else plan.all_units())}
            todo = [u for u in outstanding if u.key in wanted and u.key not in seen]
            seen |= wanted
            if todo and ex is None:
                ex = EXECUTORS[executor or spec.execution.executor](spec)
            _run_units(ex, ctx, todo, failed, computed, faults, log=log, progress=progress, retry_failed=retry_failed)
            if failed or rounds is None or not rounds.advance(build_results(ctx, plan)):
                break
    finally:
        if ex is not None:
            ex.close()
    labels = {u.key: u.label for u in plan.all_units()}
    if failed or stages is not None:
        return RunSummary(computed, skipped, time.perf_counter() - t_start,
                          {labels[k]: err for k, err in failed.items()}, faults[0] if faults else "")
    if rounds is not None:
        record = rounds.write_record()
        log(f"adaptive: {len(record['rounds'])} rounds, {len(record['skipped'])} units skipped, training FLOPs "
            f"{record['train_flops_saved_share']:.0%} below the full grid")
    table = build_results(ctx, plan)
    write_report(ctx, table, progress=progress)
    return RunSummary(computed, skipped, time.perf_counter() - t_start)


def _run_units(ex, ctx: StudyContext, todo: list[Unit], failed: dict[str, str], computed: list[str],
               faults: list[str], *, log: Callable[[str], None], progress: bool, retry_failed: bool) -> None:
    """Run ``todo`` stage by stage on ``ex`` (one progress bar per stage); failures go to ``failed``, machine
    faults (disk full, permission) to ``faults``, after which later stages are not started."""
    from cellplateau._progress import progress as progress_bar

    limit = ctx.spec.execution.max_retries
    for stage in STAGES:
        ready, blocked = [], 0
        for u in (u for u in todo if u.kind == stage):
            record = ctx.layout.failure(u.key)
            if retry_failed:
                claims.clear_failure(record)
            deps_failed = [d for d in u.deps if d in failed]
            if deps_failed:
                failed[u.key] = f"not run: depends on failed unit {deps_failed[0]}"
                blocked += 1
            elif claims.failure_attempts(record) > limit:
                failed[u.key] = (claims.read_json(record) or {}).get("error", "failed earlier") + \
                    " (run --retry-failed to try again)"
                blocked += 1
            else:
                ready.append(u)
        if not ready:
            continue
        # one bar per stage: units done of the stage's units to do, failures, ETA, the last unit finished
        with progress_bar(stage, total=len(ready), unit="units", enabled=progress) as bar:
            if blocked:
                bar.fail(blocked, note="blocked by earlier failures")

            def on_outcome(unit: Unit, out: Outcome, bar=bar) -> None:
                if out.fault:
                    faults.append(f"{out.fault} (unit {unit.label})")
                if out.status in ("failed", "crashed"):
                    bar.fail(note=unit.label)
                    return
                if out.status == "done":
                    computed.append(unit.key)
                bar.advance(note=unit.label)

            failed.update(_run_stage(ex, ctx, stage, ready, on_outcome, log))
        if faults:          # disk full, permission: later stages cannot succeed either
            break


def planned(spec: StudySpec) -> tuple[StudyContext, Plan]:
    """The study's context (a corpus not built yet may stand in by its expected size) and its plan."""
    ctx = StudyContext(spec, planning=True)
    verify.check_corpus(ctx)
    return ctx, build_plan(ctx)


def plan_summary(spec: StudySpec, built: tuple[StudyContext, Plan] | None = None) -> dict[str, tuple[int, int]]:
    """``{stage: (total, done)}`` for the study's plan (``built``: a :func:`planned` result to reuse)."""
    ctx, plan = built or planned(spec)
    return {stage: (len(plan.units[stage]), sum(u.done(ctx) for u in plan.units[stage])) for stage in STAGES}


def plan_counts(spec: StudySpec, built: tuple[StudyContext, Plan] | None = None) -> dict:
    """Pretrainings and evaluations of the plan, untrained controls counted apart, the evaluation datasets not
    on disk yet, and the files trainings still to run need but do not find (imported checkpoints)."""
    from cellplateau.models import FAMILIES

    ctx, plan = built or planned(spec)
    controls = {u.key for u in plan.units["train"] if u.params.get("control")}
    evals = plan.units["evaluate"]
    subsets = {u.key: u.params for u in plan.units["subset"]}
    missing_inputs: list[str] = []
    for u in plan.units["train"]:
        if u.key not in controls and not u.done(ctx):
            family = FAMILIES[u.params["family"]]
            model = family.model(family.config.model_validate(u.params["config"]))
            missing_inputs += model.missing_inputs(subsets[u.params["subset_key"]])
    return {
        "pretrainings": len(plan.units["train"]) - len(controls), "controls": len(controls),
        "evaluations": sum(u.params["model_key"] not in controls for u in evals),
        "control_evaluations": sum(u.params["model_key"] in controls for u in evals),
        "baselines": len(plan.units["baseline"]),
        "corpus_planned": ctx.corpus_planned,
        "missing_datasets": [str(d.path) for d in spec.evaluation.datasets if not d.path.exists()],
        "missing_inputs": missing_inputs,
    }


UNIT_STATES = ("done", "running", "failed", "damaged", "pending")


def unit_state(ctx: StudyContext, unit: Unit, check: verify.UnitCheck | None = None) -> str:
    """``done`` (outputs verified), ``running`` (a live claim), ``failed`` (a failure record), ``damaged`` (an
    output missing or altered since it was written: the next run recomputes it), else ``pending``."""
    check = check or verify.check_unit(ctx, unit)
    if check.state in ("done", "legacy"):
        return "done"
    if claims.claim_state(ctx.layout.claim(unit.key), lease_s=ctx.spec.execution.lease_s) == "running":
        return "running"
    if ctx.layout.failure(unit.key).exists():
        return "failed"
    return "damaged" if check.state == "damaged" else "pending"


def study_status(spec: StudySpec) -> tuple[dict[str, dict[str, int]], list[dict]]:
    """Counts of unit states per stage, and the failure records (label, attempts, last error line); a damaged
    unit is listed with ``where: "verify"`` and the damaged file as its error."""
    ctx = StudyContext(spec)
    verify.check_corpus(ctx)
    plan: Plan = build_plan(ctx)
    counts = {stage: dict.fromkeys(UNIT_STATES, 0) for stage in STAGES}
    failures = []
    for unit in plan.all_units():
        check = verify.check_unit(ctx, unit)
        state = unit_state(ctx, unit, check)
        counts[unit.kind][state] += 1
        if state == "failed":
            rec = claims.read_json(ctx.layout.failure(unit.key)) or {}
            lines = [x for x in rec.get("error", "").strip().splitlines() if x.strip()]
            failures.append({"label": unit.label, "attempts": rec.get("attempts", 0), "where": rec.get("where", ""),
                             "error": lines[-1] if lines else ""})
        elif state == "damaged":
            failures.append({"label": unit.label, "attempts": 0, "where": "verify", "error": check.problem})
    return counts, failures


def damaged_units(built: tuple[StudyContext, Plan]) -> list[str]:
    """``"label: file problem"`` for every unit of a :func:`planned` study whose outputs are damaged."""
    ctx, plan = built
    return [f"{u.label}: {c.problem}" for u in plan.all_units() if (c := verify.check_unit(ctx, u)).state == "damaged"]


def verify_study(spec: StudySpec) -> tuple[str, dict[str, verify.StageReport]]:
    """``cellplateau verify``: checksum the corpus store and every output of the study; writes nothing but the
    corpus's verification stamp. Returns what the corpus check did and a report per stage."""
    ctx = StudyContext(spec, planning=True)
    corpus = verify.check_corpus(ctx, force=True)
    stages, _ = verify.check_plan(ctx, build_plan(ctx), deep=True)
    return corpus, stages
