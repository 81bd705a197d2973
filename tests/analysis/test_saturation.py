import numpy as np

from cellplateau.analysis.saturation import saturation_any_seed, saturation_seed_mean


def test_reference_rule_uses_any_run():
    f = np.array([0.01, 0.01, 0.1, 0.1, 1.0, 1.0])
    s = np.array([0.50, 0.96, 0.80, 0.90, 1.00, 0.98])
    assert saturation_any_seed(f, s) == 0.01          # one lucky seed at 1 % passes 95 % of 1.0
    assert saturation_seed_mean(f, s) == 1.0           # means: 0.73, 0.85, 0.99 -> only 100 % passes


def test_seed_mean_rule_and_nan_handling():
    f = np.array([0.01, 0.1, 0.1, 0.5])
    s = np.array([0.2, 0.96, 0.94, np.nan])
    assert saturation_seed_mean(f, s) == 0.1
    assert np.isnan(saturation_any_seed(f, np.full(4, np.nan)))
