"""``cellplateau export-subsets``: every subset of a study, written for a team that trains elsewhere.

One folder per subset, named ``{strategy}_{fraction}_r{replicate}`` (``strategy`` is ``all`` at fraction 1:
every strategy shares that subset), holding ``train_rows.txt`` / ``val_rows.txt`` (corpus row indices, one a
line), ``train_obs.tsv`` / ``val_obs.tsv`` (their corpus row and metadata), ``manifest.json`` (the subset's
manifest plus the corpus path) and, with ``h5ad``, ``train.h5ad`` / ``val.h5ad`` streamed from the store.
``subsets.tsv`` indexes them. An ``imported`` family with
``checkpoints: <folder>/{strategy}_{fraction}_r{replicate}`` maps the checkpoints trained on them back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cellplateau.spec import StudySpec


class ExportError(RuntimeError):
    """A subset could not be computed, so nothing is exported."""


def subset_folder_name(manifest: dict) -> str:
    return f"{manifest['strategy']}_{manifest['fraction']:g}_r{manifest['replicate']}"


def export_subsets(spec: StudySpec, *, out: Path | None = None, h5ad: bool = False, progress: bool = False,
                   log: Callable[[str], None] = print) -> list[Path]:
    """Compute the study's subsets (if not done yet) and write them under ``out``; returns the folders."""
    from cellplateau._io import atomic_dir, atomic_write_json, atomic_write_text
    from cellplateau.corpus.export import write_h5ad_rows, write_rows_file
    from cellplateau.runner.context import StudyContext
    from cellplateau.runner.execute import run_study
    from cellplateau.runner.plan import build_plan
    from cellplateau.selection.subset import load_subset

    summary = run_study(spec, progress=progress, log=log, stages=("sketch_embedding", "subset"))
    if summary.failed:
        label, error = next(iter(summary.failed.items()))
        raise ExportError(f"{label} failed: {error.strip().splitlines()[-1]}")
    ctx = StudyContext(spec)
    out = Path(out or Path(spec.output_dir) / "export" / "subsets")
    out.mkdir(parents=True, exist_ok=True)
    obs = ctx.store.obs
    folders, index = [], ["folder\tstrategy\tfraction\treplicate\tn_train\tn_val\tcontent_hash"]
    for unit in build_plan(ctx).units["subset"]:
        subset = load_subset(ctx.layout.subset(unit.key))
        m = subset.manifest
        folder = out / subset_folder_name(m)
        with atomic_dir(folder) as tmp:
            for part, rows in (("train", subset.train), ("val", subset.val)):
                write_rows_file(tmp / f"{part}_rows.txt", rows)
                obs.iloc[rows].set_axis(rows).rename_axis("corpus_row").to_csv(tmp / f"{part}_obs.tsv", sep="\t")
                if h5ad:
                    write_h5ad_rows(ctx.store, rows, tmp / f"{part}.h5ad")
            atomic_write_json(tmp / "manifest.json", {**m, "corpus": str(spec.corpus.path), "study": spec.name,
                                                      "subset_key": unit.key})
        folders.append(folder)
        index.append(f"{folder.name}\t{m['strategy']}\t{m['fraction']:g}\t{m['replicate']}\t{len(subset.train)}\t"
                     f"{len(subset.val)}\t{m['content_hash']}")
    atomic_write_text(out / "subsets.tsv", "\n".join(index) + "\n")
    return folders
