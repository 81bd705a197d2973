"""Cell-type re-weighting by water-filling (the reference study's rule, without its bug).

Target ``n``: give each remaining type an equal quota ``q = n_left / K_left``; types *smaller* than
``q`` are taken whole and leave the pool (``n_left`` shrinks); repeat until no remaining type is
below quota, then draw ``q`` cells from each remaining type. A type whose size equals the quota is
kept whole (the reference code dropped it). Integer quotas: ``floor(q)`` each, the remainder spread
one cell at a time over randomly chosen remaining types, so the subset has exactly ``n`` cells.

Unlabelled cells (:func:`cellplateau.corpus.labels.is_unlabelled`: NaN, ``unknown``, ``unsure``, ...) are not a
cell type and get no quota: the subset is drawn from the labelled cells; only when ``n`` exceeds them are all
labelled cells taken and the rest drawn uniformly from the unlabelled ones (so every strategy has the same size).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cellplateau.corpus.labels import is_unlabelled
from cellplateau.selection.base import SelectionContext, Strategy, check_size


class CelltypeReweightedConfig(BaseModel):
    """Equalise cell types by water-filling."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["celltype_reweighted"] = "celltype_reweighted"
    label_key: str = Field("cell_type", description="obs column holding the cell-type label")


def water_fill(sizes: np.ndarray, n: int, *, rng: np.random.Generator) -> np.ndarray:
    """How many cells to take from each type (same order as ``sizes``); sums to ``n``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    check_size(n, int(sizes.sum()))
    take = np.zeros_like(sizes)
    remaining = np.flatnonzero(sizes > 0)
    n_left = n
    while len(remaining):
        q = n_left / len(remaining)
        small = remaining[sizes[remaining] < q]
        if len(small) == 0:
            break
        take[small] = sizes[small]
        n_left -= int(sizes[small].sum())
        remaining = np.setdiff1d(remaining, small)
    if len(remaining):
        base = n_left // len(remaining)
        take[remaining] = base
        extra = n_left - base * len(remaining)
        if extra:
            # every remaining type has size >= q > base, so one more cell always fits
            take[rng.choice(remaining, size=extra, replace=False)] += 1
    assert take.sum() == n and np.all(take <= sizes)
    return take


def select_reweighted(labels: np.ndarray, n: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` sorted indices balanced across the label values by :func:`water_fill`."""
    inverse, codes = pd.factorize(np.asarray(labels), sort=True)   # hash-based: O(N), not a sort
    sizes = np.bincount(inverse, minlength=len(codes))
    take = water_fill(sizes, n, rng=rng)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    parts = []
    for k in np.flatnonzero(take):
        members = order[bounds[k] : bounds[k + 1]]
        parts.append(members if take[k] == sizes[k] else rng.choice(members, size=take[k], replace=False))
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _select(ctx: SelectionContext, n: int, config: CelltypeReweightedConfig, rng: np.random.Generator
            ) -> np.ndarray:
    if config.label_key not in ctx.obs.columns:
        raise ValueError(f"celltype_reweighted: corpus obs has no column {config.label_key!r} (label_key); "
                         f"columns are {list(ctx.obs.columns)}")
    # categorical codes (categories sorted, as np.unique would order the strings): no string work at 22 M cells
    col = ctx.obs[config.label_key]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(str).astype("category")
    col = col.cat.reorder_categories(sorted(col.cat.categories, key=str))
    missing = is_unlabelled(col)
    if not missing.any():
        return select_reweighted(col.cat.codes.to_numpy(), n, rng=rng)
    labelled = np.flatnonzero(~missing)
    if n <= len(labelled):
        return labelled[select_reweighted(col.cat.codes.to_numpy()[labelled], n, rng=rng)]
    rest = rng.choice(np.flatnonzero(missing), size=n - len(labelled), replace=False)
    return np.sort(np.concatenate([labelled, rest])).astype(np.int64)


STRATEGY = Strategy("celltype_reweighted", CelltypeReweightedConfig, _select)
