"""k-center (greedy farthest-point) selection on the sketch embedding.

Each new cell is the one farthest from every cell chosen so far, so the subset covers the corpus's PC space
with the smallest radius greedy search can guarantee: within twice the best possible Hausdorff distance from
the corpus to any subset of that size (Gonzalez 1985; Hopper, DeMeo & Berger 2020, uses the same rule for
sketching). Rare, isolated cell states are taken first. The first cell is drawn with the seeded ``rng``.
Compiled kernel with triangle-inequality pruning: :mod:`cellplateau.selection._kcenter_kernels`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.selection.base import SelectionContext, Strategy, check_size


class KCenterConfig(BaseModel):
    """Greedy farthest-point (k-center) coverage of the PCs of log-normalised HVGs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["kcenter"] = "kcenter"
    n_pcs: int = Field(50, ge=2, le=200, description="principal components the coverage is measured in")
    n_hvg: int = Field(2000, ge=10, description="highly variable genes the PCs are computed on")
    pca_sample: int = Field(50_000, ge=100, description="random cells the HVGs and PCs are fitted on")


def select_kcenter(embedding: np.ndarray, n: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sorted indices by greedy farthest-point sampling on ``embedding`` (cells x dims), and the
    covering radius (max distance from any cell to its nearest chosen cell) after each pick, in pick order.

    If fewer than ``n`` distinct points exist, the rest are drawn uniformly from the cells not chosen."""
    from cellplateau.selection._kcenter_kernels import farthest_point

    N = embedding.shape[0]
    check_size(n, N)
    if n == N:
        return np.arange(N, dtype=np.int64), np.zeros(N)
    X = np.ascontiguousarray(embedding, dtype=np.float32)
    centers, cover = farthest_point(X, n, int(rng.integers(N)))
    if len(centers) < n:        # every cell coincides with a centre: fill up uniformly
        rest = np.setdiff1d(np.arange(N), centers)
        centers = np.concatenate([centers, rng.choice(rest, n - len(centers), replace=False)])
        cover = np.concatenate([cover, np.zeros(n - len(cover))])
    return np.sort(centers).astype(np.int64), cover


def _select(ctx: SelectionContext, n: int, config: KCenterConfig, rng: np.random.Generator) -> np.ndarray:
    if ctx.embedding is None:
        raise ValueError("kcenter needs the corpus PC embedding")
    return select_kcenter(ctx.embedding, n, rng=rng)[0]


STRATEGY = Strategy("kcenter", KCenterConfig, _select, needs_embedding=True)
