"""Model size x data size: the joint fit S(N, P) = E - A N^-a - B P^-b and compute-optimal allocation.

``N`` is the number of cells a model saw in training (steps x batch size: under a fixed step budget it does not
grow with the subset), ``P`` the parameter count (with only two model sizes the exponent ``b``
is not identified: any ``b`` fits two points; use three or more sizes). For each pair of exponents on a
grid the model is linear in ``(E, A, B)`` (variable projection); the pair with the least squares wins.
Compute for a training run that sees ``N`` cells is ``C = 6 P N`` (dense networks; ``N`` already counts repeated
passes); the best allocation for a budget ``C`` maximises S over ``P`` with ``N = C / (6 P)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = np.geomspace(0.02, 2.0, 48)


@dataclass(frozen=True)
class JointFit:
    e: float
    a_coef: float
    a: float
    b_coef: float
    b: float
    rss: float
    n0: float
    p0: float

    def predict(self, n_cells, n_params) -> np.ndarray:
        n = np.asarray(n_cells, float) / self.n0
        p = np.asarray(n_params, float) / self.p0
        return self.e - self.a_coef * n**-self.a - self.b_coef * p**-self.b


def fit_joint(n_cells: np.ndarray, n_params: np.ndarray, scores: np.ndarray, *, grid: np.ndarray = GRID) -> JointFit:
    """Least-squares fit of ``E - A (N/N0)^-a - B (P/P0)^-b`` (``N0``, ``P0``: the smallest values)."""
    n = np.asarray(n_cells, float)
    p = np.asarray(n_params, float)
    y = np.asarray(scores, float)
    ok = np.isfinite(n) & np.isfinite(p) & np.isfinite(y) & (n > 0) & (p > 0)
    n, p, y = n[ok], p[ok], y[ok]
    if len(np.unique(n)) < 2 or len(np.unique(p)) < 2 or len(y) < 5:
        raise ValueError("a joint fit needs at least 2 data sizes, 2 model sizes and 5 runs")
    n0, p0 = n.min(), p.min()
    U = -((n / n0)[None, :] ** -grid[:, None])                 # (K, m)
    V = -((p / p0)[None, :] ** -grid[:, None])                 # (K, m)
    X = np.stack(np.broadcast_arrays(np.ones((1, 1, len(y))), U[:, None, :], V[None, :, :]), axis=-1)  # (K,K,m,3)
    XtX = np.einsum("ijmk,ijml->ijkl", X, X) + 1e-12 * np.eye(3)
    Xty = np.einsum("ijmk,m->ijk", X, y)
    beta = np.linalg.solve(XtX, Xty[..., None])[..., 0]        # (K, K, 3)
    rss = ((y - np.einsum("ijmk,ijk->ijm", X, beta)) ** 2).sum(-1)
    i, j = np.unravel_index(np.argmin(rss), rss.shape)
    e, a_coef, b_coef = beta[i, j]
    return JointFit(float(e), float(a_coef), float(grid[i]), float(b_coef), float(grid[j]), float(rss[i, j]),
                    float(n0), float(p0))


def best_allocation(fit: JointFit, budget_flops: float, *, p_range: tuple[float, float], epochs: float = 1.0,
                    n_max: float | None = None) -> dict[str, float]:
    """Parameter count and cells maximising the fitted score for a compute budget (``N = C / (6 P epochs)``,
    ``P`` searched within ``p_range``; ``N`` capped at ``n_max``, e.g. the corpus size)."""
    ps = np.geomspace(*p_range, 400)
    ns = budget_flops / (6.0 * ps * epochs)
    if n_max is not None:
        ns = np.minimum(ns, n_max)
    s = fit.predict(ns, ps)
    k = int(np.nanargmax(s))
    return {"budget_flops": float(budget_flops), "n_params": float(ps[k]), "n_cells": float(ns[k]),
            "score": float(s[k])}
