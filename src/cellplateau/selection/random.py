"""Uniform random selection without replacement."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from cellplateau.selection.base import SelectionContext, Strategy, check_size


class RandomConfig(BaseModel):
    """Uniform sampling without replacement."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["random"] = "random"


def select_random(n_cells: int, n: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct sorted indices drawn uniformly from ``range(n_cells)``. O(n_cells)."""
    check_size(n, n_cells)
    return np.sort(rng.choice(n_cells, size=n, replace=False)).astype(np.int64)


def _select(ctx: SelectionContext, n: int, config: RandomConfig, rng: np.random.Generator) -> np.ndarray:
    return select_random(ctx.n_cells, n, rng=rng)


STRATEGY = Strategy("random", RandomConfig, _select)
