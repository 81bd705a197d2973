"""Stratified selection: balanced over the groups of any obs column or combination of columns.

Groups are the distinct value combinations of ``by`` (e.g. ``[donor]`` for donor-level subsampling, or
``[dataset, tissue]``). Every group gets an equal quota by the same water-filling rule as cell-type
re-weighting: groups smaller than the quota are taken whole and the freed cells are shared among the rest,
so the subset has exactly ``n`` cells and is as even over the groups as their sizes allow. Within a group,
cells are drawn uniformly with the seeded ``rng``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.selection.base import SelectionContext, Strategy
from cellplateau.selection.celltype_reweighted import select_reweighted


class StratifiedConfig(BaseModel):
    """Equal shares of the groups of one obs column or a combination of columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["stratified"] = "stratified"
    by: list[str] = Field(default_factory=lambda: ["donor"], min_length=1,
                          description="obs columns whose value combinations are the strata (donor, dataset, "
                          "tissue, assay, ...)")


def group_codes(obs: pd.DataFrame, by: list[str]) -> np.ndarray:
    """One int code per cell for its combination of the ``by`` columns (O(N), on categorical codes)."""
    missing = [c for c in by if c not in obs.columns]
    if missing:
        raise ValueError(f"stratified: corpus obs has no column(s) {missing} (by); columns are {list(obs.columns)}")
    codes = np.zeros(len(obs), dtype=np.int64)
    for col in by:
        c = obs[col]
        if not isinstance(c.dtype, pd.CategoricalDtype):
            c = c.astype(str).astype("category")
        k = c.cat.codes.to_numpy().astype(np.int64) + 1          # -1 (missing) becomes its own group
        codes = codes * (len(c.cat.categories) + 1) + k
        codes = pd.factorize(codes, sort=True)[0].astype(np.int64)   # keep the combined codes small
    return codes


def select_stratified(obs: pd.DataFrame, n: int, *, by: list[str], rng: np.random.Generator) -> np.ndarray:
    """``n`` sorted indices balanced over the strata of ``by``."""
    return select_reweighted(group_codes(obs, by), n, rng=rng)


def _select(ctx: SelectionContext, n: int, config: StratifiedConfig, rng: np.random.Generator) -> np.ndarray:
    return select_stratified(ctx.obs, n, by=list(config.by), rng=rng)


STRATEGY = Strategy("stratified", StratifiedConfig, _select)
