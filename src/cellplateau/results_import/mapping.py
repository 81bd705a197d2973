"""The mapping spec of ``cellplateau import-results``: how an external per-seed results table (CSV or Parquet)
becomes cellplateau's long-format results table.

A small YAML names the files (globs relative to ``root``), where each identifying field lives (model, strategy,
fraction or percentage, seed, dataset), which task each file holds with its metrics and their directions, which
rows are untrained controls and which are baselines, and the corpus size that turns fractions into cell counts.
Optional: the ``analysis`` settings (saturation rule, threshold) and the source paper's own ``statements``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class MappingError(ValueError):
    """A mapping, or a table it reads, is invalid; the message is one line naming the file, column or key."""


class ModelEntry(BaseModel):
    """One model of the source study."""

    model_config = _FROZEN
    family: str = Field(description="family name in the results (e.g. scVI); models of one family and several "
                                    "sizes are capacity variants")
    size: str = Field("-", description="size label within the family (e.g. 0.5x, 2x); '-' = no size")
    n_params: float | None = Field(None, gt=0, description="parameter count, when known (a pretraining row)")


class ModelSource(BaseModel):
    """Where a row's model name comes from: a column, or a regular expression on the file name."""

    model_config = _FROZEN
    column: str | None = Field(None, description="column holding the model name")
    pattern: str | None = Field(None, description="regex searched in the file name; its group 'model' (or its "
                                                  "first group) is the model name")
    skip: tuple[str, ...] = Field((), description="model names (shell globs, e.g. old_*) whose rows are left out")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.column is None) == (self.pattern is None):
            raise ValueError("give exactly one of column or pattern")
        if self.pattern is not None:
            try:
                rx = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression ({exc})") from None
            if rx.groups == 0:
                raise ValueError(f"pattern {self.pattern!r} has no group: mark the model name with (?P<model>...)")
        return self


class ColumnRule(BaseModel):
    """A column, with value renames and values whose rows are dropped."""

    model_config = _FROZEN
    column: str = Field(description="column name in the tables")
    rename: dict[str, str] = Field({}, description="source value -> value in the results")
    drop: tuple[str, ...] = Field((), description="source values whose rows are left out")


class FractionRule(BaseModel):
    """The subset size: a share of the corpus, as a fraction (0-1) or a percentage (0-100)."""

    model_config = _FROZEN
    column: str = Field(description="column with the subset size")
    unit: Literal["fraction", "percentage"] = Field(description="fraction (0-1) or percentage (0-100)")

    @property
    def scale(self) -> float:
        return 100.0 if self.unit == "percentage" else 1.0


class RowMatch(BaseModel):
    """Rows whose ``column`` holds one of ``values`` (numbers compare as numbers: 0 matches 0.0)."""

    model_config = _FROZEN
    column: str
    values: tuple[str | float, ...] = Field(min_length=1)


class Metric(BaseModel):
    """An imported metric column. Every metric declares its direction."""

    model_config = _FROZEN
    higher_is_better: bool = Field(description="true when a larger value is better")
    name: str | None = Field(None, description="metric name in the results (default: the column name)")


class TaskRule(BaseModel):
    """The files of one task, its metrics and its headline metric."""

    model_config = _FROZEN
    files: tuple[str, ...] = Field(min_length=1, description="file-name globs (relative to root) of this task")
    headline: str = Field(description="the metric (its name in the results) the task's curves use")
    metrics: dict[str, Metric | None] = Field(min_length=1, description="column -> its metric")

    @field_validator("files", mode="before")
    @classmethod
    def _one_glob(cls, v):
        return (v,) if isinstance(v, str) else v

    def metric_name(self, column: str) -> str:
        m = self.metrics[column]
        return (m.name if m is not None else None) or column


class Baseline(BaseModel):
    """Model-free reference scores: whole files, or rows of any file."""

    model_config = _FROZEN
    name: str = Field(description="baseline name; its family in the results is baseline:<name>")
    files: tuple[str, ...] = Field((), description="file-name globs whose every row is this baseline")
    rows: RowMatch | None = Field(None, description="rows of any file that are this baseline")
    role: Literal["floor", "ceiling", "replicate"] | None = Field(
        None, description="its part in the value verdict: floor (replaces the untrained control, e.g. a no-change "
        "predictor), ceiling (an in-dataset baseline fitted on the evaluation data), replicate (a ceiling that is "
        "the data's own reproducibility); none: only compared")

    @field_validator("files", mode="before")
    @classmethod
    def _one_glob(cls, v):
        return (v,) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _some(self):
        if not self.files and self.rows is None:
            raise ValueError("give files or rows")
        return self


class AnalysisBlock(BaseModel):
    """How the report judges the imported curves (mirrors the study spec's ``analysis``)."""

    model_config = _FROZEN
    saturation_rule: Literal["seed_mean", "any_seed", "fitted"] = "seed_mean"
    threshold: float = Field(0.95, gt=0, le=1)


class Statement(BaseModel):
    """One of the source paper's claims, with a form the imported numbers can check."""

    model_config = _FROZEN
    task: str
    text: str
    datasets: tuple[str, ...] = Field((), description="only these datasets (default: all of the task)")
    strategies: tuple[str, ...] = Field((), description="only these strategies (default: all)")
    saturation_at_most: float | None = Field(None, gt=0, le=1, description="every curve of the task saturates at "
                                                                           "or below this fraction of the corpus")
    baseline_beats_pretrained: bool | None = Field(None, description="the best in-dataset baseline beats (true) "
                                                                     "or does not beat (false) every pretrained model")

    @model_validator(mode="after")
    def _checkable(self):
        if (self.saturation_at_most is None) == (self.baseline_beats_pretrained is None):
            raise ValueError("give exactly one checkable form: saturation_at_most or baseline_beats_pretrained")
        return self


class ImportMapping(BaseModel):
    """How external per-seed result tables map onto cellplateau's results table."""

    model_config = _FROZEN
    study: str = Field(description="the results' study name")
    root: Path = Field(Path("."), description="folder the file globs are relative to (relative to the mapping)")
    skip: tuple[str, ...] = Field((), description="file-name globs never read (e.g. old_*, timing_*)")
    corpus_cells: int = Field(gt=0, description="cells in the full pretraining corpus: n_cells = fraction x this")
    model: ModelSource
    models: dict[str, ModelEntry] = Field(description="source model name -> family, size, n_params")
    strategy: ColumnRule
    fraction: FractionRule
    seed: str = Field(description="column with the seed (the replicate)")
    dataset: ColumnRule
    controls: RowMatch | None = Field(None, description="rows that are untrained controls (e.g. percentage 0)")
    baselines: tuple[Baseline, ...] = ()
    tasks: dict[str, TaskRule] = Field(min_length=1)
    duplicates: Literal["error", "first", "last", "mean"] = Field(
        "error", description="rows of one file repeating a run (model, strategy, size, seed, dataset) with other "
                             "values: an error, or keep the first, the last, or their mean (rows repeating a run "
                             "with the same values are always dropped)")
    analysis: AnalysisBlock = AnalysisBlock()
    statements: tuple[Statement, ...] = ()

    @model_validator(mode="after")
    def _consistent(self):
        for name, task in self.tasks.items():
            for column, metric in task.metrics.items():
                if metric is None:
                    raise ValueError(f"tasks.{name}.metrics.{column}: declares no direction (higher_is_better: "
                                     "true or false)")
            if task.headline not in {task.metric_name(c) for c in task.metrics}:
                raise ValueError(f"tasks.{name}.headline: {task.headline!r} is not one of its metrics")
        for st in self.statements:
            if st.task not in self.tasks:
                raise ValueError(f"statements: task {st.task!r} is not in tasks {sorted(self.tasks)}")
        return self

    def headlines(self) -> dict[str, str]:
        return {name: t.headline for name, t in self.tasks.items()}

    def task_of(self, file_name: str) -> list[str]:
        return [n for n, t in self.tasks.items() if any(fnmatch.fnmatchcase(file_name, g) for g in t.files)]

    def baseline_file(self, file_name: str) -> Baseline | None:
        for b in self.baselines:
            if any(fnmatch.fnmatchcase(file_name, g) for g in b.files):
                return b
        return None

    def skipped(self, file_name: str) -> bool:
        return any(fnmatch.fnmatchcase(file_name, g) for g in self.skip)


def _format(source: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing" and loc.endswith(".higher_is_better"):
            msg = "declares no direction (higher_is_better: true or false)"
        elif err["type"] == "missing":
            msg = "missing key"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"{source}: invalid mapping: " + "; ".join(parts)


def parse_mapping(data: object, *, source: str = "<mapping>", base: Path | None = None) -> ImportMapping:
    """Validate a mapping; a relative ``root`` is resolved against ``base`` (the mapping's folder)."""
    if not isinstance(data, dict):
        raise MappingError(f"{source}: invalid mapping: expected a YAML mapping of keys, got {type(data).__name__}")
    try:
        mapping = ImportMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_format(source, exc)) from None
    if base is not None and not mapping.root.is_absolute():
        mapping = mapping.model_copy(update={"root": Path(os.path.normpath(base / mapping.root))})
    return mapping


def load_mapping(path: str | os.PathLike) -> ImportMapping:
    """Read and validate a mapping YAML; its ``root`` is relative to the YAML's folder."""
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: mapping file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    return parse_mapping(data, source=str(path), base=path.resolve().parent)
