"""Geometric sketching (Hie et al. 2019): our compiled implementation, or the reference ``geosketch`` package.

Runs on principal components of log-normalised HVG expression (see
:mod:`cellplateau.selection.sketch_embedding`), covers the space with axis-aligned boxes and
samples evenly across non-empty boxes, so rare regions are over-represented.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from cellplateau.selection.base import SelectionContext, Strategy, check_size
from cellplateau.selection.sketch_embedding import EmbeddingFields


class GeometricSketchConfig(EmbeddingFields):
    """Geometric sketching on PCs of log-normalised HVGs."""

    name: Literal["geometric_sketch"] = "geometric_sketch"
    backend: Literal["cellplateau", "geosketch", "numpy"] = Field(
        "cellplateau", description="cellplateau (the reference's covering and sampling in compiled kernels, "
        ">= 50x faster; 'numpy' is its former name) or geosketch (the reference package, minutes per 1 M cells; "
        "an optional dependency: pip install 'cellplateau[reference]')")

    @field_validator("backend")
    @classmethod
    def _reference_installed(cls, v: str) -> str:
        if v == "geosketch":
            _require_geosketch()
        return v


def _require_geosketch() -> None:
    from importlib.util import find_spec

    if find_spec("geosketch") is None:
        raise ValueError("backend 'geosketch' needs the optional reference package geosketch, which is not "
                         "installed: pip install 'cellplateau[reference]' (or use backend 'cellplateau')")


def select_sketch(embedding: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """``n`` sorted indices from ``geosketch.gs`` on ``embedding`` (cells x dims)."""
    _require_geosketch()
    from geosketch import gs

    check_size(n, embedding.shape[0])
    if n == embedding.shape[0]:
        return np.arange(n, dtype=np.int64)
    # geosketch seeds numpy's global generator itself; the seed comes from the spec.
    idx = gs(np.asarray(embedding, dtype=np.float64), n, replace=False, seed=int(seed % 2**32))
    out = np.unique(np.asarray(idx, dtype=np.int64))
    if len(out) != n:
        raise RuntimeError(f"geosketch returned {len(out)} distinct cells, expected {n}")
    return out


def _select(ctx: SelectionContext, n: int, config: GeometricSketchConfig, rng: np.random.Generator
            ) -> np.ndarray:
    if ctx.embedding is None:
        raise ValueError("geometric_sketch needs the corpus PC embedding")
    if config.backend in ("cellplateau", "numpy"):
        from cellplateau.selection._plaid import sketch

        return sketch(np.asarray(ctx.embedding), n, rng=rng)
    return select_sketch(ctx.embedding, n, seed=int(rng.integers(0, 2**32)))


STRATEGY = Strategy("geometric_sketch", GeometricSketchConfig, _select, needs_embedding=True)
