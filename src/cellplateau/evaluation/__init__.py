"""Evaluation stage: datasets mapped onto the corpus vocabulary, tasks, and their registry (plug-ins join it
through :mod:`cellplateau.registry`)."""

from collections.abc import Iterator, Mapping

from cellplateau.evaluation.base import Task
from cellplateau.evaluation.finetune import TASK as _finetune
from cellplateau.evaluation.integration import TASK as _integration
from cellplateau.evaluation.knn_classification import TASK as _knn
from cellplateau.evaluation.perturbation import TASK as _perturbation
from cellplateau.registry import Registry

TASKS: Registry = Registry("tasks", Task, (_knn, _integration, _finetune, _perturbation))


class _Headlines(Mapping):
    """``{task name: headline metric}``, read live from :data:`TASKS` (so plug-in tasks are included)."""

    def __getitem__(self, name: str) -> str:
        return TASKS[name].headline

    def __iter__(self) -> Iterator[str]:
        return iter(TASKS)

    def __len__(self) -> int:
        return len(TASKS)


HEADLINE: Mapping[str, str] = _Headlines()

__all__ = ["HEADLINE", "TASKS", "Task"]
