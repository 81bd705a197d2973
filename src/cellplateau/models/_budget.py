"""Training budget policies, named in the spec and recorded with every model.

- ``fixed_steps``: the same number of optimizer steps at every subset size (holds compute constant);
- ``fixed_epochs``: a number of passes over the subset's training cells (steps grow with size; holds passes
  constant). It means epochs: no step cap applies unless the spec sets ``max_steps``, and a cap that binds is
  a plan-time warning naming the family and the fractions;
- ``early_stopping``: stop when the validation loss has not improved for ``patience`` evaluations, at most
  ``max_steps`` steps (default 2,000; trains until converged, or to the cap).

Every policy evaluates the validation loss every ``eval_every`` steps and records the trajectory; a model
counts as converged by :func:`cellplateau.models._validation.is_converged` with ``converge_tol`` and
``converge_window``.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EARLY_STOPPING_CAP = 2000     # max_steps of an early-stopping budget that does not set one

HOLDS_CONSTANT = {
    "fixed_steps": "compute: the same optimizer steps at every size",
    "fixed_epochs": "passes: the same epochs over the training cells at every size",
    "early_stopping": "convergence: trained until the validation loss stops improving (or the step cap)",
    "untrained": "nothing: random initialisation",
    "closed_form": "exact solution: no training budget",
}


class Budget(BaseModel):
    """How long a family trains."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    policy: Literal["fixed_steps", "fixed_epochs", "early_stopping"] = Field(
        "fixed_steps", description="fixed_steps (compute constant across sizes) | fixed_epochs (passes constant) "
        "| early_stopping (until converged)")
    steps: int = Field(300, ge=1, description="optimizer steps (fixed_steps)")
    epochs: float = Field(5.0, gt=0, description="passes over the subset's training cells (fixed_epochs)")
    max_steps: int | None = Field(None, ge=1, description="step cap: early_stopping's limit (default 2000); for "
                                  "fixed_epochs/fixed_steps only when set, and a cap that binds is a plan-time "
                                  "warning")
    eval_every: int = Field(50, ge=1, description="steps between validation-loss evaluations (every policy records "
                            "the trajectory; early_stopping also stops on it)")
    patience: int = Field(4, ge=1, description="validation checks without improvement before stopping")
    converge_tol: float = Field(0.01, ge=0, description="a model counts as converged when the best validation loss "
                                "of its last converge_window evaluations improves on the best before them by less "
                                "than this share of its whole improvement since step 0")
    converge_window: int = Field(3, ge=1, description="evaluations the convergence rule looks back over")

    @model_validator(mode="before")
    @classmethod
    def _early_stopping_cap(cls, data):
        if isinstance(data, dict) and data.get("policy") == "early_stopping" and data.get("max_steps") is None:
            return {**data, "max_steps": EARLY_STOPPING_CAP}
        return data

    @property
    def holds_constant(self) -> str:
        """What this policy keeps the same across subset sizes, in words."""
        return HOLDS_CONSTANT[self.policy]


def uncapped_steps(budget: Budget, *, n_train: int, batch_size: int) -> int:
    """Optimizer steps the policy asks for before any step cap."""
    if budget.policy == "fixed_steps":
        return budget.steps
    if budget.policy == "fixed_epochs":
        return max(1, math.ceil(budget.epochs * n_train / batch_size))
    return budget.max_steps or EARLY_STOPPING_CAP


def planned_steps(budget: Budget, *, n_train: int, batch_size: int) -> int:
    """Upper bound on optimizer steps for this budget and training-set size (the cap applied)."""
    steps = uncapped_steps(budget, n_train=n_train, batch_size=batch_size)
    return min(steps, budget.max_steps) if budget.max_steps is not None else steps


def cap_binds(budget: Budget, *, n_train: int, batch_size: int) -> bool:
    """True when an explicit ``max_steps`` shortens a fixed_steps or fixed_epochs budget (early stopping's cap
    is part of its policy)."""
    return (budget.policy != "early_stopping" and budget.max_steps is not None
            and uncapped_steps(budget, n_train=n_train, batch_size=batch_size) > budget.max_steps)
