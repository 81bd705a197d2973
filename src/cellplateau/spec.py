"""The study spec: one YAML file, validated once at load, frozen afterwards.

Unknown keys, wrong types and impossible values fail at load with a message naming the key.
Field descriptions double as documentation (``cellplateau spec-schema``) and error text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from cellplateau._hashing import stable_hash
from cellplateau.analysis.settings import AnalysisSpec
from cellplateau.evaluation import TASKS
from cellplateau.evaluation.base import COLUMN_KEYS
from cellplateau.evaluation.datasets import DatasetSpec
from cellplateau.models import FAMILIES
from cellplateau.selection import STRATEGIES

_frozen = ConfigDict(extra="forbid", frozen=True)


def _distinct_shares(v: list[float], what: str) -> list[float]:
    """``v`` if every value is in (0, 1] and none repeats (``what``: the field's singular, for the message)."""
    bad = [x for x in v if not 0 < x <= 1]
    if bad:
        raise ValueError(f"every {what} must be in (0, 1]; got {bad}")
    if len(set(v)) != len(v):
        raise ValueError(f"{what}s must be distinct")
    return v


def _union(configs: list[type[BaseModel]]):
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[tuple(configs)], Field(discriminator="name")]  # noqa: UP007


# The unions of the registered configs; rebuilt by :func:`refresh_types` when a plug-in registers more.
StrategyConfig = _union([s.config for s in STRATEGIES.values()])
FamilyConfig = _union([f.config for f in FAMILIES.values()])
TaskConfig = _union([t.config for t in TASKS.values()])


class SimulateSpec(BaseModel):
    """Parameters of the synthetic atlas, written to ``corpus.path`` when it does not exist yet."""

    model_config = _frozen
    n_cells: int = Field(100_000, ge=100)
    n_genes: int = Field(2_000, ge=50)
    n_lineages: int = Field(6, ge=1)
    n_datasets: int = Field(12, ge=1)
    eval_cells: int = Field(2_500, ge=50)
    seed: int = 0
    planted_states: int = Field(0, ge=0, description="rare planted states whose weak program a model learns only "
                                "from planted_min_cells of their cells (0: none); adds the `planted` evaluation set "
                                "(labels planted_state and no_signal) and its answer, eval/planted.json")
    planted_cells: int = Field(600, ge=1, description="corpus cells of each planted state")
    planted_min_cells: int = Field(60, ge=1, description="cells of each planted state a subset must hold to learn "
                                   "it: the planted saturation fraction is planted_min_cells / planted_cells")
    planted_genes: int = Field(60, ge=1, description="genes in each planted state's program")

    @model_validator(mode="after")
    def _planted(self) -> SimulateSpec:
        from cellplateau.corpus.planted import check

        check(self)
        return self

    def atlas_params(self):
        """The :class:`~cellplateau.corpus.simulate.AtlasParams` of this spec."""
        from cellplateau.corpus.simulate import AtlasParams

        return AtlasParams(**self.model_dump())


class CorpusSpec(BaseModel):
    """Where the corpus store lives (and, for the synthetic atlas, how to make it)."""

    model_config = _frozen
    path: Path = Field(description="corpus store folder (built by `cellplateau simulate` or `ingest`)")
    simulate: SimulateSpec | None = Field(None, description="simulate the atlas here if the store is missing")
    expected_cells: int | None = Field(None, ge=1, description="cells of a corpus not built yet (`plan` counts "
                                       "and costs the study from it; `run` needs the store)")
    expected_genes: int | None = Field(None, ge=1, description="genes of a corpus not built yet")

    @model_validator(mode="after")
    def _expected_pair(self) -> CorpusSpec:
        if (self.expected_cells is None) != (self.expected_genes is None):
            raise ValueError("give expected_cells and expected_genes together")
        return self


class AdaptiveSpec(BaseModel):
    """Adaptive selection: smallest fractions first, larger ones only for curves whose answer is not known yet."""

    model_config = _frozen
    confidence: float = Field(0.95, gt=0, lt=1, description="level of the bootstrap interval of each curve's "
                              "saturation point; a curve is resolved when the interval ends below the largest "
                              "fraction run and scaling is told apart from the no-scaling null")
    initial_fractions: int = Field(3, ge=3, description="smallest fractions run in the first round (a fit needs 3)")
    n_boot: int = Field(1000, ge=50, description="bootstrap resamples per curve and round")


class SelectionSpec(BaseModel):
    """Which subsets to draw."""

    model_config = _frozen
    strategies: list[StrategyConfig] = Field(min_length=1, description="selection strategies (at least one)")
    fractions: list[float] = Field(min_length=1, description="subset sizes as fractions of the corpus, in (0, 1]")
    replicates: int = Field(3, ge=1, description="seeds per (strategy, fraction); the analysis needs 3 for a "
                            "verdict that is not low-confidence")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="validation share inside each subset")
    diversity: bool = Field(True, description="measure every subset's diversity (entropy, coverage, Vendi, Gini, "
                            "Hausdorff)")
    adaptive: AdaptiveSpec | None = Field(None, description="run the smallest fractions first and larger ones only "
                                          "for unresolved curves (e.g. {confidence: 0.95})")
    hausdorff_sample: int = Field(1000, ge=0, description="corpus cells (seeded sample) the Hausdorff distance from "
                                  "the corpus to each subset is estimated on (0: not measured)")

    @field_validator("fractions")
    @classmethod
    def _fractions_in_range(cls, v: list[float]) -> list[float]:
        return sorted(_distinct_shares(v, "fraction"))

    @field_validator("strategies")
    @classmethod
    def _distinct(cls, v: list) -> list:
        names = [strategy_label(s) for s in v]
        if len(set(names)) != len(names):
            raise ValueError(f"strategies must be distinct; got {names} (give repeated strategies a `label`)")
        return v


class QualitySpec(BaseModel):
    """Measurement quality as a study axis: pretraining corpora at reduced sequencing depth."""

    model_config = _frozen
    depth: list[float] = Field(default_factory=lambda: [1.0], min_length=1, description="shares of each cell's "
                               "UMIs kept by seeded binomial thinning (1.0 = the corpus as measured; must be "
                               "listed), crossed with every subset and family")

    @field_validator("depth")
    @classmethod
    def _depths(cls, v: list[float]) -> list[float]:
        _distinct_shares(v, "depth")
        if 1.0 not in v:
            raise ValueError("depth must include 1.0 (the corpus as measured: the reference of the depth law)")
        return sorted(v, reverse=True)


class EvaluationSpec(BaseModel):
    """Evaluation datasets (a registry of local or downloadable .h5ad files) and the tasks run on them."""

    model_config = _frozen
    datasets: list[DatasetSpec] = Field(min_length=1)
    tasks: list[TaskConfig] = Field(min_length=1)
    min_gene_overlap: float = Field(0.5, ge=0, le=1, description="refuse a dataset that covers less than this "
                                    "share of the corpus vocabulary (per-dataset min_gene_overlap overrides)")
    on_overlap: Literal["exclude", "error", "warn"] = Field(
        "exclude", description="evaluation cells that are also corpus cells (same raw counts on the shared genes, "
        "or the same dataset_id + soma_joinid): exclude = removed from the corpus pool before selection (recorded "
        "in every subset manifest), error = refuse the plan, warn = keep them and say so")

    @model_validator(mode="after")
    def _pairs(self) -> EvaluationSpec:
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must be distinct; got {names}")
        tasks = {t.name for t in self.tasks}
        for d in self.datasets:
            for t in d.tasks or []:
                if t not in tasks:
                    raise ValueError(f"dataset {d.name!r} lists task {t!r}, which is not in evaluation.tasks "
                                     f"{sorted(tasks)}")
                missing = [COLUMN_KEYS[c] for c in TASKS[t].requires if not getattr(d, COLUMN_KEYS[c])]
                if missing:
                    raise ValueError(f"dataset {d.name!r}: task {t!r} needs {missing} set")
        return self

    def pairs(self) -> list[tuple[DatasetSpec, BaseModel]]:
        """(dataset, task) pairs to evaluate: the tasks a dataset lists, or every task it has columns for."""
        return [(d, t) for d in self.datasets for t in self.tasks
                if (t.name in d.tasks if d.tasks is not None else TASKS[t.name].applies_to(d))]


STAGE_NAMES = ("sketch_embedding", "subset", "diversity", "train", "baseline", "evaluate")


class Resources(BaseModel):
    """What one unit of work asks of a cluster (a Ray task's request, a SLURM array task's allocation)."""

    model_config = _frozen
    cpus: int = Field(1, ge=1, description="CPU cores per unit")
    gpus: float = Field(0, ge=0, description="GPUs per unit (Ray accepts fractions; SLURM rounds up)")
    memory_gb: float | None = Field(None, gt=0, description="memory per unit in GiB (default: no request)")
    time_min: int = Field(60, ge=1, description="SLURM time limit per unit, minutes")


class RaySpec(BaseModel):
    """Where the Ray executor runs."""

    model_config = _frozen
    address: str | None = Field(None, description="existing cluster ('auto' or host:port); none: start a local one")


class SlurmSpec(BaseModel):
    """How the SLURM executor submits (through submitit: one job array per stage)."""

    model_config = _frozen
    partition: str | None = Field(None, description="SLURM partition (default: the cluster's default)")
    folder: Path | None = Field(None, description="submitit logs and pickles (default: OUTPUT_DIR/slurm)")
    array_parallelism: int = Field(256, ge=1, description="array tasks running at once")
    poll_s: float = Field(2.0, gt=0, description="seconds between job-state checks")


class ExecutionSpec(BaseModel):
    """How units of work are executed."""

    model_config = _frozen
    executor: Literal["local", "ray", "slurm"] = Field("local", description="local process pool, Ray or SLURM")
    workers: int | Literal["auto"] = Field(1, description="parallel local processes ('auto': one per core)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="training device")
    threads: int | None = Field(None, ge=1, description="torch threads per worker (default: cores / workers)")
    max_retries: int = Field(2, ge=0, description="retries of a failed unit before it is recorded as failed")
    lease_s: float = Field(120.0, gt=0, description="a claim whose heartbeat is older than this is taken over")
    resources: dict[str, Resources] = Field(default_factory=dict, description="per stage (or 'default') requests")
    ray: RaySpec = RaySpec()
    slurm: SlurmSpec = SlurmSpec()

    @field_validator("workers")
    @classmethod
    def _workers(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError("workers must be >= 1 or 'auto'")
        return v

    @field_validator("resources")
    @classmethod
    def _stages(cls, v: dict) -> dict:
        bad = sorted(set(v) - {"default", *STAGE_NAMES})
        if bad:
            raise ValueError(f"unknown stage(s) {bad}; expected 'default' or one of {list(STAGE_NAMES)}")
        return v

    def n_workers(self) -> int:
        return (os.cpu_count() or 1) if self.workers == "auto" else self.workers

    def resources_for(self, stage: str) -> Resources:
        return self.resources.get(stage) or self.resources.get("default") or Resources()


class StudySpec(BaseModel):
    """A whole scaling / diversity study."""

    model_config = _frozen
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="study name")
    plugins: list[str] = Field(default_factory=list, description="modules that register families, strategies or "
                               "tasks (dotted names, or .py files relative to the spec); every worker imports "
                               "them, and the installed entry points, before the spec is validated")
    seed: int = Field(0, description="root seed; every random choice derives from it")
    output_dir: Path = Field(description="where artifacts, results and the report go")
    corpus: CorpusSpec
    selection: SelectionSpec
    families: list[FamilyConfig] = Field(min_length=1, description="model families to pretrain")
    evaluation: EvaluationSpec
    execution: ExecutionSpec = ExecutionSpec()
    quality: QualitySpec = Field(QualitySpec(), description="sequencing-depth axis (binomial thinning on read)")
    analysis: AnalysisSpec = Field(AnalysisSpec(), description="how curves are read: the saturation rule "
                                   "(seed_mean | any_seed | fitted), its threshold, headline metrics per task")

    controls: bool = Field(True, description="also evaluate every family untrained (the 'fraction 0' floor)")
    _spec_file: Path | None = PrivateAttr(None)     # the YAML whose lock file holds the datasets' checksums

    @property
    def lock_file(self) -> Path | None:
        """``SPEC.lock`` beside the spec file (for a spec that ``extends`` another, the lock of the spec it starts
        from: they share the evaluation files): checksums of the evaluation datasets (None for an in-memory spec)."""
        from cellplateau.evaluation.lockfile import lock_path

        return None if self._spec_file is None else lock_path(self._spec_file)

    @model_validator(mode="after")
    def _distinct_families(self) -> StudySpec:
        labels = [family_label(f) for f in self.families]
        if len(set(labels)) != len(labels):
            raise ValueError(f"families must be distinct by (name, size); got {labels}; give repeated families "
                             "different `size` presets")
        return self

    @model_validator(mode="after")
    def _every_task_used(self) -> StudySpec:
        used = {t.name for _, t in self.evaluation.pairs()}
        unused = [t.name for t in self.evaluation.tasks if t.name not in used]
        if unused:
            raise ValueError(f"evaluation.tasks {unused} apply to no dataset: give a dataset the columns they need "
                             "(label_key, batch_key, perturbation_key + context_key)")
        return self

    def spec_hash(self) -> str:
        return stable_hash(self.model_dump(mode="json"))


def strategy_label(config: BaseModel) -> str:
    """The curve a strategy configuration draws in plans and results: its ``label`` when it has one (a strategy
    listed twice with different settings, e.g. spike-in shares), else its name."""
    return getattr(config, "label", None) or config.name


def family_label(config: BaseModel) -> str:
    """``name`` or ``name-size``: how a family configuration is named in plans and results."""
    from cellplateau.models.base import family_name

    size = getattr(config, "size", None)
    return f"{family_name(config)}-{size}" if size else family_name(config)


class SpecError(ValueError):
    """A study spec is invalid; the message names the file and each offending key."""


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid study spec"]
    tags = _tags()
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in tags))
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            ctx = err.get("ctx", {})
            msg = f"unknown name {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {loc or '<root>'}: {msg}")
    return "\n".join(lines)


def _tags() -> set[str]:
    return set(STRATEGIES) | set(FAMILIES) | set(TASKS)


_types_generation = 0


def refresh_types() -> None:
    """Rebuild the spec's family, strategy and task unions from the registries (after plug-ins joined)."""
    global _types_generation, StrategyConfig, FamilyConfig, TaskConfig
    from cellplateau import registry

    if registry.generation() == _types_generation:
        return
    StrategyConfig = _union([s.config for s in STRATEGIES.values()])
    FamilyConfig = _union([f.config for f in FAMILIES.values()])
    TaskConfig = _union([t.config for t in TASKS.values()])
    SelectionSpec.model_fields["strategies"].annotation = list[StrategyConfig]
    EvaluationSpec.model_fields["tasks"].annotation = list[TaskConfig]
    StudySpec.model_fields["families"].annotation = list[FamilyConfig]
    for model in (SelectionSpec, EvaluationSpec, StudySpec):
        model.model_rebuild(force=True)
    _types_generation = registry.generation()


def load_spec_plugins(data: dict, *, source: str = "<spec>") -> None:
    """Import the entry-point plug-ins and the spec's ``plugins`` list, then rebuild the spec's unions."""
    from cellplateau.registry import PluginError, load_plugins

    plugins = data.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise SpecError(f"{source}: invalid study spec\n  plugins: expected a list of module names or .py files, "
                        f"got {plugins!r}")
    try:
        load_plugins(plugins)
    except PluginError as exc:
        raise SpecError(f"{source}: {exc}") from None
    refresh_types()


def _resolve_config_paths(entry, registry: dict, fix) -> object:
    """Make the ``Path`` fields of a family config entry relative to the spec (e.g. a command's ``cwd``)."""
    if not isinstance(entry, dict) or entry.get("name") not in registry:
        return entry
    fields = registry[entry["name"]].config.model_fields
    out = dict(entry)
    for key, value in entry.items():
        ann = fields[key].annotation if key in fields else None
        if isinstance(value, str) and ann in (Path, Path | None):
            out[key] = fix(value)
    if "cwd" in fields and fields["cwd"].annotation is Path and "cwd" not in entry:
        out["cwd"] = fix(".")
    return out


def resolve_paths(data: dict, base: Path) -> dict:
    """Make relative paths in a raw spec relative to the spec file's folder."""
    def fix(p):
        return str(p) if os.path.isabs(str(p)) else os.path.normpath(str(base / str(p)))
    data = dict(data)
    if isinstance(data.get("plugins"), list):
        data["plugins"] = [fix(p) if isinstance(p, str) and p.endswith(".py") else p for p in data["plugins"]]
    if isinstance(data.get("output_dir"), str):
        data["output_dir"] = fix(data["output_dir"])
    corpus = data.get("corpus")
    if isinstance(corpus, dict) and isinstance(corpus.get("path"), str):
        data["corpus"] = {**corpus, "path": fix(corpus["path"])}
    if isinstance(data.get("families"), list):
        data["families"] = [_resolve_config_paths(f, FAMILIES, fix) for f in data["families"]]
    ev = data.get("evaluation")
    if isinstance(ev, dict) and isinstance(ev.get("datasets"), list):
        data["evaluation"] = {**ev, "datasets": [
            {**d, "path": fix(d["path"])} if isinstance(d, dict) and isinstance(d.get("path"), str) else d
            for d in ev["datasets"]]}
    return data


def parse_spec(data: dict, *, source: str = "<spec>", base: Path | None = None) -> StudySpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a study spec must be a mapping, got {type(data).__name__}")
    if base is not None:        # plug-in files first (relative to the spec), then the plug-ins' own path fields
        data = resolve_paths(data, base)
    load_spec_plugins(data, source=source)
    if base is not None:
        data = resolve_paths(data, base)
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(source, exc)) from None


def spec_from_json(spec_json: str) -> StudySpec:
    """A resolved spec as the runner ships it to a worker, with its plug-ins imported first."""
    import json

    return parse_spec(json.loads(spec_json), source="resolved spec")


def _merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``: mappings merge key by key, anything else (lists included) is replaced."""
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _root_spec(path: Path) -> Path:
    """The spec at the start of an ``extends`` chain (the file itself when it extends nothing)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return path
    if isinstance(data, dict) and "extends" in data:
        parent = Path(os.path.normpath(path.parent / str(data["extends"])))
        return path if parent.resolve() == path.resolve() else _root_spec(parent)
    return path


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A spec file's mapping with its relative paths resolved, on top of the spec it ``extends`` (if any)."""
    if not path.exists():
        raise SpecError(f"{path}: spec file not found" + (f" (extended by {chain[-1]})" if chain else ""))
    if path.is_dir():
        raise SpecError(f"{path}: is a folder; expected a study spec file (YAML)")
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "extends" not in data:
        return resolve_paths(data, path.resolve().parent) if isinstance(data, dict) else data
    data = dict(data)
    parent = (path.resolve().parent / str(data.pop("extends"))).resolve()
    if parent in chain or parent == path.resolve():
        raise SpecError(f"{path}: `extends` forms a cycle through {parent}")
    return _merge(_read_yaml(parent, (*chain, path.resolve())), resolve_paths(data, path.resolve().parent))


def load_spec(path: str | os.PathLike) -> StudySpec:
    """Load and validate a YAML study spec; relative paths are relative to the spec file. ``extends: OTHER.yaml``
    starts from another spec (its paths relative to it) and overrides what this file sets: mappings merge key by
    key, lists and values are replaced."""
    path = Path(path)
    data = _read_yaml(path)
    spec = parse_spec(data, source=str(path))
    spec._spec_file = _root_spec(path)
    return spec
