"""Training budget policies, named in the spec and recorded with every model.

- ``fixed_steps``: the same number of optimizer steps at every subset size;
- ``fixed_epochs``: a number of passes over the subset's training cells (steps grow with size);
- ``early_stopping``: stop when the validation loss has not improved for ``patience`` evaluations,
  at most ``max_steps`` steps.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Budget(BaseModel):
    """How long a family trains."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    policy: Literal["fixed_steps", "fixed_epochs", "early_stopping"] = Field(
        "fixed_steps", description="fixed_steps | fixed_epochs | early_stopping")
    steps: int = Field(300, ge=1, description="optimizer steps (fixed_steps)")
    epochs: float = Field(5.0, gt=0, description="passes over the training cells (fixed_epochs)")
    max_steps: int = Field(2000, ge=1, description="step cap (early_stopping and fixed_epochs)")
    eval_every: int = Field(50, ge=1, description="steps between validation checks (early_stopping)")
    patience: int = Field(4, ge=1, description="validation checks without improvement before stopping")


def planned_steps(budget: Budget, *, n_train: int, batch_size: int) -> int:
    """Upper bound on optimizer steps for this budget and training-set size."""
    if budget.policy == "fixed_steps":
        return budget.steps
    if budget.policy == "fixed_epochs":
        return max(1, min(budget.max_steps, math.ceil(budget.epochs * n_train / batch_size)))
    return budget.max_steps
