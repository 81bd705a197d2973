"""Scaling-curve fits: a saturating power law against a no-scaling null and a log-linear alternative.

``S(N) = S_inf - A * N^-alpha`` in the number of pretraining cells ``N`` is fitted by variable
projection: for a fixed ``alpha`` the model is linear in ``(S_inf, A)``, solved by iteratively
re-weighted least squares with Huber weights; ``alpha`` is then found by a bounded 1-D search
started from a grid (several starts). The constant and log-linear nulls are fitted by the same Huber IRLS, and
the three are compared on the same loss (the Huber loss at one common residual scale) by AICc, the small-sample
corrected AIC (BIC beside it); data scaling is *supported* when the power law or the log-linear model beats the
constant null by more than ``min_delta_aic`` and the curve rises; the power law is called *saturating* only when
it is also AICc-preferred over the log-linear model and its exponent is not at the end of the search range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

HUBER_K = 1.345
ALPHA_GRID = np.geomspace(0.02, 3.0, 160)   # exponents searched (several starts for the 1-D refinement)


@dataclass(frozen=True)
class PowerLawFit:
    s_inf: float
    a: float
    alpha: float
    rss: float
    n: int
    at_bound: bool = False     # alpha at an end of the search range: the curve is not a saturating power law

    def predict(self, n_cells: np.ndarray) -> np.ndarray:
        return self.s_inf - self.a * np.asarray(n_cells, float) ** -self.alpha

    def saturation(self, *, threshold: float = 0.95) -> float:
        """Smallest N with S(N) >= S_inf - (1 - threshold) |S_inf| (``threshold * S_inf`` for a positive
        asymptote; NaN when the curve does not rise)."""
        if not (self.a > 0 and self.s_inf != 0 and self.alpha > 0):
            return float("nan")
        log_n = np.log(self.a / ((1 - threshold) * abs(self.s_inf))) / self.alpha
        return float(np.exp(log_n)) if log_n < 700 else float("inf")


@dataclass(frozen=True)
class CurveComparison:
    power_law: PowerLawFit
    constant_rss: float
    loglinear_rss: float
    aic: dict
    bic: dict
    scaling_supported: bool
    aicc: dict = field(default_factory=dict)
    loss: dict = field(default_factory=dict)     # the Huber loss of each model at the common scale

    @property
    def best_model(self) -> str:
        """The AICc-preferred description: ``constant``, ``loglinear`` or ``power_law`` (saturating)."""
        crit = self.aicc or self.aic
        return min(crit, key=crit.get)

    def as_dict(self) -> dict:
        return {**{f"fit_{k}": v for k, v in asdict(self.power_law).items()},
                "constant_rss": self.constant_rss, "loglinear_rss": self.loglinear_rss,
                **{f"aic_{k}": v for k, v in self.aic.items()}, **{f"bic_{k}": v for k, v in self.bic.items()},
                **{f"aicc_{k}": v for k, v in self.aicc.items()},
                "scaling_supported": self.scaling_supported}


def _huber_weights(r: np.ndarray) -> np.ndarray:
    scale = 1.4826 * np.median(np.abs(r - np.median(r)))
    if not np.isfinite(scale) or scale < 1e-12:
        return np.ones_like(r)
    u = np.abs(r) / (HUBER_K * scale)
    return np.where(u <= 1, 1.0, 1.0 / np.maximum(u, 1e-12))


def _wls2(u: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares of ``y ~ b0 + b1 * u`` in closed form."""
    sw, swu, swuu = w.sum(), (w * u).sum(), (w * u * u).sum()
    swy, swuy = (w * y).sum(), (w * u * y).sum()
    det = sw * swuu - swu * swu
    if abs(det) < 1e-300:
        return float(swy / sw), 0.0
    return float((swuu * swy - swu * swuy) / det), float((sw * swuy - swu * swy) / det)


def _irls(u: np.ndarray, y: np.ndarray, iters: int = 4) -> tuple[tuple[float, float], float]:
    """Huber-weighted fit of ``y ~ b0 + b1 * u``; returns the coefficients and the weighted RSS."""
    w = np.ones_like(y)
    b0, b1 = _wls2(u, y, w)
    for _ in range(iters):
        w_new = _huber_weights(y - b0 - b1 * u)
        if np.allclose(w_new, w):
            break
        w = w_new
        b0, b1 = _wls2(u, y, w)
    r = y - b0 - b1 * u
    return (b0, b1), float(np.sum(w * r**2))


def fit_power_law(n_cells: np.ndarray, scores: np.ndarray) -> PowerLawFit:
    """Robust fit of ``S_inf - A N^-alpha``: the grid search of :func:`fit_power_law_many`, then a bounded
    1-D refinement of ``alpha`` between the neighbouring grid points (variable projection)."""
    from scipy.optimize import minimize_scalar

    x = np.asarray(n_cells, float)
    y = np.asarray(scores, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 3:
        raise ValueError("a power-law fit needs at least 3 distinct sizes")
    xs = x / x.min()
    grid = fit_power_law_many(x[None], y[None])
    k = int(np.searchsorted(ALPHA_GRID, grid["alpha"][0]))
    best_alpha = float(grid["alpha"][0])
    at_bound = bool(grid["at_bound"][0])

    def objective(alpha: float) -> float:
        return _irls(-(xs**-alpha), y, iters=4)[1]

    if not at_bound:
        res = minimize_scalar(objective, bounds=(ALPHA_GRID[k - 1], ALPHA_GRID[k + 1]), method="bounded",
                              options={"xatol": 1e-5})
        if res.fun <= objective(best_alpha):
            best_alpha = float(res.x)
    (s_inf, a_scaled), _ = _irls(-(xs**-best_alpha), y, iters=4)
    fit = PowerLawFit(float(s_inf), float(a_scaled * x.min() ** best_alpha), best_alpha, 0.0, len(y), at_bound)
    return PowerLawFit(fit.s_inf, fit.a, fit.alpha, float(np.sum((y - fit.predict(x)) ** 2)), len(y), at_bound)


def huber_loss(residuals: np.ndarray, scale: float) -> float:
    """Sum of the Huber loss with threshold ``HUBER_K * scale``, scaled so it equals the squared residual in the
    quadratic zone (``r^2`` for ``|r| <= c``, ``2c|r| - c^2`` beyond)."""
    r = np.abs(np.asarray(residuals, float))
    c = HUBER_K * scale
    return float(np.sum(np.where(r <= c, r**2, 2 * c * r - c**2)))


def _robust_scale(r: np.ndarray) -> float:
    scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    return scale if np.isfinite(scale) and scale > 1e-12 else float(np.sqrt(np.mean(r**2)) + 1e-12)


def information_criteria(loss: float, n: int, k: int) -> tuple[float, float, float]:
    """AIC, AICc (small-sample corrected; infinite when ``n <= k + 1``) and BIC of a fit with ``k`` parameters
    whose loss on ``n`` points is ``loss`` (a Gaussian log-likelihood in the loss: ``n log(loss / n)``)."""
    loss = max(loss, 1e-12 * n)
    ll = n * np.log(loss / n)
    aic = ll + 2 * k
    aicc = aic + 2 * k * (k + 1) / (n - k - 1) if n > k + 1 else float("inf")
    return float(aic), float(aicc), float(ll + k * np.log(n))


def compare_scaling(n_cells: np.ndarray, scores: np.ndarray, *, min_delta_aic: float = 2.0) -> CurveComparison:
    """Fit the power law, a constant and ``a + b log N``, all three by the same Huber IRLS, and compare them by
    AICc (the small-sample correction; AIC and BIC are reported too) on the same loss: the Huber loss of each
    fit's residuals at one common scale (the power law's robust residual scale). Data scaling is supported when
    an alternative beats the constant by more than ``min_delta_aic`` in AICc and the curve rises."""
    x = np.asarray(n_cells, float)
    y = np.asarray(scores, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    pl = fit_power_law(x, y)
    u = np.log(x)
    (c0, _), _ = _irls(np.zeros_like(y), y)                   # Huber location (the constant)
    (l0, l1), _ = _irls(u - u.mean(), y)                      # Huber log-linear fit
    resid = {"constant": y - c0, "loglinear": y - l0 - l1 * (u - u.mean()), "power_law": y - pl.predict(x)}
    scale = _robust_scale(resid["power_law"])
    n = len(y)
    aic, aicc, bic, loss = {}, {}, {}, {}
    for name, k in (("constant", 1), ("loglinear", 2), ("power_law", 3)):
        loss[name] = huber_loss(resid[name], scale)
        aic[name], aicc[name], bic[name] = information_criteria(loss[name], n, k)
    rising = (pl.a > 0) if not pl.at_bound else l1 > 0
    best_alt = min(aicc["power_law"], aicc["loglinear"])
    supported = bool(rising and aicc["constant"] - best_alt > min_delta_aic)
    return CurveComparison(pl, float(np.sum(resid["constant"] ** 2)), float(np.sum(resid["loglinear"] ** 2)), aic,
                           bic, supported, aicc, loss)


def fit_power_law_many(x: np.ndarray, Y: np.ndarray, *, alphas: np.ndarray = ALPHA_GRID, iters: int = 4
                       ) -> dict[str, np.ndarray]:
    """Vectorised Huber fits of many curves at once (for the bootstrap).

    ``x`` (B, n) sizes and ``Y`` (B, n) scores, one curve per row. For every row and every ``alpha`` on
    the grid, ``(S_inf, A)`` is the closed-form weighted least-squares solution with ``iters`` Huber
    re-weightings; the ``alpha`` with the smallest weighted loss wins. Returns arrays of length B:
    ``s_inf``, ``a``, ``alpha``, ``at_bound`` (alpha at either end of the grid).
    """
    x = np.asarray(x, float)
    Y = np.asarray(Y, float)
    xs = x / x.min(axis=1, keepdims=True)
    U = -(xs[:, None, :] ** -alphas[None, :, None])            # (B, K, n)
    y = Y[:, None, :]
    W = np.ones_like(U)
    for it in range(iters + 1):
        sw, swu, swuu = W.sum(-1), (W * U).sum(-1), (W * U * U).sum(-1)
        swy, swuy = (W * y).sum(-1), (W * U * y).sum(-1)
        det = sw * swuu - swu**2
        det = np.where(np.abs(det) < 1e-300, np.nan, det)
        b0 = (swuu * swy - swu * swuy) / det
        b1 = (sw * swuy - swu * swy) / det
        R = y - b0[..., None] - b1[..., None] * U
        if it == iters:
            break
        med = np.median(R, axis=-1, keepdims=True)
        scale = 1.4826 * np.median(np.abs(R - med), axis=-1, keepdims=True)
        u = np.abs(R) / np.maximum(HUBER_K * scale, 1e-12)
        W = np.where(u <= 1, 1.0, 1.0 / np.maximum(u, 1e-12))
    loss = np.nan_to_num((W * R**2).sum(-1), nan=np.inf)
    k = np.argmin(loss, axis=1)
    rows = np.arange(len(k))
    alpha = alphas[k]
    return {"s_inf": b0[rows, k], "a": b1[rows, k] * x.min(axis=1) ** alpha, "alpha": alpha,
            "at_bound": (k == 0) | (k == len(alphas) - 1)}


def saturation_from_fit(s_inf: np.ndarray, a: np.ndarray, alpha: np.ndarray, *, threshold: float = 0.95
                        ) -> np.ndarray:
    """Vectorised :meth:`PowerLawFit.saturation` (NaN where the curve does not rise, inf beyond range)."""
    s_inf, a, alpha = (np.asarray(v, float) for v in (s_inf, a, alpha))
    ok = (a > 0) & (s_inf != 0) & (alpha > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_n = np.log(a / ((1 - threshold) * np.abs(s_inf))) / alpha
    out = np.where(log_n < 700, np.exp(np.minimum(log_n, 700)), np.inf)
    return np.where(ok, out, np.nan)
