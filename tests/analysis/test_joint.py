import numpy as np

from cellplateau.analysis.joint import best_allocation, fit_joint


def test_joint_fit_recovers_exponents_and_allocation_balances_both_axes():
    n = np.repeat([1e3, 1e4, 1e5, 1e6], 3)
    p = np.tile([1e5, 1e6, 1e7], 4)
    y = 0.9 - 0.3 * (n / 1e3) ** -0.5 - 0.2 * (p / 1e5) ** -0.3
    fit = fit_joint(n, p, y)
    assert abs(fit.a - 0.5) < 0.03 and abs(fit.b - 0.3) < 0.03 and abs(fit.e - 0.9) < 0.01
    assert np.allclose(fit.predict(n, p), y, atol=2e-3)
    small = best_allocation(fit, 6e9, p_range=(1e4, 1e8))
    large = best_allocation(fit, 6e13, p_range=(1e4, 1e8))
    assert large["score"] > small["score"]
    assert large["n_params"] > small["n_params"] and large["n_cells"] > small["n_cells"], (small, large)
    assert abs(6 * large["n_params"] * large["n_cells"] - 6e13) / 6e13 < 1e-6


def test_joint_fit_needs_two_sizes_on_each_axis():
    import pytest

    with pytest.raises(ValueError, match="2 model sizes"):
        fit_joint(np.array([1e3, 1e4, 1e5, 1e3, 1e4]), np.full(5, 1e5), np.linspace(0.5, 0.7, 5))
