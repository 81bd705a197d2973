"""The ``cellplateau`` command line (typer + rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Pretraining-data scaling and diversity studies for single-cell foundation models.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(msg: str, *, code: int = 2) -> None:
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
    raise typer.Exit(code)


def _load(spec_path: Path):
    from cellplateau.spec import SpecError, load_spec

    try:
        return _guard(load_spec, spec_path)
    except SpecError as exc:
        _fail(str(exc))


def _guard(fn, *args, **kwargs):
    """Run ``fn``; spec/plan/store/dataset problems become a clear error and exit code 2, machine faults
    (disk full, permission denied, read-only filesystem) one line naming the path and exit code 1."""
    from cellplateau import _faults
    from cellplateau.corpus.ingest import IngestError
    from cellplateau.corpus.store import StoreError
    from cellplateau.evaluation.datasets import DatasetError
    from cellplateau.evaluation.sources import DownloadError
    from cellplateau.results_import.mapping import MappingError
    from cellplateau.runner.export import ExportError
    from cellplateau.runner.plan import PlanError

    try:
        return fn(*args, **kwargs)
    except (PlanError, StoreError, DatasetError, IngestError, DownloadError, ExportError, MappingError) as exc:
        _fail(str(exc))
    except OSError as exc:
        line = _faults.describe(exc)
        if line is None:
            raise
        _fail(line, code=1)


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="store folder to write")],
    n_cells: Annotated[int, typer.Option(help="cells in the corpus")] = 100_000,
    n_genes: Annotated[int, typer.Option(help="genes in the vocabulary")] = 2_000,
    eval_cells: Annotated[int, typer.Option(help="cells per evaluation dataset")] = 2_500,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    eval_dir: Annotated[Optional[Path], typer.Option(help="where the evaluation .h5ad files go")] = None,
    planted_states: Annotated[int, typer.Option(help="rare planted states with a known saturation point (0: none); "
                                                "adds eval set `planted` and eval/planted.json")] = 0,
    planted_cells: Annotated[int, typer.Option(help="corpus cells of each planted state")] = 600,
    planted_min_cells: Annotated[int, typer.Option(help="cells of a planted state a subset needs to learn it "
                                                   "(saturation fraction = planted_min_cells / planted_cells)")] = 60,
    planted_genes: Annotated[int, typer.Option(help="genes in each planted state's program")] = 60,
) -> None:
    """Write the synthetic atlas (a corpus store) and its held-out evaluation datasets."""
    from rich.progress import Progress

    from cellplateau.corpus.simulate import AtlasParams, simulate_atlas

    try:
        params = AtlasParams(n_cells=n_cells, n_genes=n_genes, eval_cells=eval_cells, seed=seed,
                             planted_states=planted_states, planted_cells=planted_cells,
                             planted_min_cells=planted_min_cells, planted_genes=planted_genes)
    except ValueError as exc:
        _fail(str(exc))
    with Progress(console=console) as bar:
        task = bar.add_task("simulating", total=None)
        store = _guard(simulate_atlas, out, params, eval_dir=eval_dir,
                               progress=lambda i, n: bar.update(task, completed=i, total=n))
    console.print(f"wrote {store} (fingerprint {store.fingerprint}); evaluation sets in "
                  f"{eval_dir or out.parent / 'eval'}")


ARC_PRESETS = {"scbasecount": "the organism's sample_metadata.parquet", "tahoe100m": "the plate .h5ad files"}


@app.command()
def ingest(
    out: Annotated[Path, typer.Argument(help="store folder to write")],
    files: Annotated[Optional[list[Path]], typer.Argument(help="input .h5ad files (raw counts)")] = None,
    vocabulary: Annotated[Optional[Path], typer.Option(help="CSV/TSV with gene_symbol/gene_id, or a store")] = None,
    obs: Annotated[Optional[list[str]], typer.Option(help="store_column=source_column, repeatable")] = None,
    gene_key: Annotated[Optional[str], typer.Option(help="var column with gene names")] = None,
    layer: Annotated[Optional[str], typer.Option(help="read counts from this layer instead of X")] = None,
    soma: Annotated[Optional[str], typer.Option(help="a TileDB-SOMA experiment URI to read instead of files")] = None,
    census_version: Annotated[Optional[str], typer.Option(help="read the CELLxGENE Census of this version")] = None,
    organism: Annotated[str, typer.Option(help="Census organism")] = "homo_sapiens",
    obs_filter: Annotated[Optional[str], typer.Option(help="SOMA obs value filter")] = None,
    var_filter: Annotated[Optional[str], typer.Option(help="SOMA var value filter")] = None,
    preset: Annotated[Optional[str], typer.Option(help="named corpus: sctab (the reference corpus, SOMA/Census), "
                                                  "scbasecount (FILES: a sample_metadata.parquet), tahoe100m (FILES: "
                                                  "plate .h5ad files)")] = None,
    where: Annotated[Optional[list[str]], typer.Option(help="preset option key=value (lists comma-separated), "
                                                       "e.g. tech_10x=3_prime_gex, repeatable")] = None,
    genes: Annotated[Optional[Path], typer.Option(help="file of gene IDs to keep (one a line), SOMA only")] = None,
    chunk_size: Annotated[int, typer.Option(help="cells read per chunk")] = 50_000,
    min_shared_genes: Annotated[int, typer.Option(help="refuse an input sharing fewer genes with the other "
                                                       "inputs")] = 1,
    allow_disjoint: Annotated[bool, typer.Option(help="ingest inputs that share too few genes, or come from "
                                                      "different organisms")] = False,
) -> None:
    """Build a corpus store from h5ad files, a TileDB-SOMA experiment, or the CELLxGENE Census."""
    from cellplateau.corpus.ingest import ingest_h5ad, read_vocabulary

    obs_map = {}
    for item in obs or []:
        if "=" not in item:
            _fail(f"--obs {item!r}: expected store_column=source_column")
        k, v = item.split("=", 1)
        obs_map[k] = v
    if preset in ARC_PRESETS:
        if not files:
            _fail(f"--preset {preset}: give the input files ({ARC_PRESETS[preset]})")
        from cellplateau.corpus.presets_arc import ingest_preset

        vocab = _guard(read_vocabulary, vocabulary) if vocabulary else None
        report = _guard(ingest_preset, preset, out, files, where=where or [], layer=layer, vocabulary=vocab,
                        chunk_size=chunk_size, log=console.print)
        console.print(f"wrote {out}: {report.n_cells} cells x {report.n_genes} genes")
        return
    if where:
        _fail("--where goes with --preset scbasecount or tahoe100m")
    from_soma = soma is not None or census_version is not None
    if from_soma == bool(files):
        _fail("give either .h5ad files or --soma/--census-version, not both and not neither")
    if from_soma:
        from cellplateau.corpus.soma import ingest_from_cli

        report = _guard(ingest_from_cli, out, uri=soma, census_version=census_version, organism=organism,
                        layer=layer, obs_filter=obs_filter, var_filter=var_filter, preset=preset, genes=genes,
                        obs_map=obs_map, chunk_size=chunk_size, log=console.print, progress=True)
    else:
        vocab = _guard(read_vocabulary, vocabulary) if vocabulary else None
        report = _guard(ingest_h5ad, out, files, vocabulary=vocab, obs_map=obs_map, gene_key=gene_key, layer=layer,
                        chunk_size=chunk_size, log=console.print, progress=True, allow_disjoint=allow_disjoint,
                        min_shared_genes=min_shared_genes)
    console.print(f"wrote {out}: {report.n_cells} cells x {report.n_genes} genes")


@app.command()
def combine(
    out: Annotated[Path, typer.Argument(help="store folder to write")],
    stores: Annotated[list[Path], typer.Argument(help="corpus stores on one gene vocabulary")],
    chunk_size: Annotated[int, typer.Option(help="cells copied per chunk")] = 100_000,
) -> None:
    """One corpus store from several (e.g. scTab + a Perturb-seq screen for the spike-in experiment)."""
    from cellplateau.corpus.combine import combine_stores

    report = _guard(combine_stores, out, stores, chunk_size=chunk_size, log=console.print)
    console.print(f"wrote {out}: {report.n_cells} cells x {report.n_genes} genes")


@app.command()
def plan(spec_path: Annotated[Path, typer.Argument(help="study spec (YAML)")],
         json_out: Annotated[bool, typer.Option("--json", help="print the plan as JSON (units, counts, compute, "
                                                "budget table, warnings)")] = False) -> None:
    """Show how many subsets, trainings and evaluations the study implies, what is done, and the training
    budget per family and fraction (optimizer steps, cells seen, epochs)."""
    from cellplateau.runner.budgets import budget_table, budget_warnings
    from cellplateau.runner.compute import plan_compute
    from cellplateau.runner.execute import damaged_units, plan_counts, plan_summary, planned

    spec = _load(spec_path)
    if not (Path(spec.corpus.path) / "store.json").exists() and spec.corpus.expected_cells is None:
        if spec.corpus.simulate is None:
            _fail(f"{spec.corpus.path}: corpus store not found and the spec has no corpus.simulate")
        console.print(f"corpus {spec.corpus.path} does not exist yet: it will be simulated first; nothing is done")
        sel = spec.selection
        n_sub = len(sel.strategies) * len(sel.fractions) * sel.replicates
        console.print(f"about {n_sub} subsets, {n_sub * len(spec.families)} trainings (fewer after sharing "
                      "the 100 % subsets)")
        return
    table = Table(title=f"study {spec.name}")
    table.add_column("stage")
    table.add_column("units", justify="right")
    table.add_column("done", justify="right")
    table.add_column("to do", justify="right")
    table.add_column("est. compute", justify="right")
    built = _guard(planned, spec)
    compute = plan_compute(spec, built)
    budgets = budget_table(built[0])
    warnings = budget_warnings(budgets) + built[1].warnings
    if json_out:
        import json

        summary = plan_summary(spec, built)
        out = {"study": spec.name, "stages": {s: {"units": t, "done": d, "train_flops": compute[s]
                                                  if compute[s] == compute[s] else None}
                                              for s, (t, d) in summary.items()},
               "counts": plan_counts(spec, built), "budgets": budgets, "overlap": built[1].overlap,
               "warnings": warnings}
        typer.echo(json.dumps(out, indent=2))
        return
    for stage, (total, done) in plan_summary(spec, built).items():
        flops = compute[stage]
        table.add_row(stage, str(total), str(done), str(total - done), "-" if flops != flops else f"{flops:.3g} FLOP")
    console.print(table)
    counts = plan_counts(spec, built)
    console.print(f"{counts['pretrainings']} pretrainings (+ {counts['controls']} untrained controls), "
                  f"{counts['evaluations']} evaluations (+ {counts['control_evaluations']} of the controls, "
                  f"{counts['baselines']} baseline runs)", highlight=False)
    console.print("est. compute: the families' analytical training-FLOP estimates (an upper bound under "
                  "early stopping)", highlight=False)
    if counts["corpus_planned"]:
        console.print(f"corpus {spec.corpus.path} is not built yet: counts and compute use corpus.expected_cells "
                      f"({spec.corpus.expected_cells:,}) and expected_genes ({spec.corpus.expected_genes:,}); "
                      "`run` needs the store", highlight=False)
    _print_dataset_states(spec)
    for path in counts["missing_inputs"]:
        console.print(f"missing checkpoint: {path}", highlight=False)
    for line in damaged_units(built):
        console.print(f"damaged (the next run recomputes it): {line}", highlight=False)
    Console(width=max(console.width, 150)).print(_budget_rich_table(budgets))
    for name, rec in built[1].overlap.items():
        console.print(f"evaluation dataset {name}: {rec['n_cells']:,} of {rec['n_eval_cells']:,} cells are corpus "
                      f"cells (on_overlap: {spec.evaluation.on_overlap})", highlight=False)
    for line in warnings:
        err.print(f"[bold yellow]warning:[/] {line}", highlight=False)


def _budget_rich_table(rows: list[dict]) -> Table:
    table = Table(title="training budget per family and fraction (cells seen = steps x batch; epochs over the "
                  "subset's training cells; early stopping: at most)")
    for col in ("family", "fraction", "policy", "train cells", "steps", "cells seen", "epochs", "holds constant"):
        table.add_column(col, justify="left" if col in ("family", "policy", "holds constant") else "right",
                         no_wrap=True)
    for r in rows:
        table.add_row(r["family"], f"{r['fraction']:g}", r["policy"] + (" (capped)" if r["capped"] else ""),
                      f"{r['train_cells']:,}", f"{r['planned_steps']:,}" if r["planned_steps"] else "-",
                      f"{r['cells_seen']:,}",
                      f"{r['epochs']:.3g}", r["holds_constant"].split(":")[0])
    return table


@app.command("export-subsets")
def export_subsets(
    spec_path: Annotated[Path, typer.Argument(help="study spec (YAML)")],
    out: Annotated[Optional[Path], typer.Option(help="folder to write (default: OUTPUT_DIR/export/subsets)")] = None,
    h5ad: Annotated[bool, typer.Option(help="also write each subset's training and validation cells as .h5ad")]
    = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Write every subset of the study (row indices, obs names, manifest; optionally .h5ad) for training elsewhere."""
    from cellplateau.runner.export import export_subsets as export

    spec = _load(spec_path)
    folders = _guard(export, spec, out=out, h5ad=h5ad, progress=progress, log=console.print)
    console.print(f"wrote {len(folders)} subsets to {folders[0].parent if folders else out}; an `imported` family "
                  "maps them back with checkpoints: '<folder>/{strategy}_{fraction}_r{replicate}'", highlight=False)


def _read_lock(spec):
    from cellplateau.evaluation.lockfile import Lock

    try:
        return Lock.read(spec.lock_file)
    except ValueError as exc:
        _fail(str(exc))


def _print_dataset_states(spec) -> None:
    """One line per evaluation dataset that is not locked, and a summary with the lock file's state."""
    from cellplateau.evaluation.fetch import STATES, dataset_states

    lock = _read_lock(spec)
    states = dataset_states(spec.evaluation.datasets, lock)
    for st in states:
        if st.state != "locked":
            console.print(f"evaluation dataset {st.name} {st.state}: {st.path} ({st.detail})", highlight=False)
    tally = ", ".join(f"{sum(s.state == k for s in states)} {k}" for k in STATES)
    where = ("no lock file" if lock.path is None else
             f"lock file {lock.path} ({len(lock.datasets)} datasets recorded)" if lock.exists else
             f"lock file {lock.path} not written yet (the first `cellplateau fetch` writes it)")
    console.print(f"evaluation datasets: {tally}; {where}", highlight=False)


@app.command()
def fetch(
    spec_path: Annotated[Path, typer.Argument(help="study spec (YAML)")],
    dataset: Annotated[Optional[list[str]], typer.Option(help="only this dataset (repeatable)")] = None,
    progress: Annotated[bool, typer.Option(help="show download progress")] = True,
) -> None:
    """Download every missing evaluation dataset, build the declared ones, and verify all against SPEC.lock."""
    from cellplateau.evaluation.fetch import fetch_all

    spec = _load(spec_path)
    chosen = list(spec.evaluation.datasets)
    if dataset:
        unknown = sorted(set(dataset) - {d.name for d in chosen})
        if unknown:
            _fail(f"--dataset {unknown}: not in the spec; datasets are {[d.name for d in chosen]}")
        chosen = [d for d in chosen if d.name in dataset]
    lock = _read_lock(spec)
    done = _guard(fetch_all, chosen, lock, progress=progress, log=lambda m: console.print(m, highlight=False))
    for name, action in done.items():
        console.print(f"{name}: {action}", highlight=False)
    console.print(f"lock file: {lock.path}", highlight=False)



@app.command()
def run(
    spec_path: Annotated[Path, typer.Argument(help="study spec (YAML)")],
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    executor: Annotated[Optional[str], typer.Option(help="local | ray | slurm (default: execution.executor)")] = None,
    retry_failed: Annotated[bool, typer.Option(help="retry units that used up their retries")] = False,
) -> None:
    """Run the study: every unit not yet done, then the results table and the report."""
    from cellplateau.runner.execute import run_study
    from cellplateau.runner.executors import EXECUTORS

    if executor is not None and executor not in EXECUTORS:
        _fail(f"--executor {executor!r}: expected one of {list(EXECUTORS)}")
    spec = _load(spec_path)
    summary = _guard(run_study, spec, progress=progress, log=console.print, executor=executor,
                     retry_failed=retry_failed)
    console.print(f"computed {len(summary.computed)} units, {summary.skipped} already done, "
                  f"{summary.seconds:.1f} s")
    if summary.fault:
        _fail(summary.fault, code=1)
    if summary.failed:
        err.print(f"[bold red]{len(summary.failed)} units failed[/] (tracebacks: cellplateau status "
                  f"{spec_path}; retry: cellplateau run {spec_path} --retry-failed)", highlight=False)
        for label, error in list(summary.failed.items())[:20]:
            lines = error.strip().splitlines()
            err.print(f"  {label}: {lines[-1] if lines else ''}", highlight=False)
        raise typer.Exit(1)
    console.print(f"results: {Path(spec.output_dir) / 'results' / 'results.parquet'}")
    console.print(f"report:  {Path(spec.output_dir) / 'report' / 'report.html'}")


@app.command()
def status(spec_path: Annotated[Path, typer.Argument(help="study spec (YAML)")]) -> None:
    """Show done / running / failed / pending units per stage, and the failed units' last errors."""
    from cellplateau.runner.execute import UNIT_STATES, study_status

    spec = _load(spec_path)
    counts, failures = _guard(study_status, spec)
    table = Table(title=f"study {spec.name}")
    table.add_column("stage")
    for state in UNIT_STATES:
        table.add_column(state, justify="right")
    for stage, by_state in counts.items():
        table.add_row(stage, *(str(by_state[s]) for s in UNIT_STATES))
    console.print(table)
    for f in failures:
        if f["where"] == "verify":
            console.print(f"damaged (the next run recomputes it): {f['label']}: {f['error']}", highlight=False)
        else:
            console.print(f"failed: {f['label']} ({f['attempts']} attempts, {f['where']}): {f['error']}",
                          highlight=False)


@app.command()
def verify(spec_path: Annotated[Path, typer.Argument(help="study spec (YAML)")]) -> None:
    """Checksum the corpus store and every artifact of the study; report per stage (exit 1 if anything is
    damaged: `run` recomputes damaged artifacts; a damaged corpus must be rebuilt)."""
    from cellplateau.runner.execute import verify_study

    spec = _load(spec_path)
    corpus, stages = _guard(verify_study, spec)
    console.print(f"corpus {spec.corpus.path}: {corpus}", highlight=False)
    table = Table(title=f"study {spec.name}: artifacts")
    for col in ("stage", "units", "verified", "no record (sound)", "damaged", "not computed"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, rep in stages.items():
        table.add_row(stage, str(rep.units), str(rep.verified), str(rep.legacy), str(len(rep.damaged)),
                      str(rep.pending))
    console.print(table)
    damaged = [line for rep in stages.values() for line in rep.damaged]
    for line in damaged:
        console.print(f"damaged: {line}", highlight=False)
    if damaged:
        err.print(f"{len(damaged)} damaged artifacts: `cellplateau run {spec_path}` recomputes them",
                  highlight=False)
        raise typer.Exit(1)


@app.command()
def report(
    spec_path: Annotated[Path, typer.Argument(help="study spec (YAML), or a results table (.parquet, e.g. from "
                                                   "import-results) with --out")],
    compare: Annotated[Optional[Path], typer.Option(help="a second study's spec to compare against")] = None,
    out: Annotated[Optional[Path], typer.Option(help="with a results table: write the report to OUT/report/")] = None,
) -> None:
    """Rebuild the report from the results table alone (optionally side by side with a second study)."""

    from cellplateau.report.html import write_comparison, write_report
    from cellplateau.runner.context import StudyContext

    if spec_path.suffix.lower() in (".parquet", ".pq"):
        if out is None or compare is not None:
            _fail(f"{spec_path}: a results table takes --out DIR (and no --compare)")
        _report_from_table(spec_path, out)
        return
    if out is not None:
        _fail("--out goes with a results table (.parquet); a study's report goes to its output_dir")
    ctxs = [StudyContext(_load(p)) for p in ([spec_path] + ([compare] if compare else []))]
    for ctx in ctxs:
        if not ctx.layout.results.exists():
            _fail(f"{ctx.layout.results}: no results table; run the study {ctx.spec.name!r} first")
    tables = [_guard(_read_results, ctx.layout.results) for ctx in ctxs]
    if compare is None:
        path = _guard(write_report, ctxs[0], tables[0], progress=True)
    else:
        path = _guard(write_comparison, ctxs[0], ctxs[1], tables[0], tables[1])
    _print_glance(Path(path).parent, ctxs[0].spec.name)
    console.print(f"report: {path}")


def _report_from_table(results_path: Path, out: Path, *, mapping=None, n_boot: int | None = None) -> None:
    """The report of a results table alone into OUT/report/ (with the mapping saved beside an imported table:
    its analysis settings and the source paper's statements), then the glance table."""
    from cellplateau.results_import.report import read_saved_mapping, write_report

    if not results_path.is_file():
        _fail(f"{results_path}: results table not found")
    table = _guard(_read_results, results_path)
    if mapping is None:
        mapping = _guard(read_saved_mapping, results_path)
    studies = sorted(set(table["study"].dropna().astype(str))) if "study" in table.columns else []
    name = studies[0] if len(studies) == 1 else results_path.stem
    path = _guard(write_report, out / "report", table, title=f"cellplateau study: {name}", mapping=mapping,
                  n_boot=n_boot, progress=True)
    _print_glance(Path(path).parent, name)
    _print_statements(Path(path).parent, name)
    console.print(f"report: {path}")


def _print_statements(report_dir: Path, name: str) -> None:
    import pandas as pd

    from cellplateau.results_import.statements import as_rich

    path = report_dir / "tables" / "statements.csv"
    if path.exists():
        Console(width=max(console.width, 160), soft_wrap=True).print(
            as_rich(pd.read_csv(path), title=f"{name}: the source paper's statements against its numbers"))


@app.command("import-results")
def import_results(
    mapping_path: Annotated[Path, typer.Argument(help="mapping YAML: which files, columns, tasks, metrics (with "
                                                      "their directions), controls and baselines")],
    tables: Annotated[Optional[list[Path]], typer.Argument(help="tables (CSV or Parquet) to read instead of the "
                                                           "mapping's files, matched to its tasks by file name")]
    = None,
    out: Annotated[Path, typer.Option(help="folder to write: OUT/results/results.parquet and OUT/report/")] = ...,
    n_boot: Annotated[int, typer.Option(min=10, help="bootstrap resamples for the report's intervals")] = 1000,
) -> None:
    """Turn an external study's per-seed results (CSV or Parquet) into a cellplateau results table, then build
    its report from that table alone, as `cellplateau report` does."""
    from cellplateau._io import atomic_write_text
    from cellplateau.results_import.mapping import load_mapping
    from cellplateau.results_import.reader import import_tables, write_results
    from cellplateau.results_import.report import MAPPING_FILE, mapping_json

    mapping = _guard(load_mapping, mapping_path)
    imported = _guard(import_tables, mapping, tables or None)
    for f in imported.files:
        notes = [f"{n} {what}" for n, what in ((f.dropped, "left out"), (f.duplicates, "written twice"),
                                                (f.conflict_rows, f"repeating runs with other values "
                                                                  f"(duplicates: {mapping.duplicates})"),
                                                (f.short_rows, "short rows read right-aligned")) if n]
        console.print(f"{f.name}: {f.imported} of {f.rows} rows -> {f.task} ({f.controls} controls, {f.baselines} "
                      f"baseline rows)" + (f"; {', '.join(notes)}" if notes else ""), highlight=False)
    if imported.skipped:
        console.print(f"not read (skip): {', '.join(imported.skipped)}", highlight=False)
    results = out / "results" / "results.parquet"
    _guard(write_results, imported.table, results)
    _guard(atomic_write_text, results.parent / MAPPING_FILE, mapping_json(mapping))
    console.print(f"results: {results} ({len(imported.table):,} records from {len(imported.files)} files)",
                  highlight=False)
    _report_from_table(results, out, mapping=mapping, n_boot=n_boot)


def _read_results(path: Path):
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        _fail(f"{path}: the results table cannot be read ({exc}); `cellplateau run` rebuilds it")


def _print_glance(report_dir: Path, name: str) -> None:
    """The report's first screen as a rich table (read from the CSVs the report wrote)."""
    from cellplateau.report.glance import read_tables, to_rich

    tables = read_tables(report_dir)
    if tables is not None and not tables["saturation"].empty:
        # at least 160 columns: in an 80-column log (no terminal) six wrapped columns are unreadable
        Console(width=max(console.width, 160), soft_wrap=True).print(
            to_rich(tables, title=f"{name}: the answer at a glance"))


@app.command("spec-schema")
def spec_schema(
    json_out: Annotated[bool, typer.Option("--json", help="print the JSON schema instead of the field list")] = False,
    plugin: Annotated[Optional[list[str]], typer.Option(help="a plug-in module (dotted name or .py file) whose "
                                                        "families, strategies or tasks to include; repeatable")] = None,
    spec_path: Annotated[Optional[Path], typer.Option("--spec", help="include the plug-ins this spec lists")] = None,
) -> None:
    """Every field of the study spec with its type, default and description (built-ins and plug-ins alike),
    or its JSON schema (--json)."""
    import json

    import yaml

    from cellplateau import spec_schema as schema
    from cellplateau.spec import SpecError

    plugins = list(plugin or [])
    if spec_path is not None:
        try:
            raw = yaml.safe_load(spec_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            _fail(f"{spec_path}: cannot be read as a YAML spec ({exc})")
        base = spec_path.resolve().parent
        plugins += [str(base / p) if str(p).endswith(".py") and not Path(p).is_absolute() else p
                    for p in (raw.get("plugins") or [])]
    try:
        out = json.dumps(schema.json_schema(plugins), indent=2) if json_out else schema.text(plugins)
    except SpecError as exc:
        _fail(str(exc))
    typer.echo(out)


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Option(help="where the demo study goes")] = Path("studies/demo"),
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run the built-in demo study on the synthetic atlas and print where the report is."""
    from cellplateau.demo import write_demo_spec

    spec_path = write_demo_spec(output_dir)
    console.print(f"demo spec: {spec_path}")
    run(spec_path, progress=progress)
    from cellplateau.runner.context import StudyContext

    spec = _load(spec_path)
    _print_glance(StudyContext(spec).layout.report_dir, spec.name)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
