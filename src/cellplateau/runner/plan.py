"""Turn a spec into the units of work it implies, keyed by hashes of their inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cellplateau._hashing import derive_seed
from cellplateau.models import FAMILIES
from cellplateau.runner.context import StudyContext
from cellplateau.runner.units import ALL_CELLS, STAGES, Unit, unit_key
from cellplateau.selection import STRATEGIES
from cellplateau.spec import StudySpec, family_label, strategy_label


class PlanError(ValueError):
    """The spec cannot run on this corpus (found before any work starts)."""


@dataclass
class SubsetRef:
    """One point of a curve: (strategy, fraction, replicate) and the subset unit that holds it."""

    strategy: str
    fraction: float
    replicate: int
    subset_key: str


@dataclass
class Plan:
    units: dict[str, list[Unit]] = field(default_factory=lambda: {s: [] for s in STAGES})
    subset_refs: list[SubsetRef] = field(default_factory=list)
    # (subset_key, family label) -> model key; (family label, replicate) -> untrained control key
    models: dict[tuple[str, str], str] = field(default_factory=dict)
    controls: dict[tuple[str, int], str] = field(default_factory=dict)
    # (subset_key, family label, depth) -> model key, for the depths below 1.0 (``quality.depth``)
    thinned: dict[tuple[str, str, float], str] = field(default_factory=dict)
    diversity: dict[str, str] = field(default_factory=dict)     # subset key -> diversity unit key
    overlap: dict[str, dict] = field(default_factory=dict)       # dataset -> evaluation cells found in the corpus
    warnings: list[str] = field(default_factory=list)            # plan-time warnings for the user
    excluded_rows: np.ndarray | None = None                      # corpus rows that are evaluation cells (exclude)
    excluded_key: str | None = None

    def all_units(self) -> list[Unit]:
        return [u for s in STAGES for u in self.units[s]]

    def add(self, unit: Unit) -> None:
        bucket = self.units[unit.kind]
        if all(u.key != unit.key for u in bucket):
            bucket.append(unit)


def _file_signature(ds, *, allow_missing: bool = False) -> dict:
    """What identifies an evaluation dataset's file: its checksum when it has a download recipe, else its
    size and modification time (a replaced file invalidates its units)."""
    import os

    if ds.source is not None and ds.source.sha256:
        return {"sha256": ds.source.sha256}
    try:
        st = os.stat(ds.path)
    except FileNotFoundError:
        if allow_missing or ds.source is not None:      # downloaded by `fetch` / `run` before the work starts
            return {"missing": str(ds.path)}
        raise PlanError(f"evaluation dataset {ds.name!r}: file not found: {ds.path}") from None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def check_datasets(ctx: StudyContext) -> dict[str, float]:
    """Plan-time check of every evaluation dataset present on disk (columns, gene overlap without reading
    the matrix); ``{name: overlap}``. Datasets still to be downloaded are checked when they arrive."""
    from cellplateau.evaluation.datasets import DatasetError, inspect_dataset

    out: dict[str, float] = {}
    if ctx.corpus_planned:          # no vocabulary yet: datasets are checked once the corpus exists
        return out
    from cellplateau.evaluation import TASKS

    pairs = ctx.spec.evaluation.pairs()
    for ds in ctx.spec.evaluation.datasets:
        if ds.source is not None and not ds.path.exists():
            continue
        needs = tuple({c for d, t in pairs if d.name == ds.name for c in TASKS[t.name].requires})
        try:
            out[ds.name] = inspect_dataset(ds, ctx.store.var, min_overlap=ctx.spec.evaluation.min_gene_overlap,
                                           needs=needs).overlap
        except DatasetError as exc:
            raise PlanError(str(exc)) from None
    return out


def check_fractions(spec: StudySpec, n_cells: int) -> None:
    """Refuse a subset fraction that leaves fewer than 2 training cells after the validation split."""
    from cellplateau.selection.subset import n_validation, subset_size

    vf = spec.selection.val_fraction
    for f in spec.selection.fractions:
        n = subset_size(n_cells, f)
        n_train = n - n_validation(n, vf)
        if n_train < 2:
            raise PlanError(f"selection.fractions: {f:g} of the corpus's {n_cells:,} cells is {n} cells, leaving "
                            f"{n_train} training cells after the validation split (val_fraction {vf:g}); a model "
                            "needs at least 2: raise the fraction")


def _fmt_fraction(f: float) -> str:
    return f"{f:g}"


def build_plan(ctx: StudyContext) -> Plan:
    """Every unit the study needs, de-duplicated by key (a 100 % subset is shared by all strategies)."""
    spec: StudySpec = ctx.spec
    fp = ctx.store.fingerprint
    plan = Plan()
    for fam in spec.families:
        check = FAMILIES[fam.name].check
        if check is not None:
            try:
                if not ctx.corpus_planned:
                    check(fam, ctx.store)
            except ValueError as exc:
                raise PlanError(f"families[{family_label(fam)}]: {exc}") from None
    check_fractions(spec, ctx.store.n_cells)
    check_datasets(ctx)
    from cellplateau.runner.overlap import study_overlap

    signatures = {ds.name: _file_signature(ds, allow_missing=True) for ds in spec.evaluation.datasets}
    try:
        overlap = study_overlap(ctx, signatures)
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    plan.overlap, plan.warnings = overlap.per_dataset, list(overlap.warnings)
    plan.excluded_rows, plan.excluded_key = overlap.excluded, overlap.excluded_key
    exclude = ({"key": overlap.excluded_key, "n": overlap.n_excluded,
                "datasets": {n: r["n_cells"] for n, r in overlap.per_dataset.items()}}
               if overlap.excluded_key else None)
    sel = spec.selection
    embed_keys: dict[str, str] = {}
    for s in sel.strategies:
        if STRATEGIES[s.name].needs_embedding:
            params = {"n_pcs": s.n_pcs, "n_hvg": s.n_hvg, "pca_sample": s.pca_sample,
                      "seed": derive_seed(spec.seed, "sketch-embedding")}
            key = unit_key("sketch_embedding", fp, params)
            embed_keys[strategy_label(s)] = key
            plan.add(Unit("sketch_embedding", key, f"PC embedding ({s.n_pcs} PCs)", params))
    if sel.diversity and not embed_keys:
        params = {"n_pcs": 50, "n_hvg": 2000, "pca_sample": 50_000, "seed": derive_seed(spec.seed, "sketch-embedding")}
        key = unit_key("sketch_embedding", fp, params)
        plan.add(Unit("sketch_embedding", key, "PC embedding (50 PCs) for diversity", params))
    diversity_embedding = plan.units["sketch_embedding"][0].key if plan.units["sketch_embedding"] else None
    label_key = next((getattr(s, "label_key", None) for s in sel.strategies if hasattr(s, "label_key")), "cell_type")
    for s in sel.strategies:
        for f in sel.fractions:
            for r in range(sel.replicates):
                name = ALL_CELLS if f == 1.0 else s.name
                curve = strategy_label(s)
                config = {} if f == 1.0 else s.model_dump(mode="json")
                seed = derive_seed(spec.seed, "subset", name, f, r)
                params = {"strategy": name, "config": config, "fraction": f, "replicate": r, "seed": seed,
                          "split_seed": derive_seed(spec.seed, "split", name, f, r),
                          "val_fraction": sel.val_fraction, "label_key": label_key,
                          "embedding_key": embed_keys.get(curve) if f != 1.0 else None}
                if exclude:             # evaluation cells leave the pool (absent otherwise: keys unchanged)
                    params["exclude"] = exclude
                key = unit_key("subset", fp, params)
                deps = (params["embedding_key"],) if params["embedding_key"] else ()
                shown = ALL_CELLS if f == 1.0 else curve
                plan.add(Unit("subset", key, f"subset {shown} {_fmt_fraction(f)} r{r}", params, deps))
                plan.subset_refs.append(SubsetRef(curve, f, r, key))
                if sel.diversity:
                    dparams = {"subset_key": key, "embedding_key": diversity_embedding, "label_key": label_key,
                               "seed": derive_seed(spec.seed, "diversity", name, f, r),
                               "n_hausdorff": sel.hausdorff_sample}
                    dkey = unit_key("diversity", dparams)
                    plan.diversity[key] = dkey
                    plan.add(Unit("diversity", dkey, f"diversity {shown} {_fmt_fraction(f)} r{r}", dparams,
                                  (key, diversity_embedding)))
    for fam in spec.families:
        label = family_label(fam)
        has_control = FAMILIES[fam.name].model(fam).has_control()
        for r in range(sel.replicates if spec.controls and has_control else 0):
            params = {"family": fam.name, "config": fam.model_dump(mode="json"), "subset_key": None,
                      "control": True, "seed": derive_seed(spec.seed, "train", label, r)}
            key = unit_key("train", fp, params)
            plan.controls[(label, r)] = key
            plan.add(Unit("train", key, f"untrained {label} r{r}", params))
        for subset in plan.units["subset"]:
            r = subset.params["replicate"]
            params = {"family": fam.name, "config": fam.model_dump(mode="json"), "subset_key": subset.key,
                      "seed": derive_seed(spec.seed, "train", label, r)}
            key = unit_key("train", fp, params)
            plan.models[(subset.key, label)] = key
            plan.add(Unit("train", key, f"train {label} on {subset.label.removeprefix('subset ')}",
                          params, (subset.key,)))
            for depth in spec.quality.depth:
                if depth == 1.0:            # the corpus as measured: the unit above (keys unchanged)
                    continue
                dparams = {**params, "depth": depth,
                           "thin_seed": derive_seed(spec.seed, "thin", depth, r)}
                dkey = unit_key("train", fp, dparams)
                plan.thinned[(subset.key, label, depth)] = dkey
                plan.add(Unit("train", dkey, f"train {label} on {subset.label.removeprefix('subset ')} "
                              f"depth {depth:g}", dparams, (subset.key,)))
    for ds, task in spec.evaluation.pairs():
        eval_seed = derive_seed(spec.seed, "eval-split", ds.name)
        ds_params = {**ds.model_dump(mode="json"), "file": _file_signature(ds, allow_missing=ctx.corpus_planned),
                     "min_gene_overlap": spec.evaluation.min_gene_overlap}
        tparams = {"task": task.name, "config": task.model_dump(mode="json"), "dataset": ds.name,
                   "dataset_spec": ds_params, "seed": eval_seed}
        plan.add(Unit("baseline", unit_key("baseline", fp, tparams), f"baselines {task.name} {ds.name}",
                      tparams))
        for model in plan.units["train"]:
            params = {**tparams, "model_key": model.key}
            plan.add(Unit("evaluate", unit_key("evaluate", params), f"{task.name} {ds.name} <- {model.label}",
                          params, (model.key,)))
    return plan
