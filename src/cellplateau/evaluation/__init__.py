"""Evaluation stage: datasets mapped onto the corpus vocabulary, tasks, and their registry."""

from cellplateau.evaluation.base import Task
from cellplateau.evaluation.finetune import TASK as _finetune
from cellplateau.evaluation.integration import TASK as _integration
from cellplateau.evaluation.knn_classification import TASK as _knn
from cellplateau.evaluation.perturbation import TASK as _perturbation

TASKS: dict[str, Task] = {t.name: t for t in (_knn, _integration, _finetune, _perturbation)}
HEADLINE: dict[str, str] = {t.name: t.headline for t in TASKS.values()}

__all__ = ["HEADLINE", "TASKS", "Task"]
