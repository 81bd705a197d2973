"""What every selection strategy provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel


@dataclass(frozen=True)
class SelectionContext:
    """What a strategy may look at: the corpus metadata and, if it asks, a cell embedding."""

    obs: pd.DataFrame
    embedding: np.ndarray | None = None   # (n_cells, n_dims) float32, for geometry-aware strategies

    @property
    def n_cells(self) -> int:
        return len(self.obs)


@dataclass(frozen=True)
class Strategy:
    """A registered selection strategy.

    ``select(ctx, n, config, rng) -> np.ndarray`` returns ``n`` distinct sorted int64 row indices.
    ``pool_size(ctx, config)``, when given, is the number of cells a fraction refers to (default: every
    corpus cell); ``describe(ctx, indices, config)`` adds what the strategy did to the subset's manifest.
    """

    name: str
    config: type[BaseModel]
    select: Callable[[SelectionContext, int, BaseModel, np.random.Generator], np.ndarray]
    needs_embedding: bool = False
    pool_size: Callable[[SelectionContext, BaseModel], int] | None = None
    describe: Callable[[SelectionContext, np.ndarray, BaseModel], dict] | None = None


def check_size(n: int, n_cells: int) -> None:
    if not 0 < n <= n_cells:
        raise ValueError(f"subset size must be in [1, {n_cells}], got {n}")
