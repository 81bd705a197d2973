"""External per-seed tables + a mapping -> cellplateau's long-format results table.

Per source row and imported metric one record, in :data:`cellplateau.runner.aggregate.COLUMNS` (plus
``higher_is_better``): pretrained models under their strategy and fraction (``replicate`` = the seed, ``n_cells``
= fraction x corpus cells), untrained controls as strategy ``control`` at fraction 0, baselines as strategy
``baseline`` with family ``baseline:<name>`` and no fraction. Provenance the source cannot know (subset and model
keys, seeds per stage, corpus fingerprint) is left empty; ``spec_hash`` is the mapping's hash.
"""

from __future__ import annotations

import fnmatch
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellplateau._hashing import stable_hash
from cellplateau.results_import.mapping import ImportMapping, MappingError
from cellplateau.results_import.tables import SUFFIXES, matches, numeric, read_table

DUPLICATE_RTOL = 1e-9      # rows repeating a key with values this close are one row written twice
ID_COLUMNS = ["_model", "strategy", "fraction", "replicate", "dataset"]


def result_columns() -> list[str]:
    from cellplateau.runner.aggregate import COLUMNS

    return list(COLUMNS) + [c for c in ("higher_is_better",) if c not in COLUMNS]


@dataclass(frozen=True)
class FileReport:
    """What one source file gave: ``rows`` data rows read, ``short_rows`` of them read right-aligned,
    ``dropped`` left out by the mapping (strategy/dataset ``drop``, ``model.skip``), ``duplicates`` removed (a
    run written twice with the same values), ``conflicts`` runs written several times with different values
    (``conflict_rows`` rows removed by the mapping's ``duplicates`` policy), ``imported`` source rows kept
    (``controls`` and ``baselines`` among them), ``records`` results rows."""

    name: str
    task: str
    rows: int
    short_rows: int
    dropped: int
    duplicates: int
    conflicts: int
    conflict_rows: int
    imported: int
    controls: int
    baselines: int
    records: int


@dataclass(frozen=True)
class Imported:
    table: pd.DataFrame
    files: tuple[FileReport, ...]
    skipped: tuple[str, ...]


def find_tables(mapping: ImportMapping, tables: list[Path] | None = None) -> tuple[list[tuple[str, Path]], list[str]]:
    """``([(name, path)], skipped names)``: the files to read. Without ``tables``: every file under ``mapping.root``
    that a task's or a baseline's glob matches (each glob must match a file); with ``tables``: those files,
    matched to tasks by file name."""
    if tables:
        chosen, skipped = [], []
        for p in tables:
            p = Path(p)
            if not p.is_file():
                raise MappingError(f"{p}: table not found")
            if mapping.skipped(p.name):
                skipped.append(p.name)
            else:
                chosen.append((p.name, p))
        return chosen, skipped
    root = mapping.root
    if not root.is_dir():
        raise MappingError(f"root {root}: not a folder (the mapping's root, relative to the mapping file)")
    found: dict[str, Path] = {}
    skipped = {p.relative_to(root).as_posix() for g in mapping.skip for p in root.glob(g) if p.is_file()}
    globs = [(f"tasks.{n}.files", g) for n, t in mapping.tasks.items() for g in t.files]
    globs += [(f"baselines.{b.name}.files", g) for b in mapping.baselines for g in b.files]
    for key, g in globs:
        hits = sorted(p for p in root.glob(g) if p.is_file() and p.suffix.lower() in SUFFIXES)
        names = [p.relative_to(root).as_posix() for p in hits]
        kept = [(n, p) for n, p in zip(names, hits) if not mapping.skipped(n)]
        if not kept:
            raise MappingError(f"{key}: {g!r} matches no table in {root}" + (" (after skip)" if hits else ""))
        found.update(kept)
    return sorted(found.items()), sorted(skipped)


def import_tables(mapping: ImportMapping, tables: list[Path] | None = None) -> Imported:
    """Read and check every table; nothing is written. Raises :class:`MappingError` (one line) on bad input."""
    chosen, skipped = find_tables(mapping, tables)
    frames, reports = [], []
    for name, path in chosen:
        frame, report = read_one(mapping, name, path)
        frames.append(frame)
        reports.append(report)
    cols = result_columns()
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*cols, "_file"])
    long = pd.concat([long, _param_rows(mapping, long)], ignore_index=True)
    _check_across_files(long)
    _check_curves(long)
    table = long.drop(columns=["_file"]).reindex(columns=cols)
    for col in ("subset_seed", "train_seed", "eval_seed", "replicate", "n_cells", "step", "eval_overlap"):
        table[col] = table[col].astype("Int64")
    for col in ("fraction", "value", "depth", "gene_overlap"):
        table[col] = table[col].astype(float)
    table["higher_is_better"] = table["higher_is_better"].astype("boolean")
    table["headline"] = table["headline"].astype("boolean")
    for col in ("eval_layer", "subset_key", "content_hash", "model_key", "corpus_fingerprint", "budget_policy"):
        table[col] = table[col].astype(object)
    table = table.sort_values(["task", "dataset", "family", "model_size", "strategy", "fraction", "replicate",
                               "metric"], na_position="first", kind="stable").reset_index(drop=True)
    return Imported(table=table, files=tuple(reports), skipped=tuple(skipped))


def _require(table: pd.DataFrame, path: Path, column: str, key: str) -> None:
    if column not in table.columns:
        cols = ", ".join(map(str, table.columns))
        raise MappingError(f"{path}: no column {column!r} (mapping key {key}); its columns: {cols}")


def read_one(mapping: ImportMapping, name: str, path: Path) -> tuple[pd.DataFrame, FileReport]:
    """One file's records (with a ``_file`` column naming it) and what it gave."""
    tasks = mapping.task_of(name)
    if len(tasks) != 1:
        which = "no task's files" if not tasks else f"the files of several tasks ({', '.join(tasks)})"
        raise MappingError(f"{path}: the file name matches {which}")
    task_name = tasks[0]
    task = mapping.tasks[task_name]
    raw, short = read_table(path)
    lines = raw.attrs["lines"]
    n = len(raw)
    whole = mapping.baseline_file(name)
    _require(raw, path, mapping.dataset.column, "dataset.column")
    for col in task.metrics:
        _require(raw, path, col, f"tasks.{task_name}.metrics")
    if whole is None:
        _require(raw, path, mapping.strategy.column, "strategy.column")
        _require(raw, path, mapping.fraction.column, "fraction.column")
        _require(raw, path, mapping.seed, "seed")
        if mapping.model.column is not None:
            _require(raw, path, mapping.model.column, "model.column")
    dataset_raw = raw[mapping.dataset.column].astype(str).str.strip()
    keep = ~dataset_raw.isin(mapping.dataset.drop).to_numpy()
    base_name = np.full(n, None, dtype=object)
    if whole is not None:
        base_name[:] = whole.name
        model = np.full(n, None, dtype=object)
        strategy = np.full(n, "baseline", dtype=object)
    else:
        strat_raw = raw[mapping.strategy.column].astype(str).str.strip()
        keep &= ~strat_raw.isin(mapping.strategy.drop).to_numpy()
        strategy = strat_raw.map(lambda s: mapping.strategy.rename.get(s, s)).to_numpy(object)
        model = _models(mapping, raw, name, path)
        skip = np.fromiter((m is not None and any(fnmatch.fnmatchcase(m, g) for g in mapping.model.skip)
                            for m in model), bool, n)
        keep &= ~skip
        for b in mapping.baselines:
            if b.rows is not None:
                _require(raw, path, b.rows.column, f"baselines.{b.name}.rows.column")
                hit = matches(raw, b.rows.column, b.rows.values) & (base_name == None)  # noqa: E711
                base_name[hit] = b.name
        unknown = sorted({m for m, k, b in zip(model, keep, base_name) if k and b is None and m not in mapping.models})
        if unknown:
            raise MappingError(f"{path}: model {unknown[0]!r} is not in models (add it there, or leave it out "
                               "with model.skip)")
    is_base = base_name != None  # noqa: E711
    is_ctl = np.zeros(n, bool)
    if whole is None and mapping.controls is not None:
        _require(raw, path, mapping.controls.column, "controls.column")
        is_ctl = matches(raw, mapping.controls.column, mapping.controls.values) & ~is_base
    fraction = np.full(n, np.nan)
    if whole is None:
        size = numeric(raw, mapping.fraction.column, path)
        scale = mapping.fraction.scale
        bad = keep & ~is_base & ~((size >= 0) & (size <= scale))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = "percentages lie in 0-100" if mapping.fraction.unit == "percentage" else "fractions lie in 0-1"
            col = mapping.fraction.column
            raise MappingError(f"{path}: column {col!r} holds {raw.iloc[i][col]!r} (line {lines[i]}): {what} "
                               f"(fraction.unit: {mapping.fraction.unit})")
        fraction = np.where(is_base, np.nan, np.where(is_ctl, 0.0, size / scale))
    strategy = np.where(is_base, "baseline", np.where(is_ctl, "control", strategy)).astype(object)
    replicate = np.zeros(n)
    if mapping.seed in raw.columns:
        seed = numeric(raw, mapping.seed, path)
        missing = keep & ~is_base & np.isnan(seed)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise MappingError(f"{path}: column {mapping.seed!r} is empty on line {lines[i]} (every run needs its "
                               "seed)")
        replicate = np.where(is_base & ~(seed >= 0), 0, seed)      # a baseline's sentinel seed (e.g. -1) -> 0
    dataset = dataset_raw.map(lambda s: mapping.dataset.rename.get(s, s)).to_numpy(object)
    values = np.column_stack([numeric(raw, col, path) for col in task.metrics]).reshape(n, len(task.metrics))
    ids = pd.DataFrame({"_model": np.where(is_base, "baseline:" + base_name.astype(str), model.astype(str)),
                        "strategy": strategy, "fraction": fraction, "replicate": replicate, "dataset": dataset})
    same, resolved, conflicts = _duplicates(ids, values, keep, path, lines, policy=mapping.duplicates)
    dropped = int(keep.sum())
    keep &= ~(same | resolved)
    report = FileReport(name=name, task=task_name, rows=n, short_rows=short, dropped=n - dropped,
                        duplicates=int(same.sum()), conflicts=conflicts, conflict_rows=int(resolved.sum()),
                        imported=int(keep.sum()), controls=int((keep & is_ctl).sum()),
                        baselines=int((keep & is_base).sum()), records=0)
    frame = _records(mapping, task_name, ids[keep], values[keep], model[keep], base_name[keep], name)
    return frame, FileReport(**{**report.__dict__, "records": len(frame)})


def _models(mapping: ImportMapping, raw: pd.DataFrame, name: str, path: Path) -> np.ndarray:
    src = mapping.model
    if src.column is not None:
        return raw[src.column].astype(str).str.strip().to_numpy(object)
    m = re.search(src.pattern, Path(name).name)
    if m is None:
        raise MappingError(f"{path}: the model pattern {src.pattern!r} does not match the file name (model.pattern)")
    model = m.groupdict().get("model") or m.group(1)
    return np.full(len(raw), model, dtype=object)


def _duplicates(ids: pd.DataFrame, values: np.ndarray, keep: np.ndarray, path: Path, lines, *,
                policy: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(same, resolved, n_runs)``: rows repeating an earlier kept row's run with the same values (to
    ``DUPLICATE_RTOL``), rows dropped because they repeat a run with other values (``policy`` first, last or mean;
    ``error`` raises, since which one is right cannot be told), and how many runs had such conflicts. ``values``
    is updated in place for ``mean`` (the kept row holds the mean)."""
    same = np.zeros(len(ids), bool)
    resolved = np.zeros(len(ids), bool)
    n_runs = 0
    repeated = ids[keep].duplicated(ID_COLUMNS, keep=False).to_numpy()
    if not repeated.any():
        return same, resolved, 0
    idx = np.flatnonzero(keep)[repeated]
    for _, g in ids.iloc[idx].groupby(ID_COLUMNS, dropna=False, sort=False):
        rows = g.index.to_numpy()
        distinct = [rows[0]]
        for r in rows[1:]:
            if any(np.allclose(values[r], values[d], rtol=DUPLICATE_RTOL, atol=1e-12, equal_nan=True)
                   for d in distinct):
                same[r] = True
            else:
                distinct.append(r)
        if len(distinct) == 1:
            continue
        if policy == "error":
            key = ", ".join(f"{k.lstrip('_')}={v}" for k, v in g.iloc[0][ID_COLUMNS].items())
            raise MappingError(f"{path}: lines {lines[distinct[0]]} and {lines[distinct[1]]} are the same run "
                               f"({key}) with different values (set duplicates: first, last or mean)")
        n_runs += 1
        kept = distinct[-1] if policy == "last" else distinct[0]
        if policy == "mean":
            values[kept] = np.nanmean(values[distinct], axis=0)
        resolved[[d for d in distinct if d != kept]] = True
    return same, resolved, n_runs


def _records(mapping: ImportMapping, task_name: str, ids: pd.DataFrame, values: np.ndarray, model: np.ndarray,
             base_name: np.ndarray, file_name: str) -> pd.DataFrame:
    task = mapping.tasks[task_name]
    is_base = base_name != None  # noqa: E711
    family = np.array([("baseline:" + b) if b is not None else mapping.models[m].family
                       for m, b in zip(model, base_name)], dtype=object)
    size = np.array(["-" if b is not None else mapping.models[m].size for m, b in zip(model, base_name)], dtype=object)
    frac = ids["fraction"].to_numpy(float)
    n_cells = np.where(is_base, np.nan, np.round(frac * mapping.corpus_cells))
    head = pd.DataFrame({"study": mapping.study, "strategy": ids["strategy"].to_numpy(object), "fraction": frac,
                         "replicate": ids["replicate"].to_numpy(float), "n_cells": n_cells, "family": family,
                         "model_size": size, "task": task_name, "dataset": ids["dataset"].to_numpy(object),
                         "depth": np.where(is_base | (ids["strategy"].to_numpy() == "control"), np.nan, 1.0),
                         "spec_hash": mapping_hash(mapping), "cellplateau_version": _version(), "_file": file_name})
    roles = {b.name: b.role for b in mapping.baselines}
    head["baseline_role"] = np.array([roles.get(b) if b is not None else None for b in base_name], dtype=object)
    parts = []
    for j, col in enumerate(task.metrics):
        name = task.metric_name(col)
        part = head.assign(metric=name, value=values[:, j], higher_is_better=task.metrics[col].higher_is_better,
                           headline=name == task.headline)
        parts.append(part[np.isfinite(values[:, j])])
    if not parts:
        return head.iloc[:0]
    return pd.concat(parts, ignore_index=True)


def _param_rows(mapping: ImportMapping, long: pd.DataFrame) -> pd.DataFrame:
    """A ``pretraining`` / ``n_params`` record per trained model (and control) of every model with a known size."""
    sized = {(e.family, e.size): e.n_params for e in mapping.models.values() if e.n_params is not None}
    if not sized or long.empty:
        return long.iloc[:0]
    models = long[long["strategy"] != "baseline"]
    models = models[[(f, s) in sized for f, s in zip(models["family"], models["model_size"])]]
    keys = ["study", "strategy", "fraction", "replicate", "n_cells", "family", "model_size", "depth", "spec_hash",
            "cellplateau_version"]
    runs = models.drop_duplicates(keys)[keys + ["_file"]]
    return runs.assign(task="pretraining", dataset="corpus", metric="n_params", higher_is_better=pd.NA,
                       value=[sized[(f, s)] for f, s in zip(runs["family"], runs["model_size"])])


def _model_name(family, size) -> str:
    return str(family) if str(size) in ("-", "custom") else f"{family}-{size}"


def _check_across_files(long: pd.DataFrame) -> None:
    """Two files giving the same record (same task, dataset, model, strategy, fraction, seed and metric)."""
    keys = ["task", "dataset", "family", "model_size", "strategy", "fraction", "replicate", "metric"]
    ev = long[~((long["task"] == "pretraining") & (long["metric"] == "n_params"))]
    dup = ev[ev.duplicated(keys, keep=False)]
    if dup.empty:
        return
    g = next(iter(dup.groupby(keys, dropna=False, sort=False)))[1]
    r = g.iloc[0]
    files = " and ".join(sorted(set(g["_file"])))
    raise MappingError(f"{files} give the same records ({r['task']} / {r['dataset']} / "
                       f"{_model_name(r['family'], r['model_size'])} / {r['strategy']} at fraction {r['fraction']:g}, "
                       f"seed {r['replicate']:g}): map them to different models or tasks")


def _check_curves(long: pd.DataFrame) -> None:
    """Every curve (task, dataset, model, strategy) of pretrained models has at least two sizes."""
    m = long[~long["strategy"].isin(["control", "baseline"]) & ~(long["metric"] == "n_params")]
    if m.empty:
        return
    keys = ["task", "dataset", "family", "model_size", "strategy"]
    sizes = m.groupby(keys, sort=True)["fraction"].nunique()
    single = sizes[sizes < 2]
    if single.empty:
        return
    task, dataset, family, size, strategy = single.index[0]
    g = m[(m["task"] == task) & (m["dataset"] == dataset) & (m["family"] == family) & (m["model_size"] == size)
          & (m["strategy"] == strategy)]
    raise MappingError(f"curve {task} / {dataset} / {_model_name(family, size)} / {strategy} has a single size "
                       f"({g['fraction'].iloc[0]:g} of the corpus, {g['_file'].iloc[0]}): a scaling curve needs at "
                       "least two; leave the strategy out (strategy.drop) or add sizes"
                       + (f" ({len(single) - 1} more such curves)" if len(single) > 1 else ""))


def mapping_hash(mapping: ImportMapping) -> str:
    return stable_hash(mapping.model_dump(mode="json", exclude={"root"}))


def _version() -> str:
    from cellplateau import __version__

    return __version__


def to_parquet_bytes(table: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    return buf.getvalue()


def write_results(table: pd.DataFrame, path: Path) -> Path:
    """Write the results table atomically as Parquet."""
    from cellplateau._io import atomic_write_bytes

    atomic_write_bytes(path, to_parquet_bytes(table))
    return path
