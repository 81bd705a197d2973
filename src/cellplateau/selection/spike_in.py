"""Spike-in: a random subset with a share of its cells replaced by cells of a named source (the reference's
side experiment: 10 % or 50 % of a random subset replaced by Replogle et al. 2022 Perturb-seq cells).

The corpus holds both parts (e.g. scTab and a Perturb-seq dataset ingested into the same store); ``source``
is an obs filter naming the source cells. Fractions refer to the other cells (the base corpus), so a 10 %
spike-in subset has as many cells as a 10 % random subset of the base corpus. For a seed, the random base
subset is the same at every share and the replaced positions are nested (the cells replaced at 10 % are
among those replaced at 50 %), so share 0, 0.1 and 0.5 are paired comparisons. The subset manifest records
the share, the filter and how many cells came from each part.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cellplateau.selection.base import SelectionContext, Strategy, check_size


class SpikeInConfig(BaseModel):
    """Replace ``share`` of a random subset of the base corpus with random cells of ``source``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["spike_in"] = "spike_in"
    share: float = Field(ge=0, le=1, description="share of the subset's cells taken from the source (0: the random "
                         "subset of the base corpus itself, the paired control)")
    source: dict[str, list[str]] = Field(min_length=1, description="obs filter naming the source cells, e.g. "
                                         "{dataset: [replogle_k562_gwps, replogle_k562_essential, replogle_rpe1]}")
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9_.%-]+$", description="curve name in results "
                              "(default: spike_in_<share in %>)")

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, data):
        if isinstance(data, dict) and data.get("label") is None and isinstance(data.get("share"), (int, float)):
            data = {**data, "label": f"spike_in_{100 * data['share']:g}pct"}
        return data


def source_mask(ctx: SelectionContext, source: dict[str, list[str]]) -> np.ndarray:
    """Cells whose obs columns hold one of the listed values (every column of the filter)."""
    keep = np.ones(ctx.n_cells, dtype=bool)
    for col, values in source.items():
        if col not in ctx.obs.columns:
            raise ValueError(f"spike_in: corpus obs has no column {col!r} (source filter); columns are "
                             f"{list(ctx.obs.columns)}")
        series = ctx.obs[col]
        wanted = [str(v) for v in values]
        if isinstance(series.dtype, pd.CategoricalDtype):       # compare categories, not 22 M strings
            hit = np.append(np.isin(series.cat.categories.astype(str), wanted), False)   # code -1: missing
            keep &= hit[series.cat.codes.to_numpy()]
        else:
            keep &= series.astype(str).isin(wanted).to_numpy()
    return keep


def select_spike_in(is_source: np.ndarray, n: int, share: float, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` sorted indices: a random subset of the non-source cells with ``round(n * share)`` of them replaced
    by random source cells. The draws do not depend on ``share`` (nested replacements, see the module)."""
    base = np.flatnonzero(~is_source)
    source = np.flatnonzero(is_source)
    check_size(n, len(base))
    n_src = int(round(n * share))
    if n_src > len(source):
        raise ValueError(f"spike_in: a share of {share:g} of {n:,} cells needs {n_src:,} source cells; the source "
                         f"filter matches {len(source):,}")
    chosen = base[rng.choice(len(base), size=n, replace=False)]
    replaced = rng.permutation(n)[:n_src]
    donors = rng.permutation(len(source))[:n_src]
    chosen[replaced] = source[donors]
    return np.sort(chosen).astype(np.int64)


def _select(ctx: SelectionContext, n: int, config: SpikeInConfig, rng: np.random.Generator) -> np.ndarray:
    return select_spike_in(source_mask(ctx, config.source), n, config.share, rng=rng)


def _pool_size(ctx: SelectionContext, config: SpikeInConfig) -> int:
    return int((~source_mask(ctx, config.source)).sum())


def _describe(ctx: SelectionContext, indices: np.ndarray, config: SpikeInConfig) -> dict:
    n_src = int(source_mask(ctx, config.source)[indices].sum())
    return {"share": config.share, "source": config.source, "n_source": n_src, "n_base": int(len(indices) - n_src)}


STRATEGY = Strategy("spike_in", SpikeInConfig, _select, pool_size=_pool_size, describe=_describe)
