import numpy as np

from cellplateau.analysis.bootstrap import percentile_interval, resample_matrix
from cellplateau.analysis.fits import compare_scaling, fit_power_law, fit_power_law_many

SIZES = np.repeat([1_000, 5_000, 10_000, 25_000, 50_000, 100_000], 5).astype(float)


def test_power_law_recovers_known_parameters():
    truth = dict(s_inf=0.9, a=2.0, alpha=0.5)
    y = truth["s_inf"] - truth["a"] * SIZES ** -truth["alpha"]
    fit = fit_power_law(SIZES, y)
    assert abs(fit.s_inf - 0.9) < 1e-4 and abs(fit.alpha - 0.5) < 1e-3 and abs(fit.a - 2.0) / 2.0 < 1e-2
    assert abs(fit.saturation() - (2.0 / (0.05 * 0.9)) ** 2) / (2.0 / (0.05 * 0.9)) ** 2 < 0.01


def test_robust_to_an_outlier_and_noise():
    rng = np.random.default_rng(0)
    y = 0.8 - 1.5 * SIZES**-0.4 + rng.normal(0, 0.003, len(SIZES))
    y[3] = 0.2                                   # one broken run
    fit = fit_power_law(SIZES, y)
    assert abs(fit.s_inf - 0.8) < 0.02 and abs(fit.alpha - 0.4) < 0.1


def test_scaling_supported_for_a_rising_curve_and_not_for_flat_data():
    rng = np.random.default_rng(1)
    rising = 0.9 - 3.0 * SIZES**-0.5 + rng.normal(0, 0.005, len(SIZES))
    assert compare_scaling(SIZES, rising).scaling_supported
    flat = 0.7 + rng.normal(0, 0.01, len(SIZES))
    cmp = compare_scaling(SIZES, flat)
    assert not cmp.scaling_supported, cmp.aic


def test_bootstrap_intervals_cover_the_truth_at_about_the_nominal_rate():
    """The report's path: replicate resampling, vectorised fits, percentile intervals."""
    truth = 0.85
    hits, trials = 0, 40
    for t in range(trials):
        rng = np.random.default_rng(100 + t)
        y = truth - 2.0 * SIZES**-0.5 + rng.normal(0, 0.01, len(SIZES))
        idx = resample_matrix(SIZES, 100, seed=t)
        lo, hi = percentile_interval(fit_power_law_many(SIZES[idx], y[idx])["s_inf"])
        hits += lo <= truth <= hi
    assert 0.8 <= hits / trials <= 1.0, hits / trials


def test_one_loss_for_every_model_and_the_small_sample_correction():
    """A flat curve with one broken run at the smallest size: a least-squares constant pays for the outlier in
    full while a Huber power law bends to it; compared on one Huber loss, the constant wins."""
    from cellplateau.analysis.fits import information_criteria

    rng = np.random.default_rng(3)
    sizes = np.repeat([1_000, 10_000, 100_000], 2).astype(float)
    flat = 0.7 + rng.normal(0, 0.005, len(sizes))
    flat[0] = 0.55
    cmp = compare_scaling(sizes, flat)
    assert set(cmp.loss) == {"constant", "loglinear", "power_law"}
    assert not cmp.scaling_supported, (cmp.aicc, cmp.loss)
    aic, aicc, bic = information_criteria(1.0, 6, 3)
    assert aicc == aic + 2 * 3 * 4 / 2 and bic == 6 * np.log(1 / 6) + 3 * np.log(6)
    assert information_criteria(1.0, 4, 3)[1] == float("inf")      # AICc undefined with n <= k + 1
