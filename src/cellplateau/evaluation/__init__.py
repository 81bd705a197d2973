"""Evaluation stage: datasets mapped onto the corpus vocabulary, tasks, and their registry."""

from cellplateau.evaluation.base import Task
from cellplateau.evaluation.knn_classification import TASK as _knn

TASKS: dict[str, Task] = {t.name: t for t in (_knn,)}

__all__ = ["TASKS", "Task"]
