"""Scaling-curve fits: a saturating power law against a no-scaling null and a log-linear alternative.

``S(N) = S_inf - A * N^-alpha`` in the number of pretraining cells ``N`` is fitted by variable
projection: for a fixed ``alpha`` the model is linear in ``(S_inf, A)``, solved by iteratively
re-weighted least squares with Huber weights; ``alpha`` is then found by a bounded 1-D search
started from a grid (several starts). Model comparison uses AIC and BIC on the residual sum of
squares; data scaling is *supported* when the power law (with ``A > 0``) beats the constant null by
more than ``min_delta_aic``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

HUBER_K = 1.345


@dataclass(frozen=True)
class PowerLawFit:
    s_inf: float
    a: float
    alpha: float
    rss: float
    n: int

    def predict(self, n_cells: np.ndarray) -> np.ndarray:
        return self.s_inf - self.a * np.asarray(n_cells, float) ** -self.alpha

    def saturation(self, *, threshold: float = 0.95) -> float:
        """Smallest N with S(N) >= threshold * S_inf (NaN when the curve does not rise)."""
        if not (self.a > 0 and self.s_inf > 0 and self.alpha > 0):
            return float("nan")
        return float((self.a / ((1 - threshold) * self.s_inf)) ** (1 / self.alpha))


@dataclass(frozen=True)
class CurveComparison:
    power_law: PowerLawFit
    constant_rss: float
    loglinear_rss: float
    aic: dict
    bic: dict
    scaling_supported: bool

    def as_dict(self) -> dict:
        return {**{f"fit_{k}": v for k, v in asdict(self.power_law).items()},
                "constant_rss": self.constant_rss, "loglinear_rss": self.loglinear_rss,
                **{f"aic_{k}": v for k, v in self.aic.items()}, **{f"bic_{k}": v for k, v in self.bic.items()},
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


def _irls(u: np.ndarray, y: np.ndarray, iters: int = 10) -> tuple[tuple[float, float], float]:
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


def fit_power_law(n_cells: np.ndarray, scores: np.ndarray, *, alpha_bounds=(1e-3, 3.0)) -> PowerLawFit:
    """Robust fit of ``S_inf - A N^-alpha`` by variable projection (see the module docstring)."""
    from scipy.optimize import minimize_scalar

    x = np.asarray(n_cells, float)
    y = np.asarray(scores, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 3:
        raise ValueError("a power-law fit needs at least 3 distinct sizes")
    xs = x / x.min()                      # scale N for conditioning; A is rescaled back below

    def objective(alpha: float, iters: int = 3) -> float:
        return _irls(-(xs**-alpha), y, iters=iters)[1]

    grid = np.geomspace(*alpha_bounds, 16)
    losses = [objective(a, 4) for a in grid]
    best_alpha, best_loss = grid[int(np.argmin(losses))], min(losses)
    i = int(np.argmin(losses))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if hi > lo:
        res = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
        if res.fun <= best_loss:
            best_alpha = float(res.x)
    (s_inf, a_scaled), _ = _irls(-(xs**-best_alpha), y)
    a = a_scaled * x.min() ** best_alpha
    fit = PowerLawFit(float(s_inf), float(a), float(best_alpha), 0.0, len(y))
    return PowerLawFit(fit.s_inf, fit.a, fit.alpha, float(np.sum((y - fit.predict(x)) ** 2)), len(y))


def _ic(rss: float, n: int, k: int) -> tuple[float, float]:
    rss = max(rss, 1e-12 * n)
    ll = n * np.log(rss / n)
    return ll + 2 * k, ll + k * np.log(n)


def compare_scaling(n_cells: np.ndarray, scores: np.ndarray, *, min_delta_aic: float = 2.0) -> CurveComparison:
    """Fit the power law, a constant and ``a + b log N``; compare by AIC/BIC."""
    x = np.asarray(n_cells, float)
    y = np.asarray(scores, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    pl = fit_power_law(x, y)
    const_rss = float(np.sum((y - y.mean()) ** 2))
    X = np.column_stack([np.ones_like(x), np.log(x)])
    loglin_rss = float(np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2))
    n = len(y)
    aic, bic = {}, {}
    for name, rss, k in (("constant", const_rss, 1), ("loglinear", loglin_rss, 2), ("power_law", pl.rss, 3)):
        aic[name], bic[name] = _ic(rss, n, k)
    supported = bool(pl.a > 0 and aic["constant"] - aic["power_law"] > min_delta_aic)
    return CurveComparison(pl, const_rss, loglin_rss, aic, bic, supported)
