"""k-center (greedy farthest-point) selection on the sketch embedding.

Each new cell is the one farthest from every cell chosen so far, so the subset covers the corpus's PC space
with the smallest radius greedy search can guarantee: within twice the best possible Hausdorff distance from
the corpus to any subset of that size (Gonzalez 1985; Hopper, DeMeo & Berger 2020, uses the same rule for
sketching). Rare, isolated cell states are taken first. The first cell is drawn with the seeded ``rng``.
Compiled kernel with triangle-inequality pruning: :mod:`cellplateau.selection._kcenter_kernels`.

Exact greedy costs up to ``N k d`` operations (about 5e11 for 1 % of 1 M cells on 50 PCs), and the pruning
does little on diffuse embeddings. Above ``max_part`` cells the corpus is therefore first cut by a k-d split
(median of the widest coordinate, recursively) into parts of at most ``max_part`` cells, as Hopper's
"treehopper" does, and a cell's distance is taken to the centres of its own part only: cost ``N k d / n_parts``.
The centres are not split in proportion to part size (that gives a tight, crowded part as many centres as a
diffuse one, and the covering radius of the worst part decides the Hausdorff distance): the greedy rule runs
across parts, each new centre being the cell farthest from its own part's centres over the whole corpus, so
the centres go where the coverage is worst. The covering radius it reports (distance to the own part's
centres) is an upper bound of the true Hausdorff distance; the 2-approximation holds within each part.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from cellplateau.selection.base import SelectionContext, Strategy, check_size
from cellplateau.selection.sketch_embedding import EmbeddingFields


class KCenterConfig(EmbeddingFields):
    """Greedy farthest-point (k-center) coverage of the PCs of log-normalised HVGs."""

    name: Literal["kcenter"] = "kcenter"
    max_part: int = Field(20_000, ge=0, description="above this many cells, split the corpus into k-d parts of at "
                          "most this size and run greedy farthest-point within each (0: exact global greedy)")


def kd_parts(X: np.ndarray, max_part: int) -> list[np.ndarray]:
    """Row indices of the leaves of a k-d split of ``X``: each part is cut at the median of its widest
    coordinate until it has at most ``max_part`` rows."""
    out, stack = [], [np.arange(X.shape[0])]
    while stack:
        idx = stack.pop()
        if len(idx) <= max_part:
            out.append(idx)
            continue
        sub = X[idx]
        axis = int(np.argmax(sub.max(0) - sub.min(0)))
        order = np.argsort(sub[:, axis], kind="stable")
        half = len(idx) // 2
        stack += [idx[order[:half]], idx[order[half:]]]
    return out


def _greedy(X: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from cellplateau.selection._kcenter_kernels import farthest_point

    centers, cover = farthest_point(X, n, int(rng.integers(X.shape[0])))
    return _fill_up(centers, cover, n, X.shape[0], rng)


def _fill_up(centers: np.ndarray, cover: np.ndarray, n: int, N: int, rng: np.random.Generator):
    """Fewer than ``n`` centres (every cell coincides with one): the rest drawn uniformly from the others."""
    if len(centers) < n:
        rest = np.setdiff1d(np.arange(N), centers)
        centers = np.concatenate([centers, rng.choice(rest, n - len(centers), replace=False)])
        cover = np.concatenate([cover, np.zeros(n - len(cover))])
    return centers, cover


def select_kcenter(embedding: np.ndarray, n: int, *, rng: np.random.Generator, max_part: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sorted indices by greedy farthest-point sampling on ``embedding`` (cells x dims), and the
    covering radius (max distance from any cell to its nearest chosen cell) after each pick, in pick order.

    ``max_part > 0`` and more cells than that: greedy across the parts of :func:`kd_parts`, distances to the
    centres of the cell's own part (the radius is then an upper bound of the Hausdorff distance).
    If fewer than ``n`` distinct points exist, the rest are drawn uniformly from the cells not chosen."""
    N = embedding.shape[0]
    check_size(n, N)
    if n == N:
        return np.arange(N, dtype=np.int64), np.zeros(N)
    X = np.ascontiguousarray(embedding, dtype=np.float32)
    if not max_part or N <= max_part:
        centers, cover = _greedy(X, n, rng)
        return np.sort(centers).astype(np.int64), cover
    from cellplateau.selection._kcenter_kernels import farthest_point_parts

    parts = kd_parts(X, max(max_part, -(-4 * N // n)))    # at least ~4 centres per part
    order = np.concatenate(parts)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    firsts = np.array([o + rng.integers(len(p)) for o, p in zip(offsets[:-1], parts)], dtype=np.int64)
    rows, cover = farthest_point_parts(np.ascontiguousarray(X[order]), offsets, n, firsts)
    centers, cover = _fill_up(order[rows], cover, n, N, rng)
    return np.sort(centers).astype(np.int64), cover


def _select(ctx: SelectionContext, n: int, config: KCenterConfig, rng: np.random.Generator) -> np.ndarray:
    if ctx.embedding is None:
        raise ValueError("kcenter needs the corpus PC embedding")
    return select_kcenter(ctx.embedding, n, rng=rng, max_part=config.max_part)[0]


STRATEGY = Strategy("kcenter", KCenterConfig, _select, needs_embedding=True)
