"""What every evaluation task provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from cellplateau.evaluation.datasets import EvalDataset

# dataset columns a task may need, and the spec key that provides each
COLUMN_KEYS = {"labels": "label_key", "batches": "batch_key", "perturbations": "perturbation_key",
               "contexts": "context_key"}


@dataclass(frozen=True)
class Task:
    """A registered task.

    ``evaluate(embedding, dataset, config, seed, model) -> {metric: value}`` scores one model
    (``embedding``: cells x dims, rows aligned with the dataset; ``model``: the loaded model, for tasks
    that fine-tune it); ``baselines(dataset, config, seed) -> {baseline_name: {metric: value}}`` scores
    the model-free references on the same splits. ``requires`` names the dataset columns the task
    needs (see ``COLUMN_KEYS``); ``headline`` is the metric the report's curves use, ``higher_is_better`` its
    direction and ``lower_is_better`` the other metrics that are better when lower. ``ceiling_baselines`` name
    the in-dataset baselines (fitted on the evaluation data) that anchor the value verdict's top, and
    ``floor_baselines`` those that replace the untrained control as its floor (perturbation: predicting no
    change or the mean change), ``replicate_baselines`` a ceiling that is the measurement's own reproducibility
    (perturbation: split-half replicates); see :mod:`cellplateau.analysis.value_verdict`.
    """

    name: str
    config: type[BaseModel]
    evaluate: Callable[..., dict[str, float]]
    baselines: Callable[[EvalDataset, Any, int], dict[str, dict[str, float]]]
    requires: tuple[str, ...] = ("labels",)
    headline: str = "micro_f1"
    higher_is_better: bool = True
    lower_is_better: tuple[str, ...] = ()
    ceiling_baselines: tuple[str, ...] = ()
    floor_baselines: tuple[str, ...] = ()
    replicate_baselines: tuple[str, ...] = ()

    def baseline_role(self, baseline: str) -> str | None:
        """``"ceiling"``, ``"floor"``, ``"replicate"`` (a ceiling that is the data's own reproducibility, not a
        predictor anyone could use) or None for a baseline this task scores."""
        for role, names in (("ceiling", self.ceiling_baselines), ("floor", self.floor_baselines),
                            ("replicate", self.replicate_baselines)):
            if baseline in names:
                return role
        return None

    def applies_to(self, dataset_spec) -> bool:
        """Whether a dataset entry of the spec names every column this task needs."""
        return all(getattr(dataset_spec, COLUMN_KEYS[c]) for c in self.requires)


def require(ds: EvalDataset, column: str, task: str) -> np.ndarray:
    values = getattr(ds, column)
    if values is None:
        raise ValueError(f"task {task!r} needs the {COLUMN_KEYS[column]} of dataset {ds.name!r}; the spec sets none")
    return values
