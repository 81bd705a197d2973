"""What every evaluation task provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from cellplateau.evaluation.datasets import EvalDataset


@dataclass(frozen=True)
class Task:
    """A registered task.

    ``evaluate(embedding, dataset, config, seed) -> {metric: value}`` scores one model's embedding
    (cells x dims, rows aligned with the dataset); ``baselines(dataset, config, seed) ->
    {baseline_name: {metric: value}}`` scores the model-free references on the same split.
    """

    name: str
    config: type[BaseModel]
    evaluate: Callable[[np.ndarray, EvalDataset, BaseModel, int], dict[str, float]]
    baselines: Callable[[EvalDataset, BaseModel, int], dict[str, dict[str, float]]]
